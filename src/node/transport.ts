import net from 'node:net'
import SecretStream from '@hyperswarm/secret-stream'
import { PeerwardenError } from '../errors.js'
import type { PeerId } from '../manager/types.js'
import { NodeConnection, type ControlMessage, type Hello, type OpenOptions } from './connection.js'
import { DeadlineQueue } from './deadlines.js'
import { flushSocketAtEndOfTick, onSetupDone, type Corked } from './end-of-tick.js'
import type { KeyPair } from './identity.js'
import { peerIdOf } from './identity.js'
import type { NetworkKey } from './network-key.js'

export interface TransportOptions {
  keyPair: KeyPair
  networkKey: NetworkKey
  /** What we tell peers in the hello (listen addresses, rendezvous service). */
  hello: () => Omit<Hello, 'proof' | 'v'>
  /** Gate before any expensive work: false refuses the socket at once (deny list, limits). */
  gate: (address: string) => boolean
  /** An authenticated inbound connection, ready for the manager. */
  onInbound: (conn: NodeConnection) => void
  onMessage: (conn: NodeConnection, msg: ControlMessage) => void
  /** Application protocols the node serves (see NodeConnection.open). */
  protocols?: () => Iterable<string>
  /** An inbound connection failed before it was authenticated (Noise, network key, deadline). */
  onError?: (address: string, error: Error) => void
  /** Handshake (Noise + hello) deadline. Default 10_000. */
  handshakeTimeout?: number
  /** A keep-alive is sent on an idle connection this often. Default 5_000. */
  keepAlive?: number
  /** A connection that receives nothing for this long is dead (peer vanished without FIN). Default 20_000. */
  deadTimeout?: number
  /** Inbound handshakes in progress at most. Default 32. */
  maxPendingHandshakes?: number
  /** New inbound sockets per remote IP per second at most (loopback is exempt). Default 10. */
  perIpRate?: number
}

/** 'tcp://host:port' (optionally '#<peerId>') → its parts. */
export function parseTcpAddress (address: string): { host: string; port: number; peer?: PeerId } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/#]+):(\d+)(?:#([0-9a-f]{64}))?$/i.exec(address)
  if (m === null) throw PeerwardenError.invalid(`not a tcp address: ${JSON.stringify(address)} (expected tcp://host:port or tcp://host:port#<peerId>)`)
  const port = Number(m[2])
  if (port < 0 || port > 65535) throw PeerwardenError.invalid(`port out of range in ${address}`)
  return { host: m[1].replace(/^\[|\]$/g, ''), port, peer: m[3]?.toLowerCase() }
}

