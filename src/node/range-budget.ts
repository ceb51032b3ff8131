import { addressRange } from '../manager/address-range.js'
import { extractIp } from '../manager/access-list.js'
import type { Clock } from '../manager/types.js'
import { isLoopback } from './inbound-limits.js'

/** Address ranges a `RangeBudget` remembers at most; past it the one seen longest ago is forgotten. */
export const MAX_BUDGET_RANGES = 4096

/**
 * The key an address is budgeted under, and whether it is local: 'loopback' (local), the /24 or /48 of
 * a private, link-local or other non-public address (local), of a public one, or 'other' (no IP:
 * relayed, a name).
 */
export function budgetRange (address: string): { range: string; local: boolean } {
  const ip = extractIp(address)
  if (ip !== undefined && isLoopback(ip)) return { range: 'loopback', local: true }
  const range = addressRange(address)
  if (range === undefined) return { range: 'other', local: false }
  return { range, local: addressRange(address, true) === undefined }
}

/**
 * A budget per source address range (an IPv4 /24, an IPv6 /48; see `budgetRange`): `perMinute` units
 * a minute, refilled continuously, `perMinute` at most at once. A local range — loopback, where every
 * local tool and test shares one address, or a private network, where a cluster's nodes share a /24 —
 * has `localPerMinute` instead.
 *
 * Rules:
 * - `take(address, cost)` spends `cost` units when the range has them (or, for a cost above the
 *   whole budget, when its bucket is full: one such answer a minute), else spends nothing and says
 *   in how many ms it will have them.
 * - A budget itself: at most `MAX_BUDGET_RANGES` ranges; the one seen longest ago is forgotten first
 *   (forgetting gives it a full bucket, so a flood from many ranges gains a range at most what it
 *   would have had anyway).
 */
export class RangeBudget {
  private readonly buckets = new Map<string, { units: number; at: number }>()

  constructor (readonly perMinute: number, readonly localPerMinute: number, private readonly clock: Clock) {}

  /** Spends `cost` units of `address`'s range: 0 when spent, else the ms until there are enough. */
  take (address: string, cost: number): number {
    const { range, local } = budgetRange(address)
    const cap = local ? this.localPerMinute : this.perMinute
    const now = this.clock.now()
    let b = this.buckets.get(range)
    if (b === undefined) {
      b = { units: cap, at: now }
      if (this.buckets.size >= MAX_BUDGET_RANGES) this.buckets.delete(this.buckets.keys().next().value!)
    } else {
      this.buckets.delete(range)
      b.units = Math.min(cap, b.units + (now - b.at) * cap / 60_000)
      b.at = now
    }
    this.buckets.set(range, b)
    const need = Math.min(cost, cap)
    if (b.units >= need) { b.units -= need; return 0 }
    return Math.ceil((need - b.units) * 60_000 / cap)
  }

  /** Ranges remembered now. */
  get size (): number { return this.buckets.size }
}
