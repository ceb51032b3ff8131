import { addressRange, isRelayedAddress } from '../manager/address-range.js'
import { extractIp } from '../manager/access-list.js'
import type { Clock } from '../manager/types.js'
import { isLoopback } from './inbound-limits.js'
import { TokenBuckets, type Bucket } from './token-buckets.js'

/** The share of a range's budget one relayed peer may spend (see `RangeBudget`). */
export const RELAYED_PEER_SHARE = 1 / 4

/** Address ranges a `RangeBudget` remembers at most; past it the one seen longest ago is forgotten. */
export const MAX_BUDGET_RANGES = 4096

/**
 * The key an address is budgeted under, and whether it is local: 'loopback' (local), the /24 or /48 of
 * a private, link-local or other non-public address (local), of a public one, or 'other' (no IP: a
 * name). A relayed address is its relay's key followed by '/relayed' (`addressRange`), local as the
 * relay is.
 */
export function budgetRange (address: string): { range: string; local: boolean } {
  const ip = extractIp(address)
  if (ip !== undefined && isLoopback(ip)) return { range: isRelayedAddress(address) ? 'loopback/relayed' : 'loopback', local: true }
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
 * - Relayed peers (a relayed address: `budgetRange`) share a range of their own, `<relay's range>/relayed`,
 *   with the whole budget of a range; given the `peer`, one relayed peer spends at most a quarter of
 *   it (`RELAYED_PEER_SHARE`): one relay's customers neither take the relay's own range's budget nor
 *   does one of them take all of theirs.
 * - A budget itself: at most `MAX_BUDGET_RANGES` ranges (and relayed peers); the one seen longest ago is forgotten first
 *   (forgetting gives it a full bucket, so a flood from many ranges gains a range at most what it
 *   would have had anyway).
 */
export class RangeBudget {
  private readonly buckets = new TokenBuckets(MAX_BUDGET_RANGES)

  constructor (readonly perMinute: number, readonly localPerMinute: number, private readonly clock: Clock) {}

  /**
   * Spends `cost` units of `address`'s range (and of `peer`'s share when the address is relayed): 0
   * when spent, else the ms until there are enough (nothing spent).
   */
  take (address: string, cost: number, peer?: string): number {
    const { range, local } = budgetRange(address)
    const cap = local ? this.localPerMinute : this.perMinute
    const now = this.clock.now()
    const b = this.buckets.refill(range, cap, 60_000, now)
    const need = Math.min(cost, cap)
    const share = peer !== undefined && range.endsWith('/relayed') ? cap * RELAYED_PEER_SHARE : undefined
    const p = share === undefined ? undefined : this.buckets.refill(`${range}/${peer!}`, share, 60_000, now)
    const needP = share === undefined ? 0 : Math.min(cost, share)
    const wait = Math.max(waitFor(b, need, cap), p === undefined ? 0 : waitFor(p, needP, share!))
    if (wait > 0) return wait
    b.tokens -= need
    if (p !== undefined) p.tokens -= needP
    return 0
  }

  /** Ranges remembered now. */
  get size (): number { return this.buckets.size }
}

/** Ms until `b` holds `need` units at `cap` a minute (0: it does now). */
function waitFor (b: Bucket, need: number, cap: number): number {
  return b.tokens >= need ? 0 : Math.ceil((need - b.tokens) * 60_000 / cap)
}
