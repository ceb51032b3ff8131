import Protomux, { type Channel, type Message } from './vendor/protomux.js'
import { PeerwardenError } from '../errors.js'
import type { Connection, PeerId } from '../manager/types.js'
import type { DeadlineQueue, Expiring } from './deadlines.js'
import { flushMuxAtEndOfTick, setupDone, type Corked } from './end-of-tick.js'
import { decodeControl, fitControl, MAX_REASON_LENGTH, type ControlMessage } from './control-wire.js'
import { decodeHello } from './hello.js'
import { peerIdOf } from './identity.js'
import { untrapSafetyCatch, watchChannels } from './mux-hooks.js'
import { Verdict } from './verdict.js'
import { DEFAULT_MAX_PENDING_OPENS, DEFAULT_MAX_REMOTE_CHANNELS, RemoteOpens, type OpensHost } from './remote-opens.js'
import type { SecureStream } from './secure-stream.js'
import { budgetWrites, DEFAULT_MAX_WRITE_QUEUE_BYTES } from './write-budget.js'
import { peerHandler, safeString, smallJson } from './wire.js'

export type { ControlMessage } from './control-wire.js'

/**
 * The control channel. Version 3: the hellos travel in the Noise handshake (hello.ts), the channel
 * carries the close reason (message 1) and everything else as JSON (message 0).
 */
export const CONTROL_PROTOCOL = 'peerwarden/control/3'

let nextId = 0

export interface OpenOptions {
  direction: 'inbound' | 'outbound'
  address: string
  onMessage: (conn: NodeConnection, msg: ControlMessage) => void
  /** Called before a close with a reason, to leave the remote something useful (peer referrals); a throw is ignored. */
  farewell?: (conn: NodeConnection, reason: string) => void
  /** Connections ending gracefully are destroyed when their deadline here passes (a peer that stalls). */
  closing: DeadlineQueue
  /** The peer sent a message a decoder refused (see `protocolError`); called once, before the close. */
  onProtocolError?: (conn: NodeConnection, why: string) => void
  /** Remote channel opens waiting to be paired at once, at most (see remote-opens.ts). Default 1024. */
  maxPendingOpens?: number
  /** The highest channel id the remote may use (see remote-opens.ts). Default 4096. */
  maxRemoteChannels?: number
  /**
   * Bytes queued for the remote that it has not read, at most (see write-budget.ts); past it the
   * connection closes ('over-budget') and is destroyed at once. Default 16 MiB.
   */
  maxWriteQueueBytes?: number
  /** The remote outran a per-connection budget (see `overBudget`); called once, before the close. */
  onOverBudget?: (conn: NodeConnection, budget: ConnectionBudget, why: string) => void
}

/**
 * The per-connection budgets on what a remote makes us hold: its channel opens waiting to be paired,
 * its channel ids (remote-opens.ts), the bytes we queued for it that it does not read.
 */
export type ConnectionBudget = 'pending-opens' | 'channel-ids' | 'write-queue'

/**
 * One live, authenticated connection: a Noise secret stream over TCP, a Protomux on top, and the
 * node's control channel. Implements the manager's `Connection`.
 *
 * Rules:
 * - It is handed out only once the Noise handshake is done and both sides proved the same network key.
 * - `close(reason)` tells the remote the reason (a close message) before ending the stream; the
 *   remote sees it as `remoteCloseReason`.
 * - `streams` counts the application channels open on it (the mesh's RPC), so the manager prefers to
 *   trim idle connections. Every channel created on `mux` is watched: once `reportStreams(fn)` is
 *   called, `fn` hears of each change (an application channel opened or closed) by the end of the
 *   tick, after protomux has marked the channel, so the manager never has to read `streams` again.
 * - What is sent on `mux` in the tick the connection is handed out (the hello, discovery's first
 *   messages, an application's first channel and message) leaves as one batch once the microtask
 *   queue drains; `send()` returns true meanwhile. So does what is sent in reaction to what arrives
 *   until then. Once the connection is accepted and that set-up burst has left, messages go out as
 *   they are sent (holding an RPC answer to the end of the tick only adds latency; the mesh batches
 *   its own writes).
 */
