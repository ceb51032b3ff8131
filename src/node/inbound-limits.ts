import { formatIpParts, isLoopback, parseIpParts, sourceOf, sourceOfParts, toIpaddr, type IpParts } from '../manager/canonical-ip.js'

// Where an IP is counted, and which are exempt: shared with the dashboard's socket budget.
export { isLoopback, sourceOf }

/** Why an inbound socket was refused before any cryptography (see `InboundLimits.admit`). */
export type InboundRefusal = 'rate' | 'rate-range' | 'rate-all' | 'pending-ip' | 'pending-range' | 'pending'

export interface InboundLimitsOptions {
  /** New sockets per source per second at most. */
  perIpRate: number
  /** Handshakes in progress at most, all sources together. */
  maxPending: number
  /** Handshakes in progress at most from one source. */
  maxPendingPerIp: number
  /** Sources whose rate window is remembered at most (the least recently seen are forgotten first). */
  maxTrackedIps: number
  /** New sockets per second at most, all sources but 127.0.0.1 and ::1 together. Default `defaultHandshakeRate(maxPending)`. */
  maxRate?: number
}

/** A node begins at most this many times `maxPendingHandshakes` inbound handshakes a second (see `InboundLimits`). */
export const ALL_RATE_FACTOR = 8

/** The default rate of inbound handshakes begun in all: 8 × `maxPendingHandshakes` a second (256 of the default 32). */
export function defaultHandshakeRate (maxPending: number): number {
  return ALL_RATE_FACTOR * maxPending
}

/** The default `maxPendingPerIp`: an eighth of the global cap, at least 1 (4 of the default 32). */
export function defaultPendingPerIp (maxPending: number): number {
  return Math.max(1, Math.floor(maxPending / 8))
}

/** A public source range has this many times `perIpRate` (see `InboundLimits`). */
export const RANGE_RATE_FACTOR = 4
/** A public source range has this many times `maxPendingPerIp` (see `InboundLimits`). */
export const RANGE_PENDING_FACTOR = 2

/**
 * The public range an inbound socket is also counted under: the /24 of a public IPv4 address, the
 * /48 of a public IPv6 one (any spelling: `canonicalIp`); undefined for loopback, private,
 * link-local and other non-public addresses (one machine or one LAN: exempt).
 */
export function publicRangeOf (ip: string): string | undefined {
  const parts = parseIpParts(ip)
  return parts === undefined ? undefined : publicRangeOfParts(parts)
}

function publicRangeOfParts (parts: IpParts): string | undefined {
  if (parts.kind === 'ipv4') {
    const prefix = parts.octets.slice(0, 3).join('.')
    let pub = publicV4.get(prefix)
    if (pub === undefined) {
      if (publicV4.size >= 4096) publicV4.clear()
      // Every special IPv4 range is a /24 or wider: the /24 decides.
      publicV4.set(prefix, pub = toIpaddr(parts).range() === 'unicast')
    }
    return pub ? `range:${prefix}` : undefined
  }
  if (toIpaddr(parts).range() !== 'unicast') return undefined
  return `range:${parts.parts.slice(0, 3).map((p) => p.toString(16)).join(':')}::/48`
}

/** Whether a /24 is public unicast, by its first three octets (at most 4,096 remembered, then forgotten all at once). */
const publicV4 = new Map<string, boolean>()

/**
 * Admission of inbound sockets before any cryptography: per-source rate, per-source and global
 * budgets of handshakes in progress. One host opening idle sockets can hold at most
 * `maxPendingPerIp` of the `maxPending` slots, whatever its rate.
 *
 * Rules:
 * - `admit(ip)` checks, in order: the source's rate (at most `perIpRate` new sockets in a window of
 *   1 s that starts with the first socket after the previous window ended), the source's handshakes
 *   in progress (< `maxPendingPerIp`), and all handshakes in progress (< `maxPending`). A source with
 *   a public address is counted under its range too (`publicRangeOf`: its /24 or /48), which has
 *   `RANGE_RATE_FACTOR` (4) times `perIpRate` ('rate-range') and `RANGE_PENDING_FACTOR` (2) times
 *   `maxPendingPerIp` ('pending-range'): 256 addresses of one /24 take no more than four of its
 *   hosts could at the per-IP rules (checked after the source's own rule of each kind). Then all
 *   sources together: at most `maxRate` new sockets a second ('rate-all', default 8 ×
 *   `maxPending`: 256). The listener's first handshake message costs it an ephemeral key pair and
 *   two X25519 operations (~300–600 µs on a loaded 2-core machine) while the dialer's first message
 *   can be replayed for nothing: 100 addresses, each within its own rate, made a node do that 1,000
 *   times a second. It returns
 *   the first rule that refuses, or null and reserves a slot that `release(ip)` frees (once per
 *   admitted socket, when its handshake ends either way). At the global cap a socket that passed the
 *   per-source rules may take the slot of the oldest handshake: `evictOldest` ends that one and
 *   releases its slot at once (true), or there is none to give way (false: refused, 'pending').
 * - 127.0.0.1 and ::1 are exempt from the per-source rules and the rate in all (`isLoopback`: the
 *   operator's own processes; the cap of handshakes in progress still holds); loopback, private and
 *   other non-public addresses from the per-range ones.
 * - Bounded tables: the rate windows of at most `maxTrackedIps` sources, the least recently seen
 *   evicted first (forgetting a source only forgets its own window, never everyone's), ranges
 *   included; the per-source and per-range pending counts hold only those with a handshake in
 *   progress (at most 2 × `maxPending`).
 */
