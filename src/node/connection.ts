import c from 'compact-encoding'
import Protomux, { type Channel, type Message } from 'protomux'
import type SecretStream from '@hyperswarm/secret-stream'
import { PeerwardenError } from '../errors.js'
import type { Connection, PeerId } from '../manager/types.js'
import type { NetworkKey } from './network-key.js'
import { peerIdOf } from './identity.js'

/** The control protocol's messages (one JSON message type on the 'peerwarden/control/1' channel). */
export type ControlMessage =
  | { t: 'close'; reason: string }
  | { t: 'topics'; topics: string[] }
  | { t: 'announce'; topic: string; addresses: string[]; ttl: number }
  | { t: 'unannounce'; topic: string }
  | { t: 'lookup'; id: number; topic: string }
  | { t: 'peers'; id: number; topic: string; peers: Array<{ id: string; addresses: string[] }> }
  | { t: 'pex'; topic: string; peers: Array<{ id: string; addresses: string[] }> }

/** What each side says when the control channel opens. */
export interface Hello { v: 1; proof: string; listen: string[]; rendezvous: boolean; /** Discovery keys of the topics joined now. */ topics?: string[] }

export const CONTROL_PROTOCOL = 'peerwarden/control/1'

let nextId = 0

/**
 * One live, authenticated connection: a Noise secret stream over TCP, a Protomux on top, and the
 * node's control channel. Implements the manager's `Connection`.
 *
 * Rules:
 * - It exists only once the Noise handshake is done and both sides proved the same network key.
 * - `close(reason)` tells the remote the reason (a 'close' message) before ending the stream; the
 *   remote sees it as `remoteCloseReason`.
 * - `streams` counts the application channels open on it (the mesh's RPC), so the manager prefers to
 *   trim idle connections.
 */
export class NodeConnection implements Connection {
  readonly id: string
  readonly peer: PeerId
  readonly mux: Protomux
  streams = 0
  remoteListen: string[] = []
  remoteRendezvous = false
  /** The topics the remote had joined when it connected (its hello); later changes come as 'topics'. */
  remoteTopics: string[] = []
  closeReason: string | undefined
  remoteCloseReason: string | undefined
  /** Called before a close with a reason, to leave the remote something useful (peer referrals). */
  farewell: ((conn: NodeConnection, reason: string) => void) | undefined
  private closed = false
  private control!: Channel
  private send!: Message<ControlMessage>
  private readonly closeHandlers: Array<(conn: NodeConnection) => void> = []
  /** Control messages held until the local manager accepts the connection (see `accepted()`). */
  private held: ControlMessage[] | undefined = []
  private acceptance: Promise<boolean> | undefined
  private settleAcceptance: ((accepted: boolean) => void) | undefined

  private constructor (
    readonly stream: SecretStream,
    readonly direction: 'inbound' | 'outbound',
    readonly address: string,
    private readonly onMessage: (conn: NodeConnection, msg: ControlMessage) => void
  ) {
    this.peer = peerIdOf(stream.remotePublicKey!)
    this.id = `${this.peer.slice(0, 8)}-${direction === 'inbound' ? 'i' : 'o'}${nextId++}`
    this.mux = Protomux.from(stream)
    stream.once('close', () => {
      this.closed = true
      this.settleAcceptance?.(false)
      for (const h of this.closeHandlers) h(this)
    })
  }

  /** Resolves true once the local manager accepts the connection, false if it closes first. */
  whenAccepted (): Promise<boolean> {
    if (this.held === undefined) return Promise.resolve(true)
    if (this.closed) return Promise.resolve(false)
    this.acceptance ??= new Promise((resolve) => { this.settleAcceptance = resolve })
    return this.acceptance
  }

