import c from 'compact-encoding'
import Protomux, { type Channel, type Message } from 'protomux'
import type SecretStream from '@hyperswarm/secret-stream'
import { PeerwardenError } from '../errors.js'
import type { Connection, PeerId } from '../manager/types.js'
import type { DeadlineQueue, Expiring } from './deadlines.js'
import { flushMuxAtEndOfTick, setupDone, type Corked } from './end-of-tick.js'
import { PROOF_BYTES, type NetworkKey } from './network-key.js'
import { peerIdOf } from './identity.js'

/** The control protocol's messages (JSON, message 0 of the 'peerwarden/control/2' channel). */
export type ControlMessage =
  | { t: 'close'; reason: string }
  | { t: 'topics'; topics: string[] }
  | { t: 'announce'; topic: string; addresses: string[]; ttl: number }
  | { t: 'unannounce'; topic: string }
  | { t: 'lookup'; id: number; topic: string }
  | { t: 'peers'; id: number; topic: string; peers: Array<{ id: string; addresses: string[] }> }
  | { t: 'pex'; topic: string; peers: Array<{ id: string; addresses: string[] }> }

/** What each side says when the control channel opens (binary: see `helloEncoding`). */
export interface Hello {
  v: 1
  proof: Uint8Array
  listen: string[]
  rendezvous: boolean
  /** Discovery keys of the topics joined now. */
  topics?: string[]
  /** Every topic in `topics` is announced (not lookup-only): a rendezvous point may register it. */
  announce?: boolean
}

/**
 * The control channel. Version 2: a binary hello (version 1 was JSON), the close reason as a message of
 * its own (message 1), everything else JSON (message 0).
 */
export const CONTROL_PROTOCOL = 'peerwarden/control/2'

/** At most this many listen addresses and topics are taken from a remote's hello. */
const MAX_LISTEN = 16
const MAX_TOPICS = 64

interface State { buffer: Buffer | null; start: number; end: number }
interface Codec<T> { preencode(state: State, v: T): void; encode(state: State, v: T): void; decode(state: State): T }
const uint = c.uint as Codec<number>
const string = c.string as Codec<string>

/**
 * The hello on the wire: version, proof (16 bytes), flags (bit 0: rendezvous, bit 1: announces its
 * topics; decoders ignore bits they do not know), the listen addresses
 * (strings), the topics (32 bytes each). Decoding never throws: a malformed hello decodes to null, which
 * the receiver treats as a foreign network.
 */
const helloEncoding: Codec<Hello | null> = {
  preencode (state, h) {
    const topics = h!.topics ?? []
    state.end += 1 + PROOF_BYTES + 1 // version, proof, flags
    uint.preencode(state, h!.listen.length)
    for (const a of h!.listen) string.preencode(state, a)
    uint.preencode(state, topics.length)
    state.end += 32 * topics.length
  },
  encode (state, h) {
    const buf = state.buffer!
    const topics = h!.topics ?? []
    buf[state.start++] = h!.v
    buf.set(h!.proof, state.start)
    state.start += PROOF_BYTES
    buf[state.start++] = (h!.rendezvous ? 1 : 0) | (h!.announce === true ? 2 : 0)
    uint.encode(state, h!.listen.length)
    for (const a of h!.listen) string.encode(state, a)
    uint.encode(state, topics.length)
    for (const t of topics) {
      buf.write(t, state.start, 32, 'hex')
      state.start += 32
    }
  },
  decode (state) {
    try {
      const buf = state.buffer!
      if (state.end - state.start < 1 + PROOF_BYTES + 1) return null
      const v = buf[state.start++]
      const proof = buf.subarray(state.start, state.start + PROOF_BYTES)
      state.start += PROOF_BYTES
      const flags = buf[state.start++]
      const listen: string[] = []
      for (let n = uint.decode(state); n > 0; n--) {
        const a = string.decode(state)
        if (listen.length < MAX_LISTEN) listen.push(a)
      }
      const topics: string[] = []
      for (let n = uint.decode(state); n > 0; n--) {
        if (state.end - state.start < 32) return null
        if (topics.length < MAX_TOPICS) topics.push(buf.toString('hex', state.start, state.start + 32))
        state.start += 32
      }
      return { v: v as 1, proof, rendezvous: (flags & 1) !== 0, listen, topics, announce: (flags & 2) !== 0 }
    } catch {
      return null
    }
  }
}

let nextId = 0

export interface OpenOptions {
  direction: 'inbound' | 'outbound'
  address: string
  networkKey: NetworkKey
  hello: Omit<Hello, 'proof' | 'v'>
  /** Application protocols (protomux channels) the node serves: a remote may open them before we accept. */
  protocols?: () => Iterable<string>
  onMessage: (conn: NodeConnection, msg: ControlMessage) => void
  /** Connections ending gracefully are destroyed when their deadline here passes (a peer that stalls). */
  closing: DeadlineQueue
}

