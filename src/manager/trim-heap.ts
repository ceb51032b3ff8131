import { siftDown, siftUp } from './indexed-heap.js'
import type { PeerRecord } from './peer-record.js'
import { SLOT_SHIFT, TrimHeapLayout } from './trim-heap-layout.js'

/** `lowest(k)` and `takeLowest(k)` warm the heap's arrays first when k is at least 1/WARM_SHARE of the peers (see `warm()`). */
const WARM_SHARE = 128

/**
 * The trim index's heap (its layout and sifts: trim-heap-layout.ts) with the walks a trim takes its
 * victims with: the k lowest in order (`lowest`, `ascending`), taken out one by one (`takeLowest`)
 * or as a top of the heap (`removeTop`, through `removeMany`), after reading the arrays front to back
 * when many are taken (`warm`).
 */
export class TrimHeap extends TrimHeapLayout {
  /** Scratch for `removeTop`: 1 at the places being removed (all 0 between calls). */
  private marks = new Uint8Array(0)
  /** What `warm()` read, kept so that its reads are not optimised away. */
  warmth = 0

  /**
   * Removes many at once: one by one (O(k log n)) when they are few or a small share of the heap,
   * else by compacting and rebuilding the heap (O(n)). True when the heap was rebuilt (it is in
   * order then, whatever it was before).
   */
  removeMany (records: readonly PeerRecord[]): boolean {
    // Indexed loops: a trim runs rarely, so mostly unoptimised, where a for-of allocates a result per step.
    if (records.length < 64 || records.length * 16 <= this.n) {
      if (records.length > 1 && this.removeTop(records)) return false
      for (let i = 0; i < records.length; i++) this.remove(records[i])
      return false
    }
    // Their slots emptied first, then the positions compacted in order: O(n) without hashing.
    for (let i = 0; i < records.length; i++) if (records[i].heapIndex !== -1) this.release(records[i])
    const { slots, recs } = this
    let j = 0
    for (let i = 0; i < this.n; i++) {
      if (recs[slots[i] >> SLOT_SHIFT] !== undefined) this.copy(i, j++)
    }
    this.n = j
    this.heapify()
    return true
  }

  /**
   * Removes `records` at once when they are a top of the heap — each one's parent is one of them, or
   * it is the root — as the k lowest are (`lowest(k)`, the peers a trim takes). Their places below
   * the new size are filled with the peers after it, then sifted down deepest first (Floyd's heapify
   * restricted to those places: each place's subtrees are heaps by then). A removal one by one in
   * rank order takes the root each time and walks a whole path to the leaves; here each place walks
   * only the levels below it. False, and nothing changed, when they are not a top (or not all in).
   */
  private removeTop (records: readonly PeerRecord[]): boolean {
    const k = records.length
    const n = this.n
    if (this.marks.length < n) this.marks = new Uint8Array(this.slots.length)
    const { marks, pos } = this
    const at = new Int32Array(k)
    let top = true
    let i = 0
    for (; i < k; i++) {
      const slot = records[i].heapIndex
      const p = slot === -1 ? -1 : pos[slot]
      if (p === -1 || marks[p] !== 0) { top = false; break }
      at[i] = p
      marks[p] = 1
    }
    for (let j = 0; top && j < i; j++) if (at[j] > 0 && marks[(at[j] - 1) >> 1] === 0) top = false
    if (!top) {
      for (let j = 0; j < i; j++) marks[at[j]] = 0
      return false
    }
    for (let j = 0; j < k; j++) this.release(records[j])
    at.sort()
    const m = n - k
    // The places below the new size take the peers at or after it that are not leaving, in order.
    let from = m
    let holes = 0
    for (; holes < k && at[holes] < m; holes++) {
      while (marks[from] !== 0) from++
      this.copy(from++, at[holes])
    }
    for (let j = 0; j < k; j++) marks[at[j]] = 0
    this.n = m
    for (let j = holes - 1; j >= 0; j--) this.down(at[j])
    return true
  }

