import { PeerwardenError } from '../errors.js'

/**
 * Circuit breakers, one per instance (by peer id), with Moleculer's semantics.
 *
 * Rules:
 * - Counting runs in fixed windows of `windowTime` ms: a window starts at the first call recorded
 *   after the previous one ended, and its counts start from zero.
 * - A closed breaker opens when, in the current window, at least `minRequestCount` calls ended and
 *   the share of failures is at least `threshold` (0..1).
 * - An open breaker lets no call through for `halfOpenTime` ms; then it is half-open: one call (the
 *   probe) goes through, the others still skip the instance. The probe's success closes it (counts
 *   reset), its failure opens it again for another `halfOpenTime`.
 * - Time is the injected clock's, read by the caller and passed in: the breaker sets no timer (a
 *   half-open state is what an open one becomes once its time is up).
 * - What is a failure is the caller's to say (caller.ts: the instance's fault, not the caller's).
 */
export interface BreakerOptions {
  /** Failure share that opens the breaker, 0 to 1. Default 0.5. */
  threshold?: number
  /** Calls in a window before the share counts. Default 20. */
  minRequestCount?: number
  /** Length of a counting window, ms. Default 60_000. */
  windowTime?: number
  /** How long an open breaker skips its instance before the probe, ms. Default 10_000. */
  halfOpenTime?: number
}

/** A breaker's state, as `stats()` shows it. */
export type BreakerState = 'closed' | 'open' | 'half-open'

/** The breaker of one instance. */
export class Breaker {
  private windowStart = -Infinity
  private count = 0
  private failures = 0
  /** When it opened (open or half-open), else -Infinity. */
  private openedAt = -Infinity
  /** A probe is out (half-open). */
  private probing = false

  constructor (private readonly opts: Required<BreakerOptions>) {}

  /** The state at `now`. */
  state (now: number): BreakerState {
    if (this.openedAt === -Infinity) return 'closed'
    return now >= this.openedAt + this.opts.halfOpenTime ? 'half-open' : 'open'
  }

  /** Calls of the current window that ended, and how many of them failed. */
  counts (): { calls: number; failures: number } { return { calls: this.count, failures: this.failures } }

  /** May a call go to this instance now? A half-open breaker lets one probe through (this call takes it). */
  allow (now: number): boolean {
    const s = this.state(now)
    if (s === 'closed') return true
    if (s === 'open' || this.probing) return false
    this.probing = true
    return true
  }

  /** Would `allow` say yes, without taking the probe? */
  available (now: number): boolean {
    const s = this.state(now)
    return s === 'closed' || (s === 'half-open' && !this.probing)
  }

  /**
   * A call to this instance ended: `failed` if it was the instance's fault; `earlier`: calls of the
   * current window recorded as not failed that are now known to have been its fault (an outlier found
   * late, invalid-outlier.ts). True if it opened or closed the breaker (or opened it again).
   */
  record (failed: boolean, now: number, earlier = 0): boolean {
    if (this.openedAt !== -Infinity) {
      // Only the probe's outcome counts while open or half-open.
      if (!this.probing) return false
      this.probing = false
      if (failed) { this.openedAt = now; return true }
      this.openedAt = -Infinity
      this.windowStart = now
      this.count = 0
      this.failures = 0
      return true
    }
    if (now >= this.windowStart + this.opts.windowTime) {
      this.windowStart = now
      this.count = 0
      this.failures = 0
    }
    this.failures = Math.min(this.count, this.failures + earlier)
    this.count++
    if (failed) this.failures++
    if (this.count >= this.opts.minRequestCount && this.failures / this.count >= this.opts.threshold) {
      this.openedAt = now
      this.probing = false
      return true
    }
    return false
  }
}

/** The options with their defaults, checked (ERR_INVALID_ARGUMENT naming the field). */
export function breakerOptions (o: BreakerOptions, where = 'breaker'): Required<BreakerOptions> {
  if (o == null || typeof o !== 'object') throw PeerwardenError.invalid(`${where} must be an object`)
  for (const k of Object.keys(o)) {
    if (!['threshold', 'minRequestCount', 'windowTime', 'halfOpenTime'].includes(k)) throw PeerwardenError.invalid(`${where}: unknown field ${JSON.stringify(k)}`)
  }
  const out = { threshold: o.threshold ?? 0.5, minRequestCount: o.minRequestCount ?? 20, windowTime: o.windowTime ?? 60_000, halfOpenTime: o.halfOpenTime ?? 10_000 }
  if (typeof out.threshold !== 'number' || !(out.threshold > 0 && out.threshold <= 1)) throw PeerwardenError.invalid(`${where}.threshold must be a number in (0, 1]`)
  if (!Number.isInteger(out.minRequestCount) || out.minRequestCount < 1) throw PeerwardenError.invalid(`${where}.minRequestCount must be a positive integer`)
  if (typeof out.windowTime !== 'number' || !(out.windowTime > 0)) throw PeerwardenError.invalid(`${where}.windowTime must be a positive number of ms`)
  if (typeof out.halfOpenTime !== 'number' || !(out.halfOpenTime > 0)) throw PeerwardenError.invalid(`${where}.halfOpenTime must be a positive number of ms`)
  return out
}