/**
 * One live, authenticated connection: a Noise secret stream over TCP, a Protomux on top, and the
 * node's control channel. Implements the manager's `Connection`.
 *
 * Rules:
 * - It is handed out only once the Noise handshake is done and both sides proved the same network key.
 * - `close(reason)` tells the remote the reason (a close message) before ending the stream; the
 *   remote sees it as `remoteCloseReason`.
 * - `streams` counts the application channels open on it (the mesh's RPC), so the manager prefers to
 *   trim idle connections.
 * - What is sent on `mux` in the tick the connection is handed out (the hello, discovery's first
 *   messages, an application's first channel and message) leaves as one batch once the microtask
 *   queue drains; `send()` returns true meanwhile. So does what is sent in reaction to what arrives
 *   until then. Once the connection is accepted and that set-up burst has left, messages go out as
 *   they are sent (holding an RPC answer to the end of the tick only adds latency; the mesh batches
 *   its own writes).
 */
export class NodeConnection implements Connection, Expiring, Corked {
  readonly id: string
  readonly peer: PeerId
  readonly mux: Protomux
  streams = 0
  remoteListen: string[] = []
  remoteRendezvous = false
  /** The topics the remote had joined when it connected (its hello); later changes come as 'topics'. */
  remoteTopics: string[] = []
  /** The remote announces the topics of its hello (it is not lookup-only). */
  remoteAnnounces = false
  closeReason: string | undefined
  remoteCloseReason: string | undefined
  /** Called before a close with a reason, to leave the remote something useful (peer referrals). */
  farewell: ((conn: NodeConnection, reason: string) => void) | undefined
  private closed = false
  private corked = false
  private control: Channel | null = null
  private send: Message<ControlMessage> | undefined
  private sendClose: Message<string> | undefined
  private closeHandlers: Array<(conn: NodeConnection) => void> | undefined
  /** Control messages held until the local manager accepts the connection (see `accepted()`). */
  private held: ControlMessage[] | undefined = []
  /** Set once the connection was accepted and its set-up burst flushed: no more per-tick corking. */
  private setupOver = false
  private acceptance: Promise<boolean> | undefined
  private settleAcceptance: ((accepted: boolean) => void) | undefined

  private constructor (
    readonly stream: SecretStream,
    readonly direction: 'inbound' | 'outbound',
    readonly address: string,
    private readonly onMessage: (conn: NodeConnection, msg: ControlMessage) => void,
    private readonly closing: DeadlineQueue
  ) {
    this.peer = peerIdOf(stream.remotePublicKey!)
    this.id = `${this.peer.slice(0, 8)}-${direction === 'inbound' ? 'i' : 'o'}${nextId++}`
    // Before protomux's own listener: what we send in reaction to a message leaves as one batch.
    stream.on('data', this.corkForTick)
    this.mux = Protomux.from(stream)
    stream.once('close', this.onStreamClose)
  }

  private readonly onStreamClose = (): void => {
    this.closed = true
    this.closing.delete(this)
    this.settleAcceptance?.(false)
    const handlers = this.closeHandlers
    this.closeHandlers = undefined
    if (handlers !== undefined) for (const h of handlers) h(this)
  }

  /** Resolves true once the local manager accepts the connection, false if it closes first. */
  whenAccepted (): Promise<boolean> {
    if (this.held === undefined) return Promise.resolve(true)
    if (this.closed) return Promise.resolve(false)
    this.acceptance ??= new Promise((resolve) => { this.settleAcceptance = resolve })
    return this.acceptance
  }

