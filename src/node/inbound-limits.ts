import { canonicalIp, formatIpParts, parseIpParts } from '../manager/canonical-ip.js'

/** Why an inbound socket was refused before any cryptography (see `InboundLimits.admit`). */
export type InboundRefusal = 'rate' | 'pending-ip' | 'pending'

export interface InboundLimitsOptions {
  /** New sockets per source per second at most. */
  perIpRate: number
  /** Handshakes in progress at most, all sources together. */
  maxPending: number
  /** Handshakes in progress at most from one source. */
  maxPendingPerIp: number
  /** Sources whose rate window is remembered at most (the least recently seen are forgotten first). */
  maxTrackedIps: number
}

/** The default `maxPendingPerIp`: an eighth of the global cap, at least 1 (4 of the default 32). */
export function defaultPendingPerIp (maxPending: number): number {
  return Math.max(1, Math.floor(maxPending / 8))
}

/**
 * The source an inbound socket is counted under: the IPv4 address (an IPv4 address written as IPv6,
 * in any spelling, is its IPv4 address: `canonicalIp`), or the /64 of an IPv6 address — one host
 * usually holds a whole /64, so counting single IPv6 addresses would give it 2^64 budgets.
 */
export function sourceOf (ip: string): string {
  const parts = parseIpParts(ip)
  if (parts === undefined) return ip
  if (parts.kind === 'ipv4') return formatIpParts(parts)
  return parts.parts.slice(0, 4).map((p) => p.toString(16)).join(':') + '::/64'
}

/**
 * Admission of inbound sockets before any cryptography: per-source rate, per-source and global
 * budgets of handshakes in progress. One host opening idle sockets can hold at most
 * `maxPendingPerIp` of the `maxPending` slots, whatever its rate.
 *
 * Rules:
 * - `admit(ip)` checks, in order: the source's rate (at most `perIpRate` new sockets in a window of
 *   1 s that starts with the first socket after the previous window ended), the source's handshakes
 *   in progress (< `maxPendingPerIp`), and all handshakes in progress (< `maxPending`). It returns
 *   the first rule that refuses, or null and reserves a slot that `release(ip)` frees (once per
 *   admitted socket, when its handshake ends either way). At the global cap a socket that passed the
 *   per-source rules may take the slot of the oldest handshake: `evictOldest` ends that one and
 *   releases its slot at once (true), or there is none to give way (false: refused, 'pending').
 * - 127.0.0.1 and ::1 are exempt from the per-source rules only (`isLoopback`).
 * - Bounded tables: the rate windows of at most `maxTrackedIps` sources, the least recently seen
 *   evicted first (forgetting a source only forgets its own window, never everyone's); the
 *   per-source pending counts hold only sources with a handshake in progress (at most `maxPending`).
 */
export class InboundLimits {
  private readonly windows = new Map<string, { at: number; n: number }>()
  private readonly pendingBy = new Map<string, number>()
  private total = 0

  constructor (readonly opts: InboundLimitsOptions, private readonly now: () => number) {}

  /** Handshakes in progress. */
  get pending (): number { return this.total }

  /** Sources with a rate window remembered (bounded by `maxTrackedIps`). */
  get trackedIps (): number { return this.windows.size }

  /** Sources with a handshake in progress. */
  get pendingIps (): number { return this.pendingBy.size }

  admit (ip: string, evictOldest?: () => boolean): InboundRefusal | null {
    const source = sourceOf(ip)
    const exempt = isLoopback(ip)
    if (!exempt && !this.withinRate(source)) return 'rate'
    if (!exempt && (this.pendingBy.get(source) ?? 0) >= this.opts.maxPendingPerIp) return 'pending-ip'
    if (this.total >= this.opts.maxPending && (evictOldest === undefined || !evictOldest())) return 'pending'
    this.total++
    this.pendingBy.set(source, (this.pendingBy.get(source) ?? 0) + 1)
    return null
  }

  release (ip: string): void {
    const source = sourceOf(ip)
    const mine = this.pendingBy.get(source)
    if (mine === undefined) return
    this.total--
    if (mine <= 1) this.pendingBy.delete(source)
    else this.pendingBy.set(source, mine - 1)
  }

  private withinRate (source: string): boolean {
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
    return w.n <= this.opts.perIpRate
  }
}

/**
 * Every local peer shares the loopback address, so 127.0.0.1 and ::1 (in any spelling: `canonicalIp`)
 * are exempt from the per-source rules; the global cap still holds. The rest of 127/8 is counted like
 * any address (which also lets tests attack from 127.0.0.2).
 */
export function isLoopback (ip: string): boolean {
  if (ip === '127.0.0.1' || ip === '::1') return true
  const c = canonicalIp(ip)
  return c === '127.0.0.1' || c === '::1'
}
