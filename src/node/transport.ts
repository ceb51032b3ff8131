import net from 'node:net'
import type { Duplex } from 'node:stream'
import { PeerwardenError } from '../errors.js'
import * as check from '../manager/validate.js'
import { systemClock } from '../clock.js'
import type { Clock, PeerId } from '../manager/types.js'
import { NodeConnection, type OpenOptions } from './connection.js'
import { DeadlineQueue } from './deadlines.js'
import { dialError } from './dial-error.js'
import { onSetupDone } from './end-of-tick.js'
import { encodeHello } from './hello.js'
import { peerIdOf } from './identity.js'
import { defaultHandshakeRate, defaultPendingPerIp, InboundLimits, type InboundRefusal } from './inbound-limits.js'
import { LiveConnection } from './live-connection.js'
import { defaultKeepAlive, keepAliveTiming, Liveness } from './liveness.js'
import { staticKeys, type StaticKeys } from './noise.js'
import { DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_RECEIVING_BYTES, ReceiveBudget } from './receive-budget.js'
import { DEFAULT_MAX_QUEUED_BYTES_TOTAL, QueueBudget } from './queue-budget.js'
import { QUEUE_HIGH_BYTES, SecureStream, type ReadMeter } from './secure-stream.js'
import { SocketCork } from './socket-cork.js'
import { formatTcpAddress, parseTcpAddress } from './tcp-address.js'
import type { TransportOptions, TransportStats } from './transport-options.js'
import { canonicalIp } from '../manager/canonical-ip.js'

// Their former home: importers of transport.js keep working.
export { formatTcpAddress, parseTcpAddress } from './tcp-address.js'
export type { TransportOptions, TransportStats } from './transport-options.js'

/**
 * TCP + Noise transport (secure-stream.ts, noise.ts).
 *
 * Rules:
 * - Inbound: the gate (deny list), then the budgets of inbound-limits.ts run before any cryptography:
 *   a per-IP rate (`perIpRate`), handshakes in progress per IP (`maxPendingPerIp`, so one host holding
 *   idle sockets keeps at most that share of the slots) and in all (`maxPendingHandshakes`, where the
 *   oldest handshake gives way to a newcomer that passed the per-IP rules, so many hosts holding idle
 *   sockets cannot keep an honest peer out either); a refused socket is destroyed at once and counted
 *   by rule (`stats()`). Then the Noise handshake, which carries both hellos and checks the network
 *   key, under `handshakeTimeout`, then `onInbound`.
 * - The dialer is the Noise initiator. It sends its hello and whatever the application sends at once
 *   with its last handshake message, so a connection's first application round trip completes after
 *   two round trips in all.
 * - Outbound: `dial(address, { peer, signal })` resolves once authenticated; with an expected peer id
 *   (from the dial or the address's '#<id>'), a different remote key fails with `ERR_PEER_MISMATCH`;
 *   dialling ourselves fails with `ERR_SELF_DIAL` — both before the dialer reveals its identity. The
 *   signal aborts at any point.
 * - Keep-alive: every connection sends a keep-alive when idle and is closed with the reason
 *   'timeout' and destroyed at once when it hears nothing for `deadTimeout`, so a peer that vanishes
 *   without FIN, or freezes, is noticed (liveness.ts); a remote that still reads hears the reason.
 *   The listener's side sends one after `keepAlive` without writing and the dialer's side answers it
 *   at once (`keepAliveTiming`): a node holding many inbound connections writes their keep-alives
 *   together from one tick of its timer and reads the answers together.
 * - A dial that cannot connect, or whose connection goes during the handshake, fails with
 *   `ERR_DIAL_FAILED`, the socket's error (ECONNREFUSED, …) as the cause; the handshake's own failures
 *   keep their codes.
 */
