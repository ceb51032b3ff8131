/** One key's count within its window, and what the owner keeps with it. */
export interface WindowedEntry<P> {
  /** When the window began. */
  readonly start: number
  /** What was counted within it. */
  readonly count: number
  readonly payload: P
}

interface Entry<P> { start: number; count: number; payload: P }

/**
 * Counts per key within a window that starts at the key's first count, in a table of at most
 * `maxKeys` keys: what the hint and dial budgets count (hint-budget.ts, dial-budget.ts).
 *
 * Rules:
 * - `live(key, now)` is the key's entry while its window runs (`now - start < window`), else nothing:
 *   an ended window counts for nothing.
 * - `open(key, now)` gives the live entry, or starts a new window at count 0.
 * - Full, a new key forgets first a key whose window ended (the one that began first), else the key
 *   with the lowest count, the longest counted first among equals. So forgetting never gives a key
 *   back more than the lowest count in the table: to reset a host at its full budget, a peer must
 *   first bring every one of `maxKeys` keys to that budget within the window — what it could have
 *   taught anyway. (Forgetting the oldest key instead reset a counted host's budget for the price of
 *   `maxKeys` single hints.)
 * - Costs: `open` and `add` are O(1), plus a walk over the distinct counts (at most the largest budget) when full.
 */
export class WindowedCounts<P> {
  /** In the order their windows began. */
  private readonly entries = new Map<string, Entry<P>>()
  /** Keys by count, each set in the order the keys reached that count. */
  private readonly byCount = new Map<number, Set<string>>()

  constructor (private readonly maxKeys: number, private readonly window: number, private readonly make: () => P) {}

  get size (): number { return this.entries.size }

  live (key: string, now: number): WindowedEntry<P> | undefined {
    const e = this.entries.get(key)
    return e !== undefined && now - e.start < this.window ? e : undefined
  }

  open (key: string, now: number): WindowedEntry<P> {
    const e = this.entries.get(key)
    if (e !== undefined && now - e.start < this.window) return e
    if (e !== undefined) this.remove(key, e)
    else if (this.entries.size >= this.maxKeys) this.forgetOne(now)
    const fresh: Entry<P> = { start: now, count: 0, payload: this.make() }
    this.entries.set(key, fresh)
    this.bucket(0).add(key)
    return fresh
  }

  /** Adds one to the count of `key`'s entry (opened by `open`). */
  add (key: string): void {
    const e = this.entries.get(key)
    if (e === undefined) return
    this.unbucket(e.count, key)
    e.count++
    this.bucket(e.count).add(key)
  }

  private forgetOne (now: number): void {
    const first = this.entries.entries().next().value
    if (first !== undefined && now - first[1].start >= this.window) { this.remove(first[0], first[1]); return }
    let lowest = Infinity
    for (const count of this.byCount.keys()) if (count < lowest) lowest = count
    const key = this.byCount.get(lowest)?.values().next().value
    if (key !== undefined) this.remove(key, this.entries.get(key)!)
  }

  private remove (key: string, e: Entry<P>): void {
    this.entries.delete(key)
    this.unbucket(e.count, key)
  }

  private bucket (count: number): Set<string> {
    let set = this.byCount.get(count)
    if (set === undefined) this.byCount.set(count, set = new Set())
    return set
  }

  private unbucket (count: number, key: string): void {
    const set = this.byCount.get(count)
    if (set === undefined) return
    set.delete(key)
    if (set.size === 0) this.byCount.delete(count)
  }
}
