/**
 * A binary min-heap whose items know their position (so an item can be re-ranked or removed in
 * O(log n)), with a lazy in-order walk. Shared by the trim index and the dial candidate index.
 * The position lives on the item, under the field name given to the constructor.
 */
export class IndexedHeap<T extends Record<K, number>, K extends string> {
  readonly items: T[] = []

  constructor (private readonly compare: (a: T, b: T) => number, private readonly pos: K) {}

  get size (): number { return this.items.length }

  has (item: T): boolean { return item[this.pos] !== -1 }

  peek (): T | undefined { return this.items[0] }

  /** Inserts, or re-ranks an item already in. */
  upsert (item: T): void {
    if (item[this.pos] === -1) {
      this.place(item, this.items.length)
      this.items.push(item)
      this.up(item[this.pos])
    } else {
      this.fix(item[this.pos])
    }
  }

  /** Appends without ordering; call `heapify()` after a batch. */
  append (item: T): void {
    this.place(item, this.items.length)
    this.items.push(item)
  }

  remove (item: T): void {
    const i = item[this.pos]
    if (i === -1) return
    const last = this.items.pop()!
    this.place(item, -1)
    if (last !== item) {
      this.items[i] = last
      this.place(last, i)
      this.fix(i)
    }
  }

  /** Removes many at once: O(n) instead of O(k log n). */
  removeMany (items: readonly T[]): void {
    if (items.length < 64) { for (const x of items) this.remove(x); return }
    // Marked by their position (-1 = not in the heap) rather than kept in a set: O(n) without hashing.
    for (const x of items) this.place(x, -1)
    let j = 0
    for (const x of this.items) if (x[this.pos] !== -1) { this.items[j] = x; this.place(x, j++) }
    this.items.length = j
    this.heapify()
  }

  /** Re-ranks an item whose key changed. */
  fix (i: number): void {
    if (!this.up(i)) this.down(i)
  }

  heapify (): void {
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i)
  }

  /**
   * The items in order, lowest first, lazily: the k-th costs O(log k) and nothing is copied.
   * The heap must not change while iterating.
   */
  * ascending (): Generator<T> {
    const items = this.items
    if (items.length === 0) return
    const frontier: number[] = [0]
    const less = (a: number, b: number): boolean => {
      const c = this.compare(items[a], items[b])
      return c < 0 || (c === 0 && a < b)
    }
    while (frontier.length > 0) {
      const top = frontier[0]
      const last = frontier.pop()!
      if (frontier.length > 0) {
        frontier[0] = last
        siftDown(frontier, 0, less)
      }
      yield items[top]
      const l = 2 * top + 1
      if (l < items.length) { frontier.push(l); siftUp(frontier, frontier.length - 1, less) }
      if (l + 1 < items.length) { frontier.push(l + 1); siftUp(frontier, frontier.length - 1, less) }
    }
  }

  private place (item: T, i: number): void {
    (item as Record<K, number>)[this.pos] = i
  }

  private up (i: number): boolean {
    const items = this.items
    const item = items[i]
    let moved = false
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.compare(item, items[p]) >= 0) break
      items[i] = items[p]
      this.place(items[i], i)
      i = p
      moved = true
    }
    items[i] = item
    this.place(item, i)
    return moved
  }

  private down (i: number): void {
    const items = this.items
    const n = items.length
    const item = items[i]
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.compare(items[r], items[l]) < 0 ? r : l
      if (this.compare(items[c], item) >= 0) break
      items[i] = items[c]
      this.place(items[i], i)
      i = c
    }
    items[i] = item
    this.place(item, i)
  }
}

/** Moves `h[i]` up a min-heap of numbers ordered by `less` (the walks' frontier: `ascending()` here). */
export function siftUp (h: number[], i: number, less: (a: number, b: number) => boolean): void {
  const item = h[i]
  while (i > 0) {
    const p = (i - 1) >> 1
    if (!less(item, h[p])) break
    h[i] = h[p]
    i = p
  }
  h[i] = item
}

/** Moves `h[i]` down a min-heap of numbers ordered by `less` (see `siftUp`). */
export function siftDown (h: number[], i: number, less: (a: number, b: number) => boolean): void {
  const n = h.length
  const item = h[i]
  for (;;) {
    const l = 2 * i + 1
    if (l >= n) break
    const r = l + 1
    const c = r < n && less(h[r], h[l]) ? r : l
    if (!less(h[c], item)) break
    h[i] = h[c]
    i = c
  }
  h[i] = item
}