export class TcpTransport {
  readonly servers: net.Server[] = []
  private readonly localId: PeerId
  /** Inbound sockets refused before any cryptography (gate, rate limit, pending budgets): the total. */
  refusedEarly = 0
  /** Of `refusedEarly`: over the per-IP rate (`perIpRate`). */
  refusedRate = 0
  /** Of `refusedEarly`: the IP already had `maxPendingPerIp` handshakes in progress. */
  refusedPerIp = 0
  /** Of `refusedRate` and `refusedPerIp`: for a rule of the source's public range (/24, /48). */
  refusedPerRange = 0
  /** Of `refusedRate`: over the rate of inbound handshakes in all (`maxHandshakeRate`). */
  refusedHandshakeRate = 0
  /** Of `refusedEarly`: `maxPendingHandshakes` handshakes were in progress and none could give way. */
  refusedPending = 0
  /** Inbound handshakes ended to make room at the cap: the oldest gives way to a newcomer (also in `failedHandshakes`). */
  evictedHandshakes = 0
  /** Inbound connections that failed Noise, the hello, the network key or the deadline (garbage included). */
  failedHandshakes = 0
  /** Connections closed because the peer sent a message a decoder refused ('protocol'). */
  protocolErrors = 0
  /** Connections closed because the remote opened more channels than its budgets ('over-budget'). */
  openBudgetCloses = 0
  /** Connections closed because more than `maxWriteQueueBytes` waited for a remote that did not read ('over-budget'). */
  writeBudgetCloses = 0
  private readonly limits: InboundLimits
  /** Inbound handshakes in progress and their remote IP, oldest first (the first to give way at the cap). */
  private readonly inbound = new Map<SecureStream, string>()
  /** The read-side figures of every stream (secure-stream.ts). */
  private readonly meter: ReadMeter = { queuedBytes: 0, discardedBytes: 0, queuePauses: 0, receivingBytes: 0 }
  /** Partly received frames, all streams together: `maxReceivingBytes` and `frameTimeout` (receive-budget.ts). */
  private readonly receiving: ReceiveBudget
  /** Bytes queued both ways, all streams together: `maxQueuedBytesTotal` (queue-budget.ts). */
  private readonly queueing: QueueBudget
  private readonly sockets = new Set<net.Socket>()
  /** Handshakes in progress (both directions), on one shared timer. */
  private readonly handshakes: DeadlineQueue
  /** Connections ending gracefully: destroyed if the peer has not finished the close within 2 s. */
  private readonly closing: DeadlineQueue
  /** Outbound connections': the same deadline; answers to the listener's keep-alives (see the class rules). */
  private readonly liveness: Liveness
  /** Inbound connections' keep-alives and deadlines (see the class rules). */
  private readonly inboundLiveness: Liveness
  private readonly keys: StaticKeys
  private readonly clock: Clock

  constructor (private readonly opts: TransportOptions) {
    this.localId = peerIdOf(opts.keyPair.publicKey)
    this.keys = staticKeys(opts.keyPair)
    const clock = this.clock = opts.clock ?? systemClock
    this.handshakes = new DeadlineQueue(opts.handshakeTimeout ?? 10_000, clock)
    this.closing = new DeadlineQueue(2_000, clock)
    const deadTimeout = opts.deadTimeout ?? 20_000
    const timing = keepAliveTiming(opts.keepAlive ?? defaultKeepAlive(deadTimeout), deadTimeout)
    this.liveness = new Liveness(timing.outbound, undefined, clock)
    this.inboundLiveness = new Liveness(timing.inbound, undefined, clock)
    const maxPending = check.int('maxPendingHandshakes', opts.maxPendingHandshakes ?? 32)
    this.limits = new InboundLimits({
      perIpRate: check.int('perIpRate', opts.perIpRate ?? 10),
      maxPending,
      maxPendingPerIp: check.int('maxPendingPerIp', opts.maxPendingPerIp ?? defaultPendingPerIp(maxPending)),
      maxTrackedIps: check.int('maxTrackedIps', opts.maxTrackedIps ?? 4096, 1),
      maxRate: check.int('maxHandshakeRate', opts.maxHandshakeRate ?? defaultHandshakeRate(maxPending), 1)
    }, () => clock.now())
    if (opts.maxQueuedBytes !== undefined) check.int('maxQueuedBytes', opts.maxQueuedBytes, 1)
    if (opts.maxPendingOpens !== undefined) check.int('maxPendingOpens', opts.maxPendingOpens, 1)
    if (opts.maxRemoteChannels !== undefined) check.int('maxRemoteChannels', opts.maxRemoteChannels, 1)
    if (opts.maxWriteQueueBytes !== undefined) check.int('maxWriteQueueBytes', opts.maxWriteQueueBytes, 1)
    this.receiving = new ReceiveBudget(
      check.int('maxReceivingBytes', opts.maxReceivingBytes ?? DEFAULT_MAX_RECEIVING_BYTES, 1),
      check.int('frameTimeout', opts.frameTimeout ?? DEFAULT_FRAME_TIMEOUT, 1),
      clock
    )
    this.queueing = new QueueBudget(check.int('maxQueuedBytesTotal', opts.maxQueuedBytesTotal ?? DEFAULT_MAX_QUEUED_BYTES_TOTAL, 1))
  }