export function formatTcpAddress (host: string, port: number): string {
  return host.includes(':') ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`
}

/**
 * TCP + Noise XX (ed25519) transport.
 *
 * Rules:
 * - Inbound: the gate (deny list), a per-IP rate limit and a cap on handshakes in progress run before
 *   any cryptography; a refused socket is destroyed at once. Then Noise, then the hello with the
 *   network-key proof, then `onInbound`.
 * - Noise roles are the reverse of TCP's: the side that accepted the socket is the Noise initiator.
 *   It completes the handshake first and sends its hello with Noise's last message, so the dialer
 *   checks it as soon as its own handshake completes and sends its hello together with whatever the
 *   application sends at once: the first application round trip takes one trip less than with the
 *   dialer as initiator (who would wait for the listener's hello before anything else).
 * - Outbound: `dial(address, { peer, signal })` resolves once authenticated; with an expected peer id
 *   (from the dial or the address's '#<id>'), a different remote key fails with `ERR_PEER_MISMATCH`;
 *   dialling ourselves fails with `ERR_SELF_DIAL`. The signal aborts at any point.
 * - Keep-alive: every connection sends a heartbeat when idle and is destroyed when it hears nothing
 *   for `deadTimeout`, so a peer that vanishes without FIN is noticed.
 */
export class TcpTransport {
  readonly servers: net.Server[] = []
  private readonly localId: PeerId
  private pending = 0
  /** Inbound sockets refused before any cryptography (gate, rate limit, pending cap). */
  refusedEarly = 0
  /** Inbound connections that failed Noise, the hello, the network key or the deadline (garbage included). */
  failedHandshakes = 0
  private readonly rate = new Map<string, { at: number; n: number }>()
  private readonly sockets = new Set<net.Socket>()
  /** Handshakes in progress (both directions), on one shared timer. */
  private readonly handshakes: DeadlineQueue
  /** Connections ending gracefully: destroyed if the peer has not finished the close within 2 s. */
  private readonly closing = new DeadlineQueue(2_000)

  constructor (private readonly opts: TransportOptions) {
    this.localId = peerIdOf(opts.keyPair.publicKey)
    this.handshakes = new DeadlineQueue(opts.handshakeTimeout ?? 10_000)
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

  async dial (address: string, opts: { peer?: PeerId; signal: AbortSignal }): Promise<NodeConnection> {
    const { host, port, peer: fromAddress } = parseTcpAddress(address)
    const expected = opts.peer ?? fromAddress
    if (expected === this.localId) throw new PeerwardenError('ERR_SELF_DIAL', 'refusing to dial ourselves')
    opts.signal.throwIfAborted()
    const socket = net.connect({ host, port })
    this.track(socket)
    const abort = (): void => { socket.destroy(opts.signal.reason as Error) }
    opts.signal.addEventListener('abort', abort, { once: true })
    try {
      // The address as dialled, so the manager files the connection under the peer it dialled.
      return await this.establish(this.secure(false, socket), 'outbound', address, expected)
    } catch (err) {
      // establish() has already torn the stream down (at once, or gracefully after a network key mismatch).
      if (opts.signal.aborted) throw new PeerwardenError('ERR_ABORTED', `dial to ${address} aborted`, { cause: err })
      throw err instanceof PeerwardenError ? err : new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      opts.signal.removeEventListener('abort', abort)
    }
  }

  /** Inbound handshakes in progress. */
  get pendingHandshakes (): number { return this.pending }

  async close (): Promise<void> {
    await Promise.all(this.servers.map(async (s) => await new Promise<void>((resolve) => { s.close(() => { resolve() }) })))
    for (const s of this.sockets) s.destroy()
    this.handshakes.clear()
    this.closing.clear()
  }

  private accept (socket: net.Socket): void {
    this.track(socket)
    const ip = socket.remoteAddress ?? ''
    const address = formatTcpAddress(ip.replace(/^::ffff:/, ''), socket.remotePort ?? 0)
    if (!this.opts.gate(address) || !this.withinRate(ip) || this.pending >= (this.opts.maxPendingHandshakes ?? 32)) {
      this.refusedEarly++
      socket.destroy()
      return
    }
    this.pending++
    this.establish(this.secure(true, socket), 'inbound', address, undefined).then((conn) => {
      this.pending--
      this.opts.onInbound(conn)
    }, (err) => {
      this.pending--
      this.failedHandshakes++
      this.opts.onError?.(address, err as Error)
    })
  }

  private secure (initiator: boolean, socket: net.Socket): SecretStream {
    socket.setNoDelay(true)
    const stream = new SecretStream(initiator, socket, { keyPair: this.opts.keyPair })
    stream.on('error', () => { /* surfaced as 'close'; the manager hears of it through disconnected() */ })
    // What we write in reaction to a read (Noise's next message and header with our hello, a reply with
    // its channel open) leaves in one syscall: the socket is corked until the tick's microtasks drain.
    const cork = new SocketCork(socket)
    socket.prependListener('data', cork.onData)
    onSetupDone(stream, () => { socket.off('data', cork.onData) })
    return stream
  }

  /**
   * Noise, then the control handshake (hello with the network-key proof), under one deadline: resolves
   * to the authenticated connection. An outbound connection must lead to `expected` (when given) and
   * not to ourselves.
   */
  private establish (stream: SecretStream, direction: 'inbound' | 'outbound', address: string, expected: PeerId | undefined): Promise<NodeConnection> {
    return new Promise<NodeConnection>((resolve, reject) => {
      let noiseDone = false
      let settled = false
      const settle = (): boolean => {
        if (settled) return false
        settled = true
        this.handshakes.delete(deadline)
        stream.off('close', onEarlyClose)
        return true
      }
      const fail = (err: Error): void => {
        if (!settle()) return
        stream.destroy()
        reject(err)
      }
      const deadline = {
        expire: () => {
          fail(new PeerwardenError('ERR_HANDSHAKE_TIMEOUT', noiseDone
            ? `no control handshake from ${address} within ${this.handshakes.ms} ms`
            : `Noise handshake not done within ${this.handshakes.ms} ms`))
        }
      }
      const onEarlyClose = (): void => {
        fail(new PeerwardenError('ERR_CONNECTION_CLOSED', noiseDone
          ? `${address} closed the connection during the handshake`
          : 'the connection closed during the Noise handshake'))
      }
      this.handshakes.add(deadline)
      stream.once('close', onEarlyClose)
      stream.opened.then((ok) => {
        if (settled) return
        if (!ok) { fail(new PeerwardenError('ERR_HANDSHAKE', 'the Noise handshake failed')); return }
        noiseDone = true
        if (direction === 'outbound') {
          const remote = peerIdOf(stream.remotePublicKey!)
          if (remote === this.localId) { fail(new PeerwardenError('ERR_SELF_DIAL', `${address} is ourselves`)); return }
          if (expected !== undefined && remote !== expected) {
            fail(new PeerwardenError('ERR_PEER_MISMATCH', `${address} is peer ${remote.slice(0, 16)}…, not the expected ${expected.slice(0, 16)}…`))
            return
          }
        }
        stream.setKeepAlive(this.opts.keepAlive ?? 5_000)
        stream.setTimeout(this.opts.deadTimeout ?? 20_000)
        NodeConnection.open(stream, this.openOptions(direction, address)).then((conn) => {
          if (settle()) resolve(conn)
        }, (err: Error) => {
          // A network key mismatch ends the stream itself (gracefully): do not cut it short here.
          if (settle()) reject(err)
        })
      }, fail)
    })
  }

  private openOptions (direction: 'inbound' | 'outbound', address: string): OpenOptions {
    return {
      direction,
      address,
      networkKey: this.opts.networkKey,
      hello: this.opts.hello(),
      onMessage: this.opts.onMessage,
      protocols: this.opts.protocols,
      closing: this.closing
    }
  }

  private withinRate (ip: string): boolean {
    // Every local peer shares the loopback address: rate-limiting it would only throttle our own network.
    if (ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1') return true
    const now = Date.now()
    const limit = this.opts.perIpRate ?? 10
    const r = this.rate.get(ip)
    if (r === undefined || now - r.at >= 1000) {
      this.rate.set(ip, { at: now, n: 1 })
      if (this.rate.size > 4096) this.rate.clear()
      return true
    }
    r.n++
    return r.n <= limit
  }

  private track (socket: net.Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => { this.sockets.delete(socket) })
  }
}

/** Corks a socket for the rest of the tick in which data arrived (see `flushSocketAtEndOfTick`). */
class SocketCork implements Corked {
  private corked = false
  constructor (private readonly socket: net.Socket) {}

  readonly onData = (): void => {
    if (this.corked) return
    this.corked = true
    this.socket.cork()
    flushSocketAtEndOfTick(this)
  }

  flushCork (): void {
    this.corked = false
    this.socket.uncork()
  }
}
