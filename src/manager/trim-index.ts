import { compareTrimRank } from './rank.js'
import { PeerRecord } from './peer-record.js'
import { TrimBuckets } from './trim-heap-buckets.js'
import type { Connection } from './types.js'

/**
 * The connected peers that trimming may close, ordered by {@link compareTrimRank}, so that the
 * lowest-ranked one is found in O(1) and kept in order in O(1) to O(log n) when a tag, a priority or
 * a connection changes (a heap of rank buckets: trim-heap-buckets.ts). This is what lets an inbound connection at the bound evict a peer in
 * microseconds instead of sorting every connection.
 *
 * Rules:
 * - A peer is in the index while `eligible(record)` holds (connected, not protected, not allow-listed,
 *   not permanent — the manager decides) and its connection is past the grace period.
 * - Connections enter a FIFO when they open; `promote(now)` moves those whose grace period ended
 *   into the heap. The FIFO stays sorted because the clock never goes back.
 * - `idle` is read from `Connection.streams` when a peer enters or is refreshed. A connection whose
 *   transport reports its stream changes (`streamsChanged`, from the manager's `streamsChanged()`)
 *   is re-ranked on each report and never sampled again; the others change without telling the
 *   manager, so `resample()` re-reads those (and only those: O(unreported), before an explicit or
 *   background trim) and `lowest()` re-checks the peer it returns.
 */
export class TrimIndex {
  /** The indexed peers in trim order: a heap of rank buckets, each newest first (trim-heap-buckets.ts). */
  private readonly heap = new TrimBuckets()
  private readonly grace: Array<{ record: PeerRecord; openedAt: number }> = []
  private graceHead = 0
  /** Entries left after the last compaction of the FIFO (see `opened`). */
  private graceKept = 0
  /** Connections whose transport reports every change of `streams`: their `idle` is kept up to date. */
  private readonly reporting = new WeakSet<Connection>()
  /**
   * The indexed peers whose connection does not report: `resample()` reads these. Kept only once some
   * connection reported (`tracking`): until then every indexed peer is read, with no set to maintain.
   */
  private readonly sampled = new Set<PeerRecord>()
  private tracking = false
  /** Goes up whenever the heap's members or order may have changed (a cache of a walk is stale then). */
  version = 0

  constructor (
    private readonly gracePeriod: number,
    private readonly eligible: (record: PeerRecord) => boolean
  ) {}

  get size (): number { return this.heap.size }

  has (record: PeerRecord): boolean { return record.heapIndex !== -1 }

  /**
   * Records a new connection; it enters the heap once its grace period is over. The FIFO holds an
   * entry per connection opened within the grace period, closed or not: when it holds more than
   * twice what its last compaction kept (plus 1,024), the entries of connections that closed or
   * reopened since are dropped, so connections opening and closing faster than the grace period
   * passes cost a bounded FIFO (about twice the connections open), amortised O(1) each.
   */
  opened (record: PeerRecord, now: number): void {
    this.grace.push({ record, openedAt: record.openedAt })
    if (this.gracePeriod === 0) this.promote(now)
    else if (this.grace.length - this.graceHead > 2 * this.graceKept + 1024) this.compactGrace()
  }

  /** Entries waiting in the grace FIFO (closed connections' included until a compaction or their promotion). */
  get graceWaiting (): number { return this.grace.length - this.graceHead }

  /** Drops the FIFO entries of connections that closed or reopened since they entered; order kept. */
  private compactGrace (): void {
    const g = this.grace
    let kept = 0
    for (let i = this.graceHead; i < g.length; i++) {
      const entry = g[i]
      if (entry.record.conn !== undefined && entry.record.openedAt === entry.openedAt) g[kept++] = entry
    }
    g.length = kept
    this.graceHead = 0
    this.graceKept = kept
  }