export class NodeConnection implements Connection, Expiring, Corked, OpensHost {
  readonly id: string
  readonly peer: PeerId
  readonly mux: Protomux
  remoteListen: string[] = []
  remoteRendezvous = false
  /** The topics the remote had joined when it connected (its hello); later changes come as 'topics'. */
  remoteTopics: string[] = []
  /** The remote announces the topics of its hello (it is not lookup-only). */
  remoteAnnounces = false
  /** The remote only visits (its hello says so): a rendezvous point updates its registrations and closes ('visit'). */
  remoteVisit = false
  /** The IP the remote says it sees us at (its hello); a claim, counted only when peers agree. */
  observedByRemote: string | undefined
  closeReason: string | undefined
  remoteCloseReason: string | undefined
  /** Relayed (relay-client.ts): a duration and a byte budget; a direct connection replaces it. */
  limited = false
  private closed = false
  private corked = false
  private control: Channel | null = null
  private send: Message<ControlMessage> | undefined
  private sendClose: Message<string> | undefined
  private closeHandlers: Array<(conn: NodeConnection) => void> | undefined
  private opens: RemoteOpens | undefined
  private onOverBudget: OpenOptions['onOverBudget']
  /** Control messages held until the local manager accepts the connection (see `accepted()`). */
  private held: ControlMessage[] | undefined = []
  /** Set once the connection was accepted and its set-up burst flushed: no more per-tick corking. */
  private setupOver = false
  private acceptance: Promise<boolean> | undefined
  private settleAcceptance: ((accepted: boolean) => void) | undefined
  /** Outbound: settles once the remote's manager decided (its 'welcome', or a close first). */
  /** Outbound: settles once the remote's manager decided (its 'welcome', or a close first). */
  private outcome: Verdict | undefined
  /** Hears of every change of `streams` (`reportStreams`). */
  private streamsReport: ((conn: NodeConnection) => void) | undefined
  /** A report is due at the end of this tick. */
  private reportDue = false

  private constructor (
    readonly stream: SecureStream,
    readonly direction: 'inbound' | 'outbound',
    readonly address: string,
    private readonly onMessage: (conn: NodeConnection, msg: ControlMessage) => void,
    private readonly closing: DeadlineQueue,
    private readonly onProtocolError: ((conn: NodeConnection, why: string) => void) | undefined,
    private readonly farewell: ((conn: NodeConnection, reason: string) => void) | undefined
  ) {
    this.peer = peerIdOf(stream.remotePublicKey!)
    this.id = `${this.peer.slice(0, 8)}-${direction === 'inbound' ? 'i' : 'o'}${nextId++}`
    // Before protomux's own listener: what we send in reaction to a message leaves as one batch.
    stream.on('data', this.corkForTick)
    this.mux = Protomux.from(stream)
    untrapSafetyCatch(this.mux, stream)
    watchChannels(this.mux, this.channelsChanged)
    stream.once('close', this.onStreamClose)
  }

  private readonly onStreamClose = (): void => {
    this.outcome?.closed(this.remoteCloseReason)
    this.closed = true
    this.closing.delete(this)
    this.settleAcceptance?.(false)
    const handlers = this.closeHandlers
    this.closeHandlers = undefined
    if (handlers !== undefined) for (const h of handlers) h(this)
  }

  /**
   * Outbound: resolves once the remote's manager accepted the connection (its 'welcome'); rejects with
   * `ERR_REFUSED` (the remote's reason as `cause`) when the remote closed it first with a reason
   * ('over-limit', 'banned', 'duplicate'…), `ERR_CONNECTION_CLOSED` when it just closed. The dialer's
   * dial resolves only then, so a refused dial is a failed dial.
   */
  verdict (): Promise<void> {
    return this.outcome?.promise ?? Promise.resolve()
  }

  /** True once the local manager accepted the connection. */
  get isAccepted (): boolean { return this.held === undefined }

