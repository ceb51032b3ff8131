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
