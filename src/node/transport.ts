import net from 'node:net'
import type { Duplex } from 'node:stream'
import { PeerwardenError } from '../errors.js'
import * as check from '../manager/validate.js'
import { systemClock } from '../clock.js'
import type { Clock, PeerId } from '../manager/types.js'
import type { NodeConnection } from './connection.js'
import { dialError } from './dial-error.js'
import { onSetupDone } from './end-of-tick.js'
import { encodeHello } from './hello.js'
import { peerIdOf } from './identity.js'
import { Establishment } from './establish.js'
import { InboundGate } from './inbound-gate.js'
import { staticKeys, type StaticKeys } from './noise.js'
import { DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_RECEIVING_BYTES, ReceiveBudget } from './receive-budget.js'
import { DEFAULT_MAX_QUEUED_BYTES_TOTAL, QueueBudget } from './queue-budget.js'
import { QUEUE_HIGH_BYTES, SecureStream, type ReadMeter } from './secure-stream.js'
import { SocketCork } from './socket-cork.js'
import { peerSource } from './peer-source.js'
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
 * - Inbound (inbound-gate.ts): the deny list, then the budgets of inbound-limits.ts run before any cryptography:
 *   a per-IP rate (`perIpRate`), handshakes in progress per IP (`maxPendingPerIp`, so one host holding
 *   idle sockets keeps at most that share of the slots) and in all (`maxPendingHandshakes`, where the
 *   oldest handshake gives way to a newcomer that passed the per-IP rules, so many hosts holding idle
 *   sockets cannot keep an honest peer out either); a refused socket is destroyed at once and counted
 *   by rule (`stats()`). Then the Noise handshake, which carries both hellos and checks the network
 *   key, under `handshakeTimeout` (establish.ts), then `onInbound`.
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
  /** Inbound connections that failed Noise, the hello, the network key or the deadline (garbage included). */
  failedHandshakes = 0
  /** Inbound admission before any cryptography, and the handshakes in progress (inbound-gate.ts). */
  private readonly gate: InboundGate<SecureStream>
  /** The read-side figures of every stream (secure-stream.ts). */
  private readonly meter: ReadMeter = { queuedBytes: 0, discardedBytes: 0, queuePauses: 0, receivingBytes: 0 }
  /** Partly received frames, all streams together: `maxReceivingBytes` and `frameTimeout` (receive-budget.ts). */
  private readonly receiving: ReceiveBudget
  /** Bytes queued both ways, all streams together: `maxQueuedBytesTotal` (queue-budget.ts). */
  private readonly queueing: QueueBudget
  private readonly sockets = new Set<net.Socket>()
  /** From a stream in its handshake to a live connection, and the graceful ends (establish.ts). */
  private readonly setup: Establishment
  private readonly keys: StaticKeys
  private readonly clock: Clock

  constructor (private readonly opts: TransportOptions) {
    this.localId = peerIdOf(opts.keyPair.publicKey)
    this.keys = staticKeys(opts.keyPair)
    const clock = this.clock = opts.clock ?? systemClock
    this.setup = new Establishment(opts, clock)
    this.gate = new InboundGate(opts, clock)
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
      return await this.setup.establish(this.secure(true, socket, expected, opts.visit === true, opts.probe === true, opts.nonce), 'outbound', address)
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
      const conn = await this.setup.establish(this.secure(true, stream as unknown as net.Socket, opts.peer), 'outbound', address)
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
    this.setup.establish(this.secure(false, stream as unknown as net.Socket), 'inbound', address).then((conn) => {
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
    const conn = await this.setup.establish(this.secure(initiator, socket, initiator ? peer : undefined), initiator ? 'outbound' : 'inbound', address)
    if (conn.peer !== peer) {
      conn.close('protocol')
      throw new PeerwardenError('ERR_PEER_MISMATCH', `the punched connection reached ${conn.peer.slice(0, 16)}…, not ${peer.slice(0, 16)}…`)
    }
    return conn
  }

  /** Inbound handshakes in progress. */
  get pendingHandshakes (): number { return this.gate.pending }

  stats (): TransportStats {
    return {
      ...this.gate.stats(),
      failedHandshakes: this.failedHandshakes,
      protocolErrors: this.setup.protocolErrors,
      queuedBytes: this.meter.queuedBytes,
      discardedBytes: this.meter.discardedBytes,
      queuePauses: this.meter.queuePauses,
      receivingBytes: this.meter.receivingBytes,
      openBudgetCloses: this.setup.openBudgetCloses,
      writeBudgetCloses: this.setup.writeBudgetCloses,
      receiveBudgetCloses: this.receiving.overBudgetCloses,
      receiveSourceBudgetCloses: this.receiving.sourceBudgetCloses,
      frameTimeouts: this.receiving.frameTimeouts,
      queueHoldingBytes: this.queueing.holding,
      queueBudgetCloses: this.queueing.overBudgetCloses
    }
  }

  async close (): Promise<void> {
    await Promise.all(this.servers.map(async (s) => await new Promise<void>((resolve) => { s.close(() => { resolve() }) })))
    for (const s of this.sockets) s.destroy()
    this.gate.clear()
    this.setup.clear()
    this.receiving.clear()
    this.queueing.clear()
  }

  private accept (socket: net.Socket): void {
    this.track(socket)
    const ip = socket.remoteAddress ?? ''
    const address = formatTcpAddress(canonicalIp(ip) ?? ip, socket.remotePort ?? 0)
    const refusal = this.gate.admit(ip, this.opts.gate(address))
    if (refusal !== null) {
      socket.destroy()
      this.opts.onRefused?.(address, refusal)
      return
    }
    const stream = this.secure(false, socket)
    this.gate.hold(stream, ip)
    this.setup.establish(stream, 'inbound', address).then((conn) => {
      this.gate.settle(stream)
      this.opts.onInbound(conn)
    }, (err) => {
      this.gate.settle(stream)
      this.failedHandshakes++
      this.opts.onError?.(address, err as Error)
    })
  }

  /**
   * The secure stream over a socket. The dialer (initiator) checks the listener's key before it says
   * who it is: not ourselves, and the peer it meant to reach when it named one.
   */
  private secure (initiator: boolean, socket: net.Socket, expected?: PeerId, visit = false, probe = false, nonce?: string): SecureStream {
    socket.setNoDelay(true)
    // A relayed stream has no address of its own: it counts in the total only (its relay's budgets hold).
    const ip = socket.remoteAddress
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
      receivingSource: ip === undefined ? undefined : peerSource(formatTcpAddress(canonicalIp(ip) ?? ip, socket.remotePort ?? 0)),
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

  private track (socket: net.Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => { this.sockets.delete(socket) })
  }
}