  /** Resolves true once the local manager accepts the connection, false if it closes first. */
  whenAccepted (): Promise<boolean> {
    if (this.held === undefined) return Promise.resolve(true)
    if (this.closed) return Promise.resolve(false)
    this.acceptance ??= new Promise((resolve) => { this.settleAcceptance = resolve })
    return this.acceptance
  }

  /**
   * The connection on a secure stream whose handshake is complete: takes the remote's hello from the
   * handshake and opens the control channel. The stream stays paused until the local manager accepts
   * the connection (`accepted()`): the dialer's first messages arrive with its last handshake message,
   * and the channels they open must find the pairings the application makes when it hears of the
   * connection ('connection'). Rejects with `ERR_PROTOCOL` (and destroys the stream) on a malformed hello.
   */
  static async open (stream: SecureStream, opts: OpenOptions): Promise<NodeConnection> {
    const hello = stream.remotePayload === null ? null : decodeHello(stream.remotePayload)
    if (hello === null) {
      stream.destroy()
      throw new PeerwardenError('ERR_PROTOCOL', `${opts.address} sent a malformed hello`)
    }
    const conn = new NodeConnection(stream, opts.direction, opts.address, opts.onMessage, opts.closing, opts.onProtocolError, opts.farewell)
    conn.remoteListen = hello.listen
    conn.remoteRendezvous = hello.rendezvous
    conn.remoteTopics = hello.topics ?? []
    conn.remoteAnnounces = hello.announce === true
    conn.remoteVisit = hello.visit === true
    conn.observedByRemote = hello.observed
    if (opts.direction === 'outbound') {
      conn.outcome = new Verdict(opts.address)
    }
    const channel = conn.mux.createChannel({
      protocol: CONTROL_PROTOCOL,
      onclose: () => { if (!conn.closed) stream.destroy() }
    })
    if (channel === null) {
      stream.destroy()
      throw new PeerwardenError('ERR_PROTOCOL', 'control channel refused')
    }
    conn.control = channel
    conn.send = channel.addMessage<ControlMessage>({ encoding: smallJson, onmessage: peerHandler(decodeControl, conn.receive, conn.badMessage) })
    conn.sendClose = channel.addMessage<string>({ encoding: safeString, onmessage: conn.receiveClose })
    // A channel the remote opens before our manager accepted the connection waits for the acceptance
    // (protomux would otherwise reject it) and is then paired with ours; the waiting ones are budgeted.
    conn.onOverBudget = opts.onOverBudget
    // The node-wide budget of partly received frames (receive-budget.ts) closes with its own reason.
    stream.receiveBudgetListener = (reason) => { conn.close(reason) }
    conn.opens = new RemoteOpens(conn, conn.mux, {
      maxPendingOpens: opts.maxPendingOpens ?? DEFAULT_MAX_PENDING_OPENS,
      maxRemoteChannels: opts.maxRemoteChannels ?? DEFAULT_MAX_REMOTE_CHANNELS
    })
    const maxWrite = opts.maxWriteQueueBytes ?? DEFAULT_MAX_WRITE_QUEUE_BYTES
    budgetWrites(stream, maxWrite, (queued) => {
      // Not in the writer's call stack (a handler, a flush, protomux writing a batch: a close message
      // sent from inside that write was pushed into the batch being written, a RangeError out of send()).
      queueMicrotask(() => {
        conn.overBudget('write-queue', `${queued} bytes queued for a peer that does not read them (budget ${maxWrite})`)
        stream.destroy()
      })
    })
    channel.open()
    // The dialer reads at once: the remote's verdict comes on the control channel (what else arrives
    // before our own manager accepts is held, as on the listener's side).
    if (opts.direction === 'outbound') stream.resume()
    return conn
  }

  get open (): boolean { return !this.closed }

  /** Application channels open on the connection now (the control channel aside): 0 = idle, so trimmed first. */
  get streams (): number {
    let n = 0
    for (const channel of this.mux as unknown as Iterable<{ opened: boolean; closed: boolean }>) {
      if (channel !== this.control && channel.opened && !channel.closed) n++
    }
    return n
  }

