/** A plain binary min-heap ordered by `less`: push, pop and peek. (IndexedHeap is the one whose items can move.) */
export class MinHeap<T> {
  private readonly items: T[] = []

  constructor (private readonly less: (a: T, b: T) => boolean) {}

  get size (): number { return this.items.length }

  peek (): T | undefined { return this.items[0] }

  push (item: T): void {
    const h = this.items
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  pop (): T | undefined {
    const h = this.items
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= h.length) break
        const r = l + 1
        const c = r < h.length && this.less(h[r], h[l]) ? r : l
        if (!this.less(h[c], h[i])) break
        ;[h[i], h[c]] = [h[c], h[i]]
        i = c
      }
    }
    return top
  }
}

/**
 * A binary min-heap of items by a time each (`push(at, item)`), the times in a Float64Array beside
 * the items: a comparison reads two numbers, not two objects scattered over the heap, and a push
 * allocates nothing. The same sift rules as `MinHeap` with `(a, b) => a.at < b.at`, so items of equal
 * times come out in the same order.
 */
export class TimedHeap<T> {
  private readonly items: T[] = []
  private times = new Float64Array(8)

  get size (): number { return this.items.length }

  peek (): T | undefined { return this.items[0] }

  /** The earliest time; Infinity when empty. */
  peekAt (): number { return this.items.length === 0 ? Infinity : this.times[0] }

  push (at: number, item: T): void {
    const h = this.items
    if (h.length === this.times.length) {
      const times = new Float64Array(this.times.length * 2)
      times.set(this.times)
      this.times = times
    }
    const t = this.times
    h.push(item)
    let i = h.length - 1
    t[i] = at
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!(t[i] < t[p])) break
      this.swap(i, p)
      i = p
    }
  }

  pop (): T | undefined {
    const h = this.items
    const t = this.times
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      t[0] = t[h.length]
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= h.length) break
        const r = l + 1
        const c = r < h.length && t[r] < t[l] ? r : l
        if (!(t[c] < t[i])) break
        this.swap(i, c)
        i = c
      }
    }
    return top
  }

  private swap (a: number, b: number): void {
    const h = this.items
    const t = this.times
    const x = h[a]
    h[a] = h[b]
    h[b] = x
    const y = t[a]
    t[a] = t[b]
    t[b] = y
  }
}