export class InboundLimits {
  private readonly windows = new Map<string, { at: number; n: number }>()
  private readonly pendingBy = new Map<string, number>()
  private total = 0
  /** The window of the rate in all: when it began, and the sockets it counted. */
  private all = { at: -Infinity, n: 0 }
  /** Of the rate in all. */
  private readonly maxRate: number

  constructor (readonly opts: InboundLimitsOptions, private readonly now: () => number) {
    this.maxRate = opts.maxRate ?? defaultHandshakeRate(opts.maxPending)
  }

  /** Handshakes in progress. */
  get pending (): number { return this.total }

  /** Sources and public ranges with a rate window remembered (bounded by `maxTrackedIps`). */
  get trackedIps (): number { return this.windows.size }

  /** Sources and public ranges with a handshake in progress. */
  get pendingIps (): number { return this.pendingBy.size }

  admit (ip: string, evictOldest?: () => boolean): InboundRefusal | null {
    const { maxPendingPerIp, perIpRate } = this.opts
    const { source, exempt, range } = ipKeys(ip)
    if (!exempt && !this.withinRate(source, perIpRate)) return 'rate'
    if (range !== undefined && !this.withinRate(range, RANGE_RATE_FACTOR * perIpRate)) return 'rate-range'
    if (!exempt && !this.withinAllRate()) return 'rate-all'
    if (!exempt && (this.pendingBy.get(source) ?? 0) >= maxPendingPerIp) return 'pending-ip'
    if (range !== undefined && (this.pendingBy.get(range) ?? 0) >= RANGE_PENDING_FACTOR * maxPendingPerIp) return 'pending-range'
    if (this.total >= this.opts.maxPending && (evictOldest === undefined || !evictOldest())) return 'pending'
    this.total++
    this.pendingBy.set(source, (this.pendingBy.get(source) ?? 0) + 1)
    if (range !== undefined) this.pendingBy.set(range, (this.pendingBy.get(range) ?? 0) + 1)
    return null
  }

  release (ip: string): void {
    const { source, range } = ipKeys(ip)
    if (!this.pendingBy.has(source)) return
    this.total--
    this.drop(source)
    if (range !== undefined) this.drop(range)
  }

  /** One handshake of `key` (a source or a range) ended. */
  private drop (key: string): void {
    const n = this.pendingBy.get(key)
    if (n === undefined) return
    if (n <= 1) this.pendingBy.delete(key)
    else this.pendingBy.set(key, n - 1)
  }

  /** Counts a socket in the rate in all (windows of 1 s, as a source's). */
  private withinAllRate (): boolean {
    const now = this.now()
    if (now - this.all.at >= 1000) this.all = { at: now, n: 0 }
    return ++this.all.n <= this.maxRate
  }

  private withinRate (source: string, limit: number): boolean {
    const now = this.now()
    const w = this.windows.get(source)
    // Re-inserted on every socket: the Map's order is least recently seen first.
    this.windows.delete(source)
    if (w === undefined || now - w.at >= 1000) {
      this.windows.set(source, { at: now, n: 1 })
      if (this.windows.size > this.opts.maxTrackedIps) this.windows.delete(this.windows.keys().next().value!)
      return true
    }
    w.n++
    this.windows.set(source, w)
    return w.n <= limit
  }
}

/**
 * What an IP is counted under, by every budget per source (inbound sockets, hints, failed dials):
 * its source, whether it is loopback (`isLoopback`: exempt), its public range, and whether it is an
 * IP literal at all (a host name is its own source, with no range).
 */
export interface IpKeys { source: string; exempt: boolean; range: string | undefined; literal: boolean }

/** The keys of the IPs seen lately: a socket's `admit` and `release` (and a source's next sockets) parse its IP once. */
const keysCache = new Map<string, IpKeys>()

/** `ip`'s keys: from one parse, remembered (at most 4,096 IPs, then forgotten all at once). */
export function ipKeys (ip: string): IpKeys {
  let k = keysCache.get(ip)
  if (k === undefined) {
    if (keysCache.size >= 4096) keysCache.clear()
    // One parse for all three.
    const parts = parseIpParts(ip)
    if (parts === undefined) {
      k = { source: ip, exempt: false, range: undefined, literal: false }
    } else {
      const source = sourceOfParts(parts)
      const exempt = source === '127.0.0.1' || (parts.kind === 'ipv6' && formatIpParts(parts) === '::1')
      k = { source, exempt, range: exempt ? undefined : publicRangeOfParts(parts), literal: true }
    }
    keysCache.set(ip, k)
  }
  return k
}
