import type net from 'node:net'
import type { Clock, PeerId } from '../manager/types.js'
import { normaliseHintAddress } from './address.js'
import { CircuitStream } from './circuit.js'
import type { NodeConnection } from './connection.js'
import type { ControlMessage } from './control-wire.js'
import { decodeHello } from './hello.js'
import { simultaneousOpen } from './hole-punch.js'
import { RangeBudget } from './range-budget.js'
import { formatTcpAddress, parseTcpAddress } from './transport.js'
import { canonicalIp, parseIpParts, toIpaddr } from '../manager/canonical-ip.js'

/** Punches in progress at once (a budget: each holds a socket and timers). */
const MAX_PUNCHES = 8
/** Attempts of one punch, and how long each waits for an answer (ms). */
const ATTEMPTS = 5
const ATTEMPT_TIMEOUT = 1_000
/** How long we wait for the other side's 'punch' or 'punch-sync' before giving up (ms). */
const EXCHANGE_TIMEOUT = 10_000
/** Punches toward one address range (an IPv4 /24, an IPv6 /48) per `TARGET_WINDOW`, across relayed connections. */
export const PUNCHES_PER_TARGET_RANGE = 8

/** What hole punching needs of the node. */
export interface PunchHost {
  readonly clock: Clock
  readonly localId: PeerId
  /** The punched socket, as a node connection (see `TcpTransport.upgrade`). */
  upgrade(socket: net.Socket, initiator: boolean, peer: PeerId, address: string): Promise<NodeConnection>
  /** A direct connection made: hand it to the manager, which prefers it to the relayed one. */
  direct(conn: NodeConnection): void
  /** Opens the connection (tests inject a fake); default `simultaneousOpen`. */
  open?: typeof simultaneousOpen
}

interface Punch { conn: NodeConnection; remote?: { host: string; port: number }; sentAt?: number; timer: unknown; dialling?: AbortController }

/**
 * Hole punching through a relay (as libp2p's DCUtR, over TCP): once a relayed connection is kept,
 * both peers try a direct one.
 *
 * Rules:
 * - The side that dialled through the relay starts: it sends 'punch' with the address its NAT maps
 *   its connection to the relay to (what the relay told it in the handshake) and times the round
 *   trip; the other answers 'punch' with its own; the starter sends 'punch-sync' and dials after
 *   half the round trip, the other as soon as 'punch-sync' arrives, so both SYNs cross (TCP
 *   simultaneous open, hole-punch.ts) — each from the local port of its own relay connection, which
 *   its NAT already maps.
 * - The lower peer id runs the Noise handshake as the initiator. The direct connection goes to the
 *   manager, whose duplicate rule keeps it over the relayed one (limited), which is closed.
 * - At `MAX_PUNCHES`, the oldest exchange still waiting for the other side (not dialling) gives way
 *   to a new one: an honest exchange takes a round trip over the relay, so peers that send 'punch'
 *   and never 'punch-sync' cannot hold every place for `EXCHANGE_TIMEOUT`.
 * - Only over a relayed connection, once per connection, `MAX_PUNCHES` at once, and only to a
 *   plain TCP address of the same range as our own mapping (the relay saw both: a peer cannot
 *   make us dial loopback or our own network while the relay saw us on the internet); a symmetric NAT (a new port per destination) makes the punch fail, and the
 *   relayed connection stays.
 * - A punch goes only where the peer plausibly is: when the relay told us where the dialer's
 *   connection comes from ('incoming' with `observed`), the dialer's punch address must be that IP
 *   (its NAT's outside address), or it is ignored (`implausible`) — a peer cannot make us send SYNs
 *   to a third party of its choice. Our own mapping is ignored too (a dial from our port to itself).
 * - Across relayed connections, at most `PUNCHES_PER_TARGET_RANGE` (8) punches a minute toward one
 *   address range (an IPv4 /24, an IPv6 /48); past it a 'punch' is ignored (`overTargetBudget`).
 */