  /**
   * Runs the control handshake on an opened secret stream: opens the control channel with our hello
   * and checks the remote's. Resolves once both sides are authenticated; rejects on a network key
   * mismatch (after our hello left, so the remote sees the mismatch too; the stream then ends) or a
   * refused channel. The caller owns the deadline and the stream's early 'close'.
   */
  static async open (stream: SecretStream, opts: OpenOptions): Promise<NodeConnection> {
    return await new Promise((resolve, reject) => {
      const conn = new NodeConnection(stream, opts.direction, opts.address, opts.onMessage, opts.closing)
      const mac = opts.networkKey.session(stream.handshakeHash!)
      const channel = conn.mux.createChannel({
        protocol: CONTROL_PROTOCOL,
        handshake: helloEncoding,
        onopen: (hello: Hello | null) => {
          if (hello === null || hello.v !== 1 || !opts.networkKey.verify(mac, !stream.isInitiator, hello.proof)) {
            conn.endAfterHello()
            reject(new PeerwardenError('ERR_NETWORK_KEY', `${conn.address} is not on this network: its network key differs`))
            return
          }
          conn.remoteListen = hello.listen
          conn.remoteRendezvous = hello.rendezvous
          conn.remoteTopics = hello.topics ?? []
          conn.remoteAnnounces = hello.announce === true
          // A channel the remote opens before our manager accepted the connection waits for the
          // acceptance (protomux would otherwise reject it) and is then paired with ours.
          if (opts.protocols !== undefined) {
            for (const protocol of opts.protocols()) conn.mux.pair({ protocol }, conn.waitForAcceptance)
          }
          // Nothing the remote sent after its hello is read until our manager accepted the connection:
          // the dialer's first messages arrive with its hello, and the channels they open must find
          // the pairings the application makes when it hears of the connection ('connection').
          stream.pause()
          resolve(conn)
        },
        onclose: () => { if (!conn.closed) stream.destroy() }
      })
      if (channel === null) {
        stream.destroy()
        reject(new PeerwardenError('ERR_PROTOCOL', 'control channel refused'))
        return
      }
      conn.control = channel
      conn.send = channel.addMessage<ControlMessage>({ encoding: c.json, onmessage: conn.receive })
      conn.sendClose = channel.addMessage<string>({ encoding: c.string, onmessage: conn.receiveClose })
      // The hello is a frame of its own (not batched), so the remote can stop reading right after it.
      channel.open({ v: 1, proof: opts.networkKey.proof(mac, stream.isInitiator), ...opts.hello } satisfies Hello)
    })
  }

  /** A foreign network: let our hello reach the remote, so it sees the mismatch too, then go. */
  private endAfterHello (): void {
    this.closed = true
    this.flushCork()
    this.closing.add(this)
    this.stream.end()
  }

  private readonly waitForAcceptance = async (): Promise<void> => { await this.whenAccepted() }

  get open (): boolean { return !this.closed }

  onClose (fn: (conn: NodeConnection) => void): void {
    if (this.closed) fn(this)
    else (this.closeHandlers ??= []).push(fn)
  }

  /** Sends a control message; false when the connection is gone. */
  post (msg: ControlMessage): boolean {
    if (this.closed || this.control?.closed !== false) return false
    return this.send!.send(msg)
  }

  close (reason?: string): void {
    if (this.closed) return
    this.closeReason = reason
    if (reason !== undefined) {
      try { this.farewell?.(this, reason) } catch { /* a referral is a courtesy */ }
      if (this.control?.closed === false) this.sendClose!.send(reason)
    }
    this.closed = true
    this.flushCork()
    // End gracefully so the close message is delivered, but never wait on a peer that stalls.
    this.closing.add(this)
    this.endWhenFlushed()
  }

  /** The closing deadline passed: the peer did not finish the close in time. */
  expire (): void { this.stream.destroy() }

  /** Ends the stream once nothing is left in a protomux batch (a batch written after the end would be lost). */
  private readonly endWhenFlushed = (): void => {
    if (this.mux.corked > 0 && !this.stream.destroyed) setImmediate(this.endWhenFlushed)
    else this.stream.end()
  }

  /** Batches what is sent on the mux until the microtask queue drains (see the class rules). */
  readonly corkForTick = (): void => {
    if (this.corked || this.closed) return
    this.corked = true
    this.mux.cork()
    flushMuxAtEndOfTick(this)
  }

  /** Sends the batch `corkForTick` started now. */
  flushCork (): void {
    if (!this.corked) return
    this.corked = false
    this.mux.uncork()
    // Accepted and the set-up burst sent: from now on messages leave as they are sent.
    if (this.held === undefined && !this.setupOver) {
      this.setupOver = true
      this.stream.off('data', this.corkForTick)
      setupDone(this.stream)
    }
  }

  private readonly receive = (msg: ControlMessage): void => {
    if (msg == null || typeof msg !== 'object') return
    if (msg.t === 'close') { this.receiveClose(msg.reason); return }
    // Until our manager has accepted the connection, nothing it says may create or change peers
    // (a dial still in flight would otherwise race with what the message teaches us).
    // Referrals to other peers are safe to use at once: a full node refers us and closes, often before
    // our side has accepted the connection at all.
    if (this.held !== undefined && msg.t !== 'pex') {
      if (this.held.length < 256) this.held.push(msg)
      return
    }
    this.onMessage(this, msg)
  }

  private readonly receiveClose = (reason: unknown): void => {
    this.remoteCloseReason = typeof reason === 'string' ? reason.slice(0, 64) : 'closed'
  }

  /** The local manager accepted the connection: deliver the held control messages, then the rest as they come. */
  accepted (): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    this.corkForTick()
    this.stream.resume()
    this.settleAcceptance?.(true)
    for (const msg of held) this.onMessage(this, msg)
  }
}