  /** Listens on each 'tcp://host:port' (port 0 = any); resolves to the bound addresses. */
  async listen (addresses: string[]): Promise<string[]> {
    const bound: string[] = []
    for (const address of addresses) {
      const { host, port } = parseTcpAddress(address)
      const server = net.createServer((socket) => { this.accept(socket) })
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => { server.off('error', reject); resolve() })
      })
      this.servers.push(server)
      const a = server.address() as net.AddressInfo
      bound.push(formatTcpAddress(host, a.port))
    }
    return bound
  }

  /** `visit`: the hello says this is a visit to a rendezvous point (see `Hello.visit`), not a connection. */
  async dial (address: string, opts: { peer?: PeerId; signal: AbortSignal; visit?: boolean; probe?: boolean; nonce?: string }): Promise<NodeConnection> {
    const { host, port, peer: fromAddress } = parseTcpAddress(address)
    const expected = opts.peer ?? fromAddress
    if (expected === this.localId) throw new PeerwardenError('ERR_SELF_DIAL', 'refusing to dial ourselves')
    opts.signal.throwIfAborted()
    // Bound before connecting (any address, any port) so that libuv sets SO_REUSEADDR on the socket:
    // a hole punch (punch.ts) later dials again from this connection's local port, which its NAT
    // already maps, and Linux lets it bind that port only when both sockets have SO_REUSEADDR.
    const family = net.isIP(host)
    const socket = net.connect({ host, port, ...(family !== 0 ? { localAddress: family === 6 ? '::' : '0.0.0.0' } : {}) })
    this.track(socket)
    const abort = (): void => { socket.destroy(opts.signal.reason as Error) }
    opts.signal.addEventListener('abort', abort, { once: true })
    try {
      // The address as dialled, so the manager files the connection under the peer it dialled.
      return await this.establish(this.secure(true, socket, expected, opts.visit === true, opts.probe === true, opts.nonce), 'outbound', address)
    } catch (err) {
      // establish() has already torn the stream down (at once, or gracefully after a network key mismatch).
      if (opts.signal.aborted) throw new PeerwardenError('ERR_ABORTED', `dial to ${address} aborted`, { cause: err })
      throw dialError(address, err)
    } finally {
      opts.signal.removeEventListener('abort', abort)
    }
  }

  /**
   * A dial over a relayed circuit (relay-client.ts): the handshake runs end to end over `stream`,
   * which the relay forwards; otherwise as `dial`.
   */
  async dialOver (stream: Duplex, address: string, opts: { peer?: PeerId; signal: AbortSignal }): Promise<NodeConnection> {
    if (opts.peer === this.localId) throw new PeerwardenError('ERR_SELF_DIAL', 'refusing to dial ourselves')
    const abort = (): void => { stream.destroy(opts.signal.reason as Error) }
    if (opts.signal.aborted) { abort(); opts.signal.throwIfAborted() }
    opts.signal.addEventListener('abort', abort, { once: true })
    try {
      const conn = await this.establish(this.secure(true, stream as unknown as net.Socket, opts.peer), 'outbound', address)
      conn.limited = true
      return conn
    } catch (err) {
      if (opts.signal.aborted) throw new PeerwardenError('ERR_ABORTED', `dial to ${address} aborted`, { cause: err })
      throw dialError(address, err)
    } finally {
      opts.signal.removeEventListener('abort', abort)
    }
  }

  /**
   * A circuit that came in through a relay we hold a reservation with (relay-client.ts, which
   * budgets them): the handshake as for an inbound socket, then `onInbound`. The per-IP budgets do
   * not apply (the relay is the socket's remote; its own budgets hold).
   */
  acceptOver (stream: Duplex, address: string): void {
    if (!this.opts.gate(address)) { stream.destroy(); return }
    this.establish(this.secure(false, stream as unknown as net.Socket), 'inbound', address).then((conn) => {
      conn.limited = true
      this.opts.onInbound(conn)
    }, (err) => {
      this.failedHandshakes++
      this.opts.onError?.(address, err as Error)
    })
  }

  /**
   * A socket a hole punch connected (punch.ts): both sides dialled, so the Noise roles are agreed by
   * rule (`initiator`: the lower peer id). The responder checks the remote is `peer` once the
   * handshake is done. Resolves to the authenticated connection.
   */
  async upgrade (socket: net.Socket, initiator: boolean, peer: PeerId, address: string): Promise<NodeConnection> {
    this.track(socket)
    const conn = await this.establish(this.secure(initiator, socket, initiator ? peer : undefined), initiator ? 'outbound' : 'inbound', address)
    if (conn.peer !== peer) {
      conn.close('protocol')
      throw new PeerwardenError('ERR_PEER_MISMATCH', `the punched connection reached ${conn.peer.slice(0, 16)}…, not ${peer.slice(0, 16)}…`)
    }
    return conn
  }

  /** Inbound handshakes in progress. */
  get pendingHandshakes (): number { return this.limits.pending }

  stats (): TransportStats {
    return {
      refusedEarly: this.refusedEarly,
      refusedRate: this.refusedRate,
      refusedPerIp: this.refusedPerIp,
      refusedPerRange: this.refusedPerRange,
      refusedHandshakeRate: this.refusedHandshakeRate,
      refusedPending: this.refusedPending,
      evictedHandshakes: this.evictedHandshakes,
      failedHandshakes: this.failedHandshakes,
      pendingHandshakes: this.pendingHandshakes,
      protocolErrors: this.protocolErrors,
      queuedBytes: this.meter.queuedBytes,
      discardedBytes: this.meter.discardedBytes,
      queuePauses: this.meter.queuePauses,
      receivingBytes: this.meter.receivingBytes,
      openBudgetCloses: this.openBudgetCloses,
      writeBudgetCloses: this.writeBudgetCloses,
      receiveBudgetCloses: this.receiving.overBudgetCloses,
      frameTimeouts: this.receiving.frameTimeouts,
      queueHoldingBytes: this.queueing.holding,
      queueBudgetCloses: this.queueing.overBudgetCloses
    }
  }

  async close (): Promise<void> {
    await Promise.all(this.servers.map(async (s) => await new Promise<void>((resolve) => { s.close(() => { resolve() }) })))
    for (const s of this.sockets) s.destroy()
    this.inbound.clear()
    this.handshakes.clear()
    this.closing.clear()
    this.receiving.clear()
    this.queueing.clear()
    this.liveness.stop()
    this.inboundLiveness.stop()
  }

  private accept (socket: net.Socket): void {
    this.track(socket)
    const ip = socket.remoteAddress ?? ''
    const address = formatTcpAddress(canonicalIp(ip) ?? ip, socket.remotePort ?? 0)
    const refusal: InboundRefusal | 'gate' | null = this.opts.gate(address) ? this.limits.admit(ip, this.evictOldest) : 'gate'
    if (refusal !== null) {
      this.refusedEarly++
      if (refusal === 'rate' || refusal === 'rate-range' || refusal === 'rate-all') this.refusedRate++
      if (refusal === 'rate-all') this.refusedHandshakeRate++
      else if (refusal === 'pending-ip' || refusal === 'pending-range') this.refusedPerIp++
      if (refusal === 'rate-range' || refusal === 'pending-range') this.refusedPerRange++
      else if (refusal === 'pending') this.refusedPending++
      socket.destroy()
      this.opts.onRefused?.(address, refusal)
      return
    }
    const stream = this.secure(false, socket)
    this.inbound.set(stream, ip)
    this.establish(stream, 'inbound', address).then((conn) => {
      if (this.inbound.delete(stream)) this.limits.release(ip)
      this.opts.onInbound(conn)
    }, (err) => {
      if (this.inbound.delete(stream)) this.limits.release(ip)
      this.failedHandshakes++
      this.opts.onError?.(address, err as Error)
    })
  }

  /**
   * At the cap, the oldest inbound handshake gives way to a newcomer that passed the per-IP rules: an
   * honest handshake takes a round trip or two, so the oldest is most likely a socket held idle. An
   * attacker then has to open `maxPendingHandshakes` sockets within each honest handshake's time to
   * crowd it out, and the per-IP rules make that take many addresses.
   */
  private readonly evictOldest = (): boolean => {
    const oldest = this.inbound.entries().next()
    if (oldest.done === true) return false
    const [stream, ip] = oldest.value
    this.inbound.delete(stream)
    this.limits.release(ip)
    this.evictedHandshakes++
    stream.destroy(new PeerwardenError('ERR_HANDSHAKE_EVICTED', `${this.inbound.size + 1} handshakes in progress: the oldest gave way to a newcomer`))
    return true
  }

  /**
   * The secure stream over a socket. The dialer (initiator) checks the listener's key before it says
   * who it is: not ourselves, and the peer it meant to reach when it named one.
   */
  private secure (initiator: boolean, socket: net.Socket, expected?: PeerId, visit = false, probe = false, nonce?: string): SecureStream {
    socket.setNoDelay(true)
    const stream = new SecureStream(initiator, socket, {
      keys: this.keys,
      psk: this.opts.networkKey.psk,
      payload: () => {
        const remote = socket.remoteAddress ?? ''
        const hello = this.opts.hello(canonicalIp(remote) ?? remote, socket.remotePort)
        return encodeHello(visit || probe ? { ...hello, visit, probe, ...(nonce !== undefined ? { nonce } : {}) } : hello)
      },
      checkRemote: initiator ? (key) => { this.checkRemote(peerIdOf(key), expected) } : undefined,
      clock: this.clock,
      maxQueuedBytes: this.opts.maxQueuedBytes ?? QUEUE_HIGH_BYTES,
      meter: this.meter,
      receiving: this.receiving,
      queueing: this.queueing
    })
    stream.on('error', () => { /* surfaced as 'close'; the manager hears of it through disconnected() */ })
    // What we write in reaction to a read (our next handshake message, the dialer's hello with the
    // application's first messages, a reply with its channel open) leaves in one syscall: the socket
    // is corked until the tick's microtasks drain.
    const cork = new SocketCork(socket)
    socket.prependListener('data', cork.onData)
    onSetupDone(stream, () => { socket.off('data', cork.onData) })
    return stream
  }

  private checkRemote (remote: PeerId, expected: PeerId | undefined): void {
    if (remote === this.localId) throw new PeerwardenError('ERR_SELF_DIAL', 'the remote is ourselves')
    if (expected !== undefined && remote !== expected) {
      throw new PeerwardenError('ERR_PEER_MISMATCH', `the remote is peer ${remote.slice(0, 16)}…, not the expected ${expected.slice(0, 16)}…`)
    }
  }

  /**
   * The handshake (Noise, with both hellos and the network key) under one deadline, then the
   * connection: resolves to the authenticated connection.
   */
  private establish (stream: SecureStream, direction: 'inbound' | 'outbound', address: string): Promise<NodeConnection> {
    const deadline = {
      expire: () => { stream.destroy(new PeerwardenError('ERR_HANDSHAKE_TIMEOUT', `handshake with ${address} not done within ${this.handshakes.ms} ms`)) }
    }
    this.handshakes.add(deadline)
    return stream.opened.then(async () => {
      this.handshakes.delete(deadline)
      const conn = await NodeConnection.open(stream, this.openOptions(direction, address))
      const liveness = direction === 'inbound' ? this.inboundLiveness : this.liveness
      const live = new LiveConnection(conn, liveness)
      liveness.add(live)
      stream.keepAliveListener = live
      stream.once('close', () => { liveness.delete(live) })
      return conn
    }, (err: Error) => {
      this.handshakes.delete(deadline)
      // A refused handshake ends on its own (the remote must read why); never wait on a stalled peer.
      if (stream.ending) this.closing.add({ expire: () => { stream.destroy() } })
      else stream.destroy()
      throw err
    })
  }

  private openOptions (direction: 'inbound' | 'outbound', address: string): OpenOptions {
    return {
      direction,
      address,
      onMessage: this.opts.onMessage,
      farewell: this.opts.farewell,
      closing: this.closing,
      onProtocolError: (conn, why) => {
        this.protocolErrors++
        this.opts.onProtocolError?.(conn, why)
      },
      maxPendingOpens: this.opts.maxPendingOpens,
      maxRemoteChannels: this.opts.maxRemoteChannels,
      maxWriteQueueBytes: this.opts.maxWriteQueueBytes,
      onOverBudget: (_conn, budget) => {
        if (budget === 'write-queue') this.writeBudgetCloses++
        else this.openBudgetCloses++
      }
    }
  }

  private track (socket: net.Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => { this.sockets.delete(socket) })
  }
}
