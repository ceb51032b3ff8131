import { compareTrimRank } from './rank.js'
import { PeerRecord } from './peer-record.js'

/**
 * The connected peers that trimming may close, ordered by {@link compareTrimRank}, so that the
 * lowest-ranked one is found in O(1) and kept in order in O(log n) when a tag, a priority or a
 * connection changes. This is what lets an inbound connection at the bound evict a peer in
 * microseconds instead of sorting every connection.
 *
 * Rules:
 * - A peer is in the index while `eligible(record)` holds (connected, not protected, not allow-listed,
 *   not permanent — the manager decides) and its connection is past the grace period.
 * - Connections enter a FIFO when they open; `promote(now)` moves those whose grace period ended
 *   into the heap. The FIFO stays sorted because the clock never goes back.
 * - `idle` is sampled from `Connection.streams` when a peer enters or is refreshed. Streams change
 *   without telling the manager, so `resample()` re-reads every peer (before an explicit or background
 *   trim) and `lowest()` re-checks the peers it returns.
 */
export class TrimIndex {
  private readonly heap: PeerRecord[] = []
  private readonly grace: Array<{ record: PeerRecord; openedAt: number }> = []
  private graceHead = 0

  constructor (
    private gracePeriod: number,
    private readonly eligible: (record: PeerRecord) => boolean
  ) {}

  get size (): number { return this.heap.length }

  has (record: PeerRecord): boolean { return record.heapIndex !== -1 }

  /** Records a new connection; it enters the heap once its grace period is over. */
  opened (record: PeerRecord, now: number): void {
    this.grace.push({ record, openedAt: record.openedAt })
    if (this.gracePeriod === 0) this.promote(now)
  }

  /** Moves peers whose grace period has ended into the heap. Many at once are appended and heapified: O(n). */
  promote (now: number): void {
    const g = this.grace
    const due: PeerRecord[] = []
    while (this.graceHead < g.length && g[this.graceHead].openedAt + this.gracePeriod <= now) {
      const { record, openedAt } = g[this.graceHead++]
      if (record.conn !== undefined && record.openedAt === openedAt && record.heapIndex === -1 && this.eligible(record)) due.push(record)
    }
    if (due.length > 32) {
      for (const r of due) {
        // A peer reconnected within the same millisecond has two queue entries: insert it once.
        if (r.heapIndex !== -1) continue
        r.idle = PeerRecord.sampleIdle(r.conn!.conn)
        r.heapIndex = this.heap.length
        this.heap.push(r)
      }
      this.heapify()
    } else {
      for (const r of due) this.refresh(r, now)
    }
    if (this.graceHead > 1024 && this.graceHead * 2 > g.length) {
      g.splice(0, this.graceHead)
      this.graceHead = 0
    }
  }

  /** When the oldest connection still waiting ends its grace period; undefined when none waits. */
  nextPromotion (): number | undefined {
    const head = this.grace[this.graceHead]
    return head === undefined ? undefined : head.openedAt + this.gracePeriod
  }

  /** True while the record's connection is inside its grace period. */
  inGrace (record: PeerRecord, now: number): boolean {
    return record.conn !== undefined && now - record.openedAt < this.gracePeriod
  }

  /** Re-evaluates membership and position after anything about the record changed. */
  refresh (record: PeerRecord, now: number): void {
    const belongs = record.conn !== undefined && this.eligible(record) && !this.inGrace(record, now)
    if (!belongs) {
      if (record.heapIndex !== -1) this.remove(record)
      return
    }
    record.idle = PeerRecord.sampleIdle(record.conn!.conn)
    if (record.heapIndex === -1) {
      record.heapIndex = this.heap.length
      this.heap.push(record)
      this.up(record.heapIndex)
    } else {
      this.fix(record.heapIndex)
    }
  }

  remove (record: PeerRecord): void {
    const i = record.heapIndex
    if (i === -1) return
    const last = this.heap.pop()!
    record.heapIndex = -1
    if (last !== record) {
      this.heap[i] = last
      last.heapIndex = i
      this.fix(i)
    }
  }