  /**
   * Takes the `k` lowest peers out, lowest first: k removals of the root, each walking one path to
   * the leaves (`remove`). Selecting them first (`lowest`) and removing them as a top (`removeTop`)
   * walks the same paths and a frontier besides: about twice the comparisons. Among exactly equal
   * ranks the peer taken first is the one the layout puts at the root (any heap's choice). Warms the
   * arrays first, as `lowest` does (see `warm()`).
   */
  takeLowest (k: number): PeerRecord[] {
    const out: PeerRecord[] = []
    if (k * WARM_SHARE >= this.n) this.warm()
    while (out.length < k && this.n > 0) {
      out.push(this.at(0))
      this.removeAt(0, false)
    }
    // The records are written once all have left, in a loop of independent stores (see `removeAt`).
    for (let i = 0; i < out.length; i++) out[i].heapIndex = -1
    return out
  }

  /**
   * The `k` lowest peers in the order `ascending()` yields them (ties included), as an array:
   * O(k log k) comparisons, no generator. The heap must be in order.
   */
  lowest (k: number): PeerRecord[] {
    const n = this.n
    const out: PeerRecord[] = []
    if (n === 0 || k <= 0) return out
    // A trim that takes these k and removes them walks k paths to the heap's leaves: when k is not a
    // tiny share of n, reading the heap's arrays front to back first is cheaper than the misses.
    if (k * WARM_SHARE >= n) this.warm()
    // The frontier: positions whose parents were taken, a min-heap itself; each step takes one and adds two.
    const f = new Int32Array(Math.min(n, k + 1))
    let size = 1
    f[0] = 0
    while (size > 0) {
      const top = f[0]
      const last = f[--size]
      if (size > 0) {
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          if (l >= size) break
          const c = l + 1 < size && this.before(f[l + 1], f[l]) ? l + 1 : l
          if (!this.before(f[c], last)) break
          f[i] = f[c]
          i = c
        }
        f[i] = last
      }
      out.push(this.at(top))
      if (out.length === k) break
      for (let child = 2 * top + 1; child <= 2 * top + 2 && child < n; child++) {
        let i = size++
        while (i > 0) {
          const p = (i - 1) >> 1
          if (!this.before(child, f[p])) break
          f[i] = f[p]
          i = p
        }
        f[i] = child
      }
    }
    return out
  }

  /** The peers in order, lowest first, lazily: the k-th costs O(log k). The heap must not change while iterating. */
  * ascending (): Generator<PeerRecord> {
    const n = this.n
    if (n === 0) return
    const frontier: number[] = [0]
    const less = (a: number, b: number): boolean => this.before(a, b)
    while (frontier.length > 0) {
      const top = frontier[0]
      const last = frontier.pop()!
      if (frontier.length > 0) {
        frontier[0] = last
        siftDown(frontier, 0, less)
      }
      yield this.at(top)
      const l = 2 * top + 1
      if (l < n) { frontier.push(l); siftUp(frontier, frontier.length - 1, less) }
      if (l + 1 < n) { frontier.push(l + 1); siftUp(frontier, frontier.length - 1, less) }
    }
  }

  /**
   * Reads the heap's arrays front to back (about 50 bytes per peer), so that what follows finds them
   * in the cache. Removing k peers walks k paths from the top to the leaves; the levels near the top
   * are shared by every path, but each path's lower levels are lines nobody read since the last
   * collection moved everything around: on a machine where a miss costs half a microsecond, a
   * sequential pass over 10,000 peers' arrays (~500 KB, prefetched) costs less than the misses of a
   * trim of 200.
   */
  warm (): void {
    const { keys, slots, pos, recs } = this
    const n = this.n
    let sum = 0
    // One read per 64-byte line: 4 positions of keys, 16 of slots and positions, 16 of peers.
    for (let i = 0; i < 2 * n; i += 8) sum += keys[i]
    for (let i = 0; i < n; i += 16) sum += slots[i] + pos[i]
    for (let i = 0; i < recs.length; i += 16) if (recs[i] === undefined) sum++
    this.warmth = sum
  }
}
