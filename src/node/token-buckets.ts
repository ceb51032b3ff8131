/** A token bucket: what is left, and when it was last refilled. */
export interface Bucket { tokens: number; at: number }

/**
 * Token buckets by key (an identity, an address range), for the node's budgets fed by peers.
 *
 * Rules:
 * - `refill(key, cap, period, now)` gives `key`'s bucket refilled to `now` at `cap` tokens per
 *   `period` ms, continuously, `cap` at most; a new bucket is full. The caller spends from it.
 * - At most `maxKeys` buckets are remembered; past it the one seen longest ago is forgotten
 *   (forgetting gives it a full bucket back, which a new key would have had anyway).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor (private readonly maxKeys: number) {}

  /** `key`'s bucket refilled to `now` (see the rules), moved to the end: the most recently seen. */
  refill (key: string, cap: number, period: number, now: number): Bucket {
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { tokens: cap, at: now }
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!)
    } else {
      this.buckets.delete(key)
      b.tokens = Math.min(cap, b.tokens + (now - b.at) * cap / period)
      b.at = now
    }
    this.buckets.set(key, b)
    return b
  }

  /** Buckets remembered now. */
  get size (): number { return this.buckets.size }
}