export class Punching {
  /** Punches begun, and how many gave a direct connection. */
  started = 0
  succeeded = 0
  /** Exchanges dropped at `MAX_PUNCHES` for a newer one. */
  gaveWay = 0
  /** 'punch' messages ignored because the address is not where the relay saw the peer. */
  implausible = 0
  /** 'punch' messages ignored because their target range had its punches for the minute. */
  overTargetBudget = 0
  /** Punches toward each target range (local ranges alike: a punch target is never exempt). */
  private readonly targets: RangeBudget
  private readonly punches = new Map<NodeConnection, Punch>()
  private readonly done = new WeakSet<NodeConnection>()
  private closed = false

  constructor (private readonly host: PunchHost) {
    this.targets = new RangeBudget(PUNCHES_PER_TARGET_RANGE, PUNCHES_PER_TARGET_RANGE, host.clock)
  }

  /** A connection the node keeps: when relayed and we dialled it, start. */
  connected (conn: NodeConnection): void {
    if (!conn.limited || conn.direction !== 'outbound') return
    const own = mappedAddress(conn)
    if (own === undefined || !this.begin(conn)) return
    const p = this.punches.get(conn)!
    p.sentAt = this.host.clock.now()
    conn.post({ t: 'punch', address: formatTcpAddress(own.host, own.port) })
  }

  /** 'punch' or 'punch-sync' over a relayed connection. Never throws. */
  message (conn: NodeConnection, msg: ControlMessage): void {
    if (!conn.limited) return
    if (msg.t === 'punch') this.onPunch(conn, msg.address)
    else if (msg.t === 'punch-sync') {
      const p = this.punches.get(conn)
      if (p?.remote !== undefined && p.sentAt === undefined) this.dial(conn, p)
    }
  }

  close (): void {
    this.closed = true
    for (const p of this.punches.values()) {
      this.host.clock.clearTimeout(p.timer)
      p.dialling?.abort()
    }
    this.punches.clear()
  }

  private onPunch (conn: NodeConnection, address: string): void {
    const hint = normaliseHintAddress(address)
    if (hint === undefined || hint.includes('/relay/')) return
    const remote = parseTcpAddress(hint)
    // Both sides' mappings were seen by the same relay: an address of another scope (loopback, our
    // network, link-local while the relay saw us on the internet) is not where the peer is.
    const own = mappedAddress(conn)
    if (own === undefined || scopeOf(remote.host) !== scopeOf(own.host)) return
    const seen = relayObserved(conn)
    if (seen !== undefined && !sameIp(seen, remote.host)) { this.implausible++; return }
    // Our own mapping: the dial would go from our port to itself (a TCP self-connect on a host with no NAT).
    if (remote.port === own.port && sameIp(remote.host, own.host)) { this.implausible++; return }
    if (conn.direction === 'outbound') {
      // The answer: go after half the round trip, and tell the other side to go now.
      const p = this.punches.get(conn)
      if (p?.sentAt === undefined || p.remote !== undefined) return
      if (!this.target(remote.host)) return
      p.remote = { host: remote.host, port: remote.port }
      const rtt = this.host.clock.now() - p.sentAt
      conn.post({ t: 'punch-sync' })
      this.host.clock.clearTimeout(p.timer)
      p.timer = this.host.clock.setTimeout(() => { this.dial(conn, p) }, Math.floor(rtt / 2))
      return
    }
    if (this.done.has(conn) || !this.target(remote.host) || !this.begin(conn)) return
    this.punches.get(conn)!.remote = { host: remote.host, port: remote.port }
    conn.post({ t: 'punch', address: formatTcpAddress(own.host, own.port) })
  }