  /** Moves peers whose grace period has ended into the heap: O(1) each when they join their bucket's newest end. */
  promote (now: number): void {
    const g = this.grace
    while (this.graceHead < g.length && g[this.graceHead].openedAt + this.gracePeriod <= now) {
      const { record, openedAt } = g[this.graceHead++]
      // A peer reconnected within the same millisecond has two entries: once in, the second is skipped.
      if (record.conn !== undefined && record.openedAt === openedAt && record.heapIndex === -1 && this.eligible(record)) this.update(record, now)
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

  /**
   * The eligible peers still in their grace period, lowest-ranked first (a copy; O(g log g)). Only a
   * 'limit' trim reaches for them, when the past-grace peers are not enough to restore the bound.
   */
  graceRanked (): PeerRecord[] {
    // A peer that reconnected at the same instant has two entries that both look current: one counts.
    const out = new Set<PeerRecord>()
    for (let i = this.graceHead; i < this.grace.length; i++) {
      const { record, openedAt } = this.grace[i]
      if (record.conn !== undefined && record.openedAt === openedAt && record.heapIndex === -1 && this.eligible(record)) {
        record.idle = PeerRecord.sampleIdle(record.conn.conn)
        out.add(record)
      }
    }
    return [...out].sort(compareTrimRank)
  }

  /** True while the record's connection is inside its grace period. */
  inGrace (record: PeerRecord, now: number): boolean {
    return record.conn !== undefined && now - record.openedAt < this.gracePeriod
  }

  /** Re-evaluates membership and position after anything about the record changed. */
  update (record: PeerRecord, now: number): void {
    const belongs = record.conn !== undefined && this.eligible(record) && !this.inGrace(record, now)
    this.version++
    if (!belongs) {
      this.remove(record)
      return
    }
    record.idle = PeerRecord.sampleIdle(record.conn!.conn)
    this.heap.upsert(record)
    this.entered(record)
  }

  /**
   * The transport reported that the connection's `streams` changed: the peer is re-ranked now (O(log n))
   * and, from now on, trusted to report every change (never sampled again).
   */
  streamsChanged (record: PeerRecord, conn: Connection): void {
    this.reporting.add(conn)
    if (!this.tracking) {
      // The first report: every peer indexed so far is one whose connection did not report.
      this.tracking = true
      for (const r of this.heap.items) this.sampled.add(r)
    }
    this.sampled.delete(record)
    if (record.conn?.conn !== conn) return
    const idle = PeerRecord.sampleIdle(conn)
    if (idle === record.idle) return
    record.idle = idle
    if (record.heapIndex === -1) return
    this.version++
    this.heap.rekey(record)
  }

  remove (record: PeerRecord): void {
    // Not in the heap, so not sampled either (a trim's victims were taken out by `removeMany`).
    if (record.heapIndex === -1) return
    this.version++
    this.heap.remove(record)
    if (this.tracking) this.sampled.delete(record)
  }

  /** Removes many peers at once: O(n) for a large share of the index, O(k log n) for a few. */
  removeMany (records: readonly PeerRecord[]): void {
    this.version++
    // Indexed loops here and below: a trim runs rarely, so mostly unoptimised, where a for-of allocates a result per step.
    if (this.tracking && this.sampled.size > 0) for (let i = 0; i < records.length; i++) this.sampled.delete(records[i])
    this.heap.removeMany(records)
  }

  /**
   * Takes the `k` lowest-ranked indexed peers out of the index and returns them, lowest first: the
   * peers `first(k)` names (up to the order among exactly equal ranks), found and let go in one pass
   * (`TrimBuckets.takeLowest`: the lowest rank bucket's newest members, a pop each).
   */
  takeFirst (k: number): PeerRecord[] {
    this.version++
    const taken = this.heap.takeLowest(k)
    if (this.tracking && this.sampled.size > 0) for (let i = 0; i < taken.length; i++) this.sampled.delete(taken[i])
    return taken
  }

  /**
   * Re-reads `streams` of the indexed peers whose connection does not report its changes: O(those),
   * nothing when every transport reports. A peer that changed is re-ranked at once (O(1) to O(log n)).
   */
  resample (): void {
    // Every indexed connection reports its streams: nothing to read.
    if (this.tracking && this.sampled.size === 0) return
    let changed = false
    for (const r of this.tracking ? this.sampled : this.heap.items) {
      const idle = PeerRecord.sampleIdle(r.conn!.conn)
      if (idle !== r.idle) { r.idle = idle; this.heap.rekey(r); changed = true }
    }
    if (changed) this.version++
  }

  /** A peer entered the heap: sampled before each trim unless its connection reports. */
  private entered (record: PeerRecord): void {
    if (this.tracking && !this.reporting.has(record.conn!.conn)) this.sampled.add(record)
  }

  /**
   * The indexed peers in trim order, lowest first, as a re-iterable walk (each iteration walks the
   * buckets again: O(k) plus the buckets passed). The index must not change while iterating.
   */
  ordered (_wanted: number): Iterable<PeerRecord> {
    return { [Symbol.iterator]: () => this.heap.ascending() }
  }

  /**
   * Whether a trim of `wanted` is a few of many (up to 64 peers, or up to an eighth of the index):
   * then `first(wanted)` lists them at once for a trim with topic quotas, which walks on only when a
   * quota keeps some of them.
   */
  walks (wanted: number): boolean { return wanted <= 64 || wanted * 8 <= this.heap.size }

  /** The `k` lowest-ranked indexed peers, in the order `ordered()` walks them: O(k) plus the buckets passed. */
  first (k: number): PeerRecord[] { return this.heap.lowest(k) }

  /** The indexed peers in trim order, lowest first, lazily. The index must not change while iterating. */
  ascending (): Generator<PeerRecord> { return this.heap.ascending() }

  /** The lowest-ranked indexed peer, its idleness re-checked; undefined when the index is empty. */
  lowest (): PeerRecord | undefined {
    // A peer whose streams changed since it was sampled may not be the lowest any more: re-rank it
    // and look again. Each pass fixes one stale peer, so the loop ends.
    for (let guard = 0; guard < this.heap.size + 1; guard++) {
      const top = this.heap.peek()
      if (top === undefined) return undefined
      const idle = PeerRecord.sampleIdle(top.conn!.conn)
      if (idle === top.idle) return top
      top.idle = idle
      this.version++
      this.heap.rekey(top)
    }
    return this.heap.peek()
  }
}
