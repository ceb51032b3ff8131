import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { defaultHandshakeRate, defaultPendingPerIp, InboundLimits, type InboundRefusal } from './inbound-limits.js'
import type { TransportOptions, TransportStats } from './transport-options.js'

/** What a stream in an inbound handshake must offer the gate: a way to end it when it gives way. */
interface Pending { destroy(err?: Error): void }

/** The gate's figures, as `TransportStats` names them. */
export type InboundGateStats = Pick<TransportStats,
'refusedEarly' | 'refusedRate' | 'refusedPerIp' | 'refusedPerRange' | 'refusedHandshakeRate' | 'refusedPending' | 'evictedHandshakes' | 'pendingHandshakes'>

/**
 * The transport's inbound admission before any cryptography (inbound-limits.ts holds the budgets),
 * with the inbound handshakes in progress and the figures of what it refused.
 *
 * Rules:
 * - `admit` runs the access list's verdict (`allowed`), then the per-IP rate, the handshakes in
 *   progress per IP and per public range, the rate in all and the cap in all; a refusal is counted
 *   by rule, and the caller destroys the socket at once.
 * - At the cap, the oldest inbound handshake gives way to a newcomer that passed the per-IP rules:
 *   an honest handshake takes a round trip or two, so the oldest is most likely a socket held idle.
 *   An attacker then has to open `maxPendingHandshakes` sockets within each honest handshake's time
 *   to crowd it out, and the per-IP rules make that take many addresses.
 * - An admitted stream is `hold`-ed until its handshake settles (`settle`), whichever way.
 */
export class InboundGate<S extends Pending> {
  private readonly limits: InboundLimits
  /** Inbound handshakes in progress and their remote IP, oldest first (the first to give way at the cap). */
  private readonly inbound = new Map<S, string>()
  private readonly counts: Omit<InboundGateStats, 'pendingHandshakes'> = {
    refusedEarly: 0,
    refusedRate: 0,
    refusedPerIp: 0,
    refusedPerRange: 0,
    refusedHandshakeRate: 0,
    refusedPending: 0,
    evictedHandshakes: 0
  }

  /** Reads (and checks) the budget options of `opts`. */
  constructor (opts: TransportOptions, clock: Clock) {
    const maxPending = check.int('maxPendingHandshakes', opts.maxPendingHandshakes ?? 32)
    this.limits = new InboundLimits({
      perIpRate: check.int('perIpRate', opts.perIpRate ?? 10),
      maxPending,
      maxPendingPerIp: check.int('maxPendingPerIp', opts.maxPendingPerIp ?? defaultPendingPerIp(maxPending)),
      maxTrackedIps: check.int('maxTrackedIps', opts.maxTrackedIps ?? 4096, 1),
      maxRate: check.int('maxHandshakeRate', opts.maxHandshakeRate ?? defaultHandshakeRate(maxPending), 1)
    }, () => clock.now())
  }

  /** Whether a socket from `ip` may begin a handshake (`allowed`: the access list's verdict): null, or why not (counted). */
  admit (ip: string, allowed: boolean): InboundRefusal | 'gate' | null {
    const refusal: InboundRefusal | 'gate' | null = allowed ? this.limits.admit(ip, this.evictOldest) : 'gate'
    if (refusal === null) return null
    const n = this.counts
    n.refusedEarly++
    if (refusal === 'rate' || refusal === 'rate-range' || refusal === 'rate-all') n.refusedRate++
    if (refusal === 'rate-all') n.refusedHandshakeRate++
    else if (refusal === 'pending-ip' || refusal === 'pending-range') n.refusedPerIp++
    if (refusal === 'rate-range' || refusal === 'pending-range') n.refusedPerRange++
    else if (refusal === 'pending') n.refusedPending++
    return refusal
  }

  /** An admitted socket's stream, in its handshake from `ip`. */
  hold (stream: S, ip: string): void { this.inbound.set(stream, ip) }

  /** Its handshake settled (or it gave way already: nothing to release). */
  settle (stream: S): void {
    const ip = this.inbound.get(stream)
    if (ip !== undefined && this.inbound.delete(stream)) this.limits.release(ip)
  }

  /** Inbound handshakes in progress. */
  get pending (): number { return this.limits.pending }

  stats (): InboundGateStats {
    return { ...this.counts, pendingHandshakes: this.pending }
  }

  clear (): void { this.inbound.clear() }

  /** The rule of the cap (see the class rules): false when nothing can give way. */
  private readonly evictOldest = (): boolean => {
    const oldest = this.inbound.entries().next()
    if (oldest.done === true) return false
    const [stream, ip] = oldest.value
    this.inbound.delete(stream)
    this.limits.release(ip)
    this.counts.evictedHandshakes++
    stream.destroy(new PeerwardenError('ERR_HANDSHAKE_EVICTED', `${this.inbound.size + 1} handshakes in progress: the oldest gave way to a newcomer`))
    return true
  }
}