  /** A punch for `conn` may start: still open (its close handler would run at once), not done before, within the budget. */
  private begin (conn: NodeConnection): boolean {
    if (!conn.open || this.done.has(conn)) return false
    if (this.punches.size >= MAX_PUNCHES && !this.giveWay()) return false
    this.done.add(conn)
    this.started++
    const timer = this.host.clock.setTimeout(() => { this.punches.delete(conn) }, EXCHANGE_TIMEOUT)
    this.punches.set(conn, { conn, timer })
    conn.onClose(() => {
      const p = this.punches.get(conn)
      if (p !== undefined && p.sentAt !== -1) { this.host.clock.clearTimeout(p.timer); this.punches.delete(conn) }
    })
    return true
  }

  /** Counts a punch toward `host`'s range: false (and nothing counted) when the range had its punches this minute. */
  private target (host: string): boolean {
    if (this.targets.take(host, 1) === 0) return true
    this.overTargetBudget++
    return false
  }

  /** Drops the oldest exchange still waiting (not dialling); false when every punch is dialling. */
  private giveWay (): boolean {
    for (const [conn, p] of this.punches) {
      if (p.sentAt === -1) continue
      this.host.clock.clearTimeout(p.timer)
      this.punches.delete(conn)
      this.gaveWay++
      return true
    }
    return false
  }

  private dial (conn: NodeConnection, p: Punch): void {
    this.host.clock.clearTimeout(p.timer)
    p.sentAt = -1 // dialling: the exchange is over
    const local = localPortOf(conn)
    const remote = p.remote!
    if (local === undefined) { this.punches.delete(conn); return }
    const open = this.host.open ?? simultaneousOpen
    const peer = conn.peer
    p.dialling = new AbortController()
    open({ localPort: local, remote, attempts: ATTEMPTS, attemptTimeout: ATTEMPT_TIMEOUT, signal: p.dialling.signal })
      .then(async (socket) => await this.host.upgrade(socket, this.host.localId < peer, peer, formatTcpAddress(remote.host, remote.port)))
      .then((direct) => {
        if (this.closed) { direct.close(); return }
        this.succeeded++
        this.host.direct(direct)
      }, () => { /* the relayed connection stays */ })
      .finally(() => { this.punches.delete(conn) })
  }
}

/** The relay connection a relayed connection runs through. */
function relayOf (conn: NodeConnection): NodeConnection | undefined {
  const socket = conn.stream.socket as unknown
  return socket instanceof CircuitStream ? socket.via : undefined
}

/** Where the relay sees our connection to it (its hello told us): our NAT's mapping of that socket. */
function mappedAddress (conn: NodeConnection): { host: string; port: number } | undefined {
  const relay = relayOf(conn)
  const hello = relay?.stream.remotePayload == null ? null : decodeHello(relay.stream.remotePayload)
  if (hello?.observed === undefined || hello.observedPort === undefined) return undefined
  return { host: canonicalIp(hello.observed) ?? hello.observed, port: hello.observedPort }
}

/** The IP a relayed connection's other end comes from, as the relay saw it (its 'incoming'); undefined when not told. */
function relayObserved (conn: NodeConnection): string | undefined {
  const socket = conn.stream.socket as unknown
  const ip = socket instanceof CircuitStream ? socket.relayObserved : undefined
  return ip === undefined ? undefined : canonicalIp(ip) ?? ip
}

/** The same IP, however written (`canonicalIp`: an IPv4 address written as IPv6 is IPv4). */
function sameIp (a: string, b: string): boolean {
  const c = canonicalIp(a)
  return c !== undefined && c === canonicalIp(b)
}

/** The range of an IP (ipaddr.js: 'unicast', 'private', 'loopback', …), in its canonical form (`canonicalIp`). */
function scopeOf (ip: string): string {
  const parts = parseIpParts(ip)
  return parts === undefined ? 'invalid' : toIpaddr(parts).range()
}

/** The local port of our connection to the relay: the punch dials from it (its NAT mapping exists). */
function localPortOf (conn: NodeConnection): number | undefined {
  return (relayOf(conn)?.stream.socket as net.Socket | undefined)?.localPort
}