  /**
   * Wraps an opened secret stream: opens the control channel, exchanges hellos, checks the network
   * key. Resolves once both sides are authenticated; rejects (and destroys the stream) on a network key
   * mismatch or when the remote does not answer within `timeout` ms.
   */
  static async open (stream: SecretStream, opts: {
    direction: 'inbound' | 'outbound'
    address: string
    networkKey: NetworkKey
    hello: Omit<Hello, 'proof' | 'v'>
    timeout: number
    /** Application protocols (protomux channels) the node serves: a remote may open them before we accept. */
    protocols?: () => Iterable<string>
    onMessage: (conn: NodeConnection, msg: ControlMessage) => void
  }): Promise<NodeConnection> {
    const conn = new NodeConnection(stream, opts.direction, opts.address, opts.onMessage)
    const hash = stream.handshakeHash!
    await new Promise<void>((resolve, reject) => {
      let settled = false
      const fail = (err: Error, graceful = false): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (graceful) {
          // Let our hello (already queued) reach the remote, so it sees the mismatch too, then go.
          stream.end()
          setTimeout(() => { stream.destroy() }, 1000).unref()
        } else {
          stream.destroy(err)
        }
        reject(err)
      }
      const timer = setTimeout(() => { fail(new PeerwardenError('ERR_HANDSHAKE_TIMEOUT', `no control handshake from ${conn.address} within ${opts.timeout} ms`)) }, opts.timeout)
      // Built only if it happens: an error object per closed connection would cost on every close.
      const onEarlyClose = (): void => { fail(new PeerwardenError('ERR_CONNECTION_CLOSED', `${conn.address} closed the connection during the handshake`)) }
      stream.once('close', onEarlyClose)
      const done = (): void => { stream.off('close', onEarlyClose) }
      const channel = conn.mux.createChannel({
        protocol: CONTROL_PROTOCOL,
        handshake: c.json,
        onopen: (hello: Hello) => {
          if (hello?.v !== 1 || !opts.networkKey.verify(hash, !stream.isInitiator, hello.proof)) {
            fail(new PeerwardenError('ERR_NETWORK_KEY', `${conn.address} is not on this network: its network key differs`), true)
            return
          }
          conn.remoteListen = Array.isArray(hello.listen) ? hello.listen.filter((a) => typeof a === 'string').slice(0, 16) : []
          conn.remoteRendezvous = hello.rendezvous === true
          conn.remoteTopics = Array.isArray(hello.topics) ? hello.topics.filter((t) => typeof t === 'string' && /^[0-9a-f]{64}$/.test(t)).slice(0, 64) : []
          // A channel the remote opens before our manager accepted the connection waits for the
          // acceptance (protomux would otherwise reject it) and is then paired with ours.
          for (const protocol of opts.protocols?.() ?? []) conn.mux.pair({ protocol }, async () => { await conn.whenAccepted() })
          if (settled) return
          settled = true
          clearTimeout(timer)
          done()
          resolve()
        },
        onclose: () => { if (!conn.closed) stream.destroy() }
      })
      if (channel === null) { fail(new PeerwardenError('ERR_PROTOCOL', 'control channel refused')); return }
      conn.control = channel
      conn.send = channel.addMessage<ControlMessage>({
        encoding: c.json,
        onmessage: (msg) => { conn.receive(msg) }
      })
      channel.open({ v: 1, proof: opts.networkKey.proof(hash, stream.isInitiator).toString('hex'), ...opts.hello } satisfies Hello)
    })
    return conn
  }

  get open (): boolean { return !this.closed }

  onClose (fn: (conn: NodeConnection) => void): void {
    if (this.closed) fn(this)
    else this.closeHandlers.push(fn)
  }

  /** Sends a control message; false when the connection is gone. */
  post (msg: ControlMessage): boolean {
    if (this.closed || this.control?.closed !== false) return false
    return this.send.send(msg)
  }

  close (reason?: string): void {
    if (this.closed) return
    this.closeReason = reason
    if (reason !== undefined) {
      try { this.farewell?.(this, reason) } catch { /* a referral is a courtesy */ }
      this.post({ t: 'close', reason })
    }
    this.closed = true
    // End gracefully so the close message is delivered, but never wait on a peer that stalls.
    this.stream.end()
    const t = setTimeout(() => { this.stream.destroy() }, 2000)
    t.unref()
    this.stream.once('close', () => { clearTimeout(t) })
  }

  private receive (msg: ControlMessage): void {
    if (msg == null || typeof msg !== 'object') return
    if (msg.t === 'close') {
      this.remoteCloseReason = typeof msg.reason === 'string' ? msg.reason.slice(0, 64) : 'closed'
      return
    }
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

  /** The local manager accepted the connection: deliver the held control messages, then the rest as they come. */
  accepted (): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    this.settleAcceptance?.(true)
    for (const msg of held) this.onMessage(this, msg)
  }
}