  /** Channels the remote opened that wait to be paired now (before the acceptance, or while a pairing decides). */
  get pendingOpens (): number { return this.opens?.pending ?? 0 }

  /**
   * Tells `fn` whenever `streams` may have changed (an application channel opened or closed), at the
   * end of the tick, and once now (the node passes the manager's `streamsChanged`: a connection that
   * reports is never sampled before a trim). One function per connection: a second call replaces it.
   */
  reportStreams (fn: (conn: NodeConnection) => void): void {
    this.streamsReport = fn
    this.channelsChanged()
  }

  /** A channel opened or closed: one report at the end of the tick, when protomux has marked it (it calls onopen before it sets `opened`). */
  private readonly channelsChanged = (): void => {
    if (this.streamsReport === undefined || this.reportDue) return
    this.reportDue = true
    queueMicrotask(() => {
      this.reportDue = false
      if (this.closed) return
      try {
        this.streamsReport?.(this)
      } catch {
        // The manager's streamsChanged() does not throw for a live connection; nothing may escape a microtask.
      }
    })
  }

  onClose (fn: (conn: NodeConnection) => void): void {
    if (this.closed) fn(this)
    else (this.closeHandlers ??= []).push(fn)
  }

  /**
   * Sends a control message; false when the connection is gone. Never throws. (What discovery sends is
   * bounded by the control channel's limits — 32 peers of 8 addresses — and cut to the receiver's
   * `SMALL_JSON_BYTES`: `fitControl`.)
   */
  post (msg: ControlMessage): boolean {
    if (this.closed || this.control?.closed !== false) return false
    try {
      return this.send!.send(fitControl(msg))
    } catch (err) {
      this.stream.destroy(err as Error)
      return false
    }
  }

  /**
   * The peer broke a channel's protocol (a message that does not decode, or whose handling failed):
   * reported once, then the connection closes with `'protocol'`. Never throws; any channel on this
   * connection calls it (see wire.ts `peerHandler`).
   */
  protocolError (why: string): void {
    if (this.closed) return
    try { this.onProtocolError?.(this, why) } catch { /* reporting is best effort */ }
    this.close('protocol')
  }

  /**
   * The remote outran a per-connection budget (`ConnectionBudget`): reported once, then the connection
   * closes with 'over-budget'. Never throws.
   */
  overBudget (budget: ConnectionBudget, why: string): void {
    if (this.closed) return
    try { this.onOverBudget?.(this, budget, why) } catch { /* reporting is best effort */ }
    this.close('over-budget')
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

  /** A batch could not be written (it should never be too large: see wire.ts): the connection ends. */
  failCork (err: unknown): void {
    this.stream.destroy(err instanceof Error ? err : new PeerwardenError('ERR_PROTOCOL', String(err)))
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

  private readonly badMessage = (why: string): void => { this.protocolError(`control: ${why}`) }

  private readonly receive = (msg: ControlMessage): void => {
    if (msg.t === 'welcome') { this.outcome?.accept(); return }
    // Until our manager has accepted the connection, nothing it says may create or change peers
    // (a dial still in flight would otherwise race with what the message teaches us).
    // Referrals to other peers are safe to use at once: a full node refers us and closes, often before
    // our side has accepted the connection at all.
    if (this.held !== undefined && msg.t !== 'pex') {
      if (this.held.length < 64) this.held.push(msg)
      return
    }
    this.onMessage(this, msg)
  }

  private readonly receiveClose = (reason: unknown): void => {
    if (typeof reason !== 'string') { this.protocolError('control: a close reason that is not a string'); return }
    this.remoteCloseReason = reason.slice(0, MAX_REASON_LENGTH)
    this.outcome?.refuse(this.remoteCloseReason)
  }

  /** The local manager accepted the connection: deliver the held control messages, then the rest as they come. */
  accepted (): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    this.corkForTick()
    // The listener tells the dialer first thing: its manager accepted (see `verdict`).
    if (this.direction === 'inbound') this.post({ t: 'welcome' })
    this.stream.resume()
    this.settleAcceptance?.(true)
    for (const msg of held) this.onMessage(this, msg)
  }
}