  /** Removes many peers at once: O(n) instead of O(k log n), for large trims. */
  removeMany (records: readonly PeerRecord[]): void {
    if (records.length < 64) { for (const r of records) this.remove(r); return }
    for (const r of records) if (r.heapIndex !== -1) { this.heap[r.heapIndex] = undefined as unknown as PeerRecord; r.heapIndex = -1 }
    let j = 0
    for (let i = 0; i < this.heap.length; i++) {
      const r = this.heap[i]
      if (r !== undefined) { this.heap[j] = r; r.heapIndex = j++ }
    }
    this.heap.length = j
    this.heapify()
  }

  /** Re-reads `streams` of every indexed peer and restores the order: O(n). */
  resample (): void {
    for (const r of this.heap) r.idle = PeerRecord.sampleIdle(r.conn!.conn)
    this.heapify()
  }

  /**
   * The indexed peers in trim order, lowest first. For a few (`wanted` small) it walks the heap lazily;
   * for many it sorts a copy once, which is cheaper than k heap walks. The index must not change
   * while iterating.
   */
  ordered (wanted: number): Iterable<PeerRecord> {
    if (wanted <= 64) return { [Symbol.iterator]: () => this.ascending() }
    const copy = this.heap.slice()
    copy.sort(compareTrimRank) // stable: equal ranks keep their heap order
    return copy
  }

  private heapify (): void {
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i)
  }

  /**
   * The indexed peers in trim order, lowest first, lazily: each step costs O(log k) for the k-th peer
   * and nothing is copied. The index must not change while iterating.
   */
  * ascending (): Generator<PeerRecord> {
    const heap = this.heap
    if (heap.length === 0) return
    // A best-first walk of the heap: the frontier holds heap positions, itself kept as a small heap.
    const frontier: number[] = [0]
    const less = (a: number, b: number): boolean => {
      const c = compareTrimRank(heap[a], heap[b])
      return c < 0 || (c === 0 && a < b)
    }
    while (frontier.length > 0) {
      const top = frontier[0]
      const last = frontier.pop()!
      if (frontier.length > 0) {
        frontier[0] = last
        siftDown(frontier, 0, less)
      }
      yield heap[top]
      const l = 2 * top + 1
      if (l < heap.length) { frontier.push(l); siftUp(frontier, frontier.length - 1, less) }
      if (l + 1 < heap.length) { frontier.push(l + 1); siftUp(frontier, frontier.length - 1, less) }
    }
  }

  /** The lowest-ranked indexed peer, its idleness re-checked; undefined when the index is empty. */
  lowest (): PeerRecord | undefined {
    // A peer whose streams changed since it was sampled may not be the lowest any more: re-rank it
    // and look again. Each pass fixes one stale peer, so the loop ends.
    for (let guard = 0; guard < this.heap.length + 1; guard++) {
      const top = this.heap[0]
      if (top === undefined) return undefined
      const idle = PeerRecord.sampleIdle(top.conn!.conn)
      if (idle === top.idle) return top
      top.idle = idle
      this.fix(0)
    }
    return this.heap[0]
  }

  setGracePeriod (ms: number): void { this.gracePeriod = ms }

  private fix (i: number): void {
    if (!this.up(i)) this.down(i)
  }

  private up (i: number): boolean {
    const heap = this.heap
    const item = heap[i]
    let moved = false
    while (i > 0) {
      const p = (i - 1) >> 1
      if (compareTrimRank(item, heap[p]) >= 0) break
      heap[i] = heap[p]
      heap[i].heapIndex = i
      i = p
      moved = true
    }
    heap[i] = item
    item.heapIndex = i
    return moved
  }

  private down (i: number): void {
    const heap = this.heap
    const n = heap.length
    const item = heap[i]
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && compareTrimRank(heap[r], heap[l]) < 0 ? r : l
      if (compareTrimRank(heap[c], item) >= 0) break
      heap[i] = heap[c]
      heap[i].heapIndex = i
      i = c
    }
    heap[i] = item
    item.heapIndex = i
  }
}

function siftUp (h: number[], i: number, less: (a: number, b: number) => boolean): void {
  const item = h[i]
  while (i > 0) {
    const p = (i - 1) >> 1
    if (!less(item, h[p])) break
    h[i] = h[p]
    i = p
  }
  h[i] = item
}

function siftDown (h: number[], i: number, less: (a: number, b: number) => boolean): void {
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
