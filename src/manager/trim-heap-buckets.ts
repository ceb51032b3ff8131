import type { PeerRecord } from './peer-record.js'
import { priorityRank } from './rank.js'
import { RankBucket } from './trim-heap-bucket.js'

/** Buckets kept for reuse once emptied (a peer moving between tag values empties and fills some). */
const SPARE_BUCKETS = 64

/**
 * A peer's rank class and flags in one integer, `class << 2 | flags`: banned peers first whatever
 * else (long-term ones last among them); then not long-term before long-term, each by priority
 * (0–9); flags idle before busy, inbound before outbound (0–3).
 */
export function classOf (r: PeerRecord): number {
  const cls = r.priority === 'banned' ? (r.longTerm ? 1 : 0) : 2 + (r.longTerm ? 4 : 0) + priorityRank(r.priority)
  return (cls << 2) | (r.idle ? 0 : 2) | (r.inbound ? 0 : 1)
}

/**
 * The trim index's ordered set of peers (`compareTrimRank`), bucketed by rank: the peers whose rank
 * differs only in their connection's age share a bucket (same class, tag value and flags), kept
 * newest first (trim-heap-bucket.ts), and the buckets are a binary min-heap by their key. A trim of
 * k takes the lowest bucket's newest members (a pop each, O(1)), then the next bucket's: where a
 * heap of peers walked k paths from the root to its leaves, each a comparison a level with a
 * mispredicted branch and a cache miss in the lower levels. Peers usually fall into few buckets (tag
 * values are small sums); with as many values as peers (decaying tags) each bucket holds one peer
 * and this is a heap of peers with one more indirection.
 *
 * Rules:
 * - A peer is in while its `heapIndex` is a slot (>= 0; -1 when out); its bucket key and opening
 *   time are read when it enters (`upsert`) and whenever its owner says its rank changed (`upsert`,
 *   `rekey`): the order is always restored at once.
 * - The order is `compareTrimRank`, exactly: bucket by class, value, flags; newest first inside.
 *   Among exactly equal ranks the order is the buckets' (see `RankBucket`).
 * - An emptied bucket leaves the heap and its key at once (a few are kept for reuse).
 */
export class TrimBuckets {
  /** The peers by slot: a peer's `heapIndex` is its slot while it is in. */
  private readonly recs: Array<PeerRecord | undefined> = []
  /** The bucket of each slot's peer. */
  private readonly owner: Array<RankBucket | undefined> = []
  /** Slots given back by removed peers, reused first. */
  private readonly free: number[] = []
  /** Each slot's place in its bucket (see `RankBucket`). */
  private at = new Int32Array(64)
  /** The non-empty buckets, a binary min-heap by (class, value, flags). */
  private readonly heap: RankBucket[] = []
  /** The buckets by `class << 2 | flags`, then by value; a class's map is made when a peer first has it (a manager's index uses a few of the 40). */
  private readonly byClass: Array<Map<number, RankBucket> | undefined> = []
  private readonly spare: RankBucket[] = []
  private n = 0

  get size (): number { return this.n }

  /** The peers in slot order (any order): a copy. */
  get items (): PeerRecord[] {
    const out: PeerRecord[] = []
    for (let i = 0; i < this.recs.length; i++) if (this.recs[i] !== undefined) out.push(this.recs[i]!)
    return out
  }

  /** The lowest-ranked peer; undefined when empty. */
  peek (): PeerRecord | undefined {
    return this.heap.length === 0 ? undefined : this.recs[this.heap[0].newest()]
  }

  /** Inserts, or re-keys and re-ranks a peer already in. */
  upsert (record: PeerRecord): void {
    if (record.heapIndex !== -1) {
      this.rekey(record)
      return
    }
    let slot = this.free.pop()
    if (slot === undefined) {
      slot = this.recs.length
      this.recs.push(record)
      this.owner.push(undefined)
      if (slot === this.at.length) {
        const at = new Int32Array(2 * slot)
        at.set(this.at)
        this.at = at
      }
    } else {
      this.recs[slot] = record
    }
    record.heapIndex = slot
    this.n++
    this.place(slot, record)
  }

  /** The peer's rank changed: re-reads its key and moves it (nothing when the key is the same). */
  rekey (record: PeerRecord): void {
    const slot = record.heapIndex
    if (slot === -1) return
    const b = this.owner[slot]!
    if (b.cf === classOf(record) && b.value === record.value && b.openedAt(slot, this.at) === record.openedAt) return
    this.unplace(slot, b)
    this.place(slot, record)
  }

  remove (record: PeerRecord): void {
    const slot = record.heapIndex
    if (slot === -1) return
    this.unplace(slot, this.owner[slot]!)
    this.release(slot)
    record.heapIndex = -1
  }

  /** Removes each of `records` (O(1) for a bucket's newest, O(log) at most). True: the order holds. */
  removeMany (records: readonly PeerRecord[]): boolean {
    for (let i = 0; i < records.length; i++) this.remove(records[i])
    return true
  }

  /**
   * Takes the `k` lowest peers out, lowest first: the lowest bucket's newest members, popped, then
   * the next bucket's.
   */
  takeLowest (k: number): PeerRecord[] {
    const out: PeerRecord[] = []
    const { at, recs, heap } = this
    while (out.length < k && heap.length > 0) {
      const b = heap[0]
      while (out.length < k && b.size > 0) {
        const slot = b.popNewest(at)
        out.push(recs[slot]!)
        this.release(slot)
      }
      if (b.size === 0) this.drop(b)
    }
    // The records are written once all have left, in a loop of independent stores.
    for (let i = 0; i < out.length; i++) out[i].heapIndex = -1
    return out
  }

  /** The `k` lowest peers in the order `ascending()` yields them: a copy. */
  lowest (k: number): PeerRecord[] {
    const out: PeerRecord[] = []
    if (k <= 0) return out
    for (const r of this.ascending()) {
      out.push(r)
      if (out.length === k) break
    }
    return out
  }

  /** The peers in order, lowest first, lazily: the buckets in key order, each newest first. Nothing may change while iterating. */
  * ascending (): Generator<PeerRecord> {
    const { heap, recs } = this
    if (heap.length === 0) return
    // The frontier: bucket-heap positions whose parents were walked, a min-heap itself (small).
    const frontier: number[] = [0]
    while (frontier.length > 0) {
      const top = frontier[0]
      const last = frontier.pop()!
      if (frontier.length > 0) frontierDown(frontier, last, heap)
      for (const slot of heap[top].newestFirst()) yield recs[slot]!
      for (let c = 2 * top + 1; c <= 2 * top + 2 && c < heap.length; c++) frontierUp(frontier, c, heap)
    }
  }

  /** Files `slot` (the peer `r`) in its bucket, making the bucket if it has none. */
  private place (slot: number, r: PeerRecord): void {
    const cf = classOf(r)
    const map = this.byClass[cf] ?? (this.byClass[cf] = new Map())
    let b = map.get(r.value)
    if (b === undefined) {
      b = this.spare.pop() ?? new RankBucket()
      b.reset(cf, r.value)
      map.set(r.value, b)
      b.hpos = this.heap.length
      this.heap.push(b)
      this.up(b.hpos)
    }
    this.owner[slot] = b
    b.add(slot, r.openedAt, this.at)
  }

  /** Takes `slot` out of its bucket `b` (dropping the bucket when it empties). */
  private unplace (slot: number, b: RankBucket): void {
    b.remove(slot, this.at)
    this.owner[slot] = undefined
    if (b.size === 0) this.drop(b)
  }

  private release (slot: number): void {
    this.recs[slot] = undefined
    this.owner[slot] = undefined
    this.free.push(slot)
    this.n--
  }

  /** An empty bucket leaves the heap and its key. */
  private drop (b: RankBucket): void {
    this.byClass[b.cf]!.delete(b.value)
    const { heap } = this
    const i = b.hpos
    const last = heap.pop()!
    if (i < heap.length) {
      heap[i] = last
      last.hpos = i
      if (!this.up(i)) this.down(i)
    }
    b.hpos = -1
    if (this.spare.length < SPARE_BUCKETS) this.spare.push(b)
  }

  private up (i: number): boolean {
    const { heap } = this
    const b = heap[i]
    const from = i
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(b, heap[p])) break
      heap[i] = heap[p]
      heap[i].hpos = i
      i = p
    }
    heap[i] = b
    b.hpos = i
    return i !== from
  }

  private down (i: number): void {
    const { heap } = this
    const n = heap.length
    const b = heap[i]
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const c = l + 1 < n && before(heap[l + 1], heap[l]) ? l + 1 : l
      if (!before(heap[c], b)) break
      heap[i] = heap[c]
      heap[i].hpos = i
      i = c
    }
    heap[i] = b
    b.hpos = i
  }
}

/** Bucket `a` ranks before bucket `b`: class, then tag value, then flags (`compareTrimRank`'s steps 1–6). */
function before (a: RankBucket, b: RankBucket): boolean {
  const ca = a.cf >> 2
  const cb = b.cf >> 2
  if (ca !== cb) return ca < cb
  if (a.value !== b.value) return a.value < b.value
  return (a.cf & 3) < (b.cf & 3)
}

function frontierUp (f: number[], c: number, heap: readonly RankBucket[]): void {
  let i = f.length
  f.push(c)
  while (i > 0) {
    const p = (i - 1) >> 1
    if (!before(heap[c], heap[f[p]])) break
    f[i] = f[p]
    i = p
  }
  f[i] = c
}

/** Puts `last` at the frontier's root (its old root taken) and sifts it down. */
function frontierDown (f: number[], last: number, heap: readonly RankBucket[]): void {
  const n = f.length
  let i = 0
  for (;;) {
    const l = 2 * i + 1
    if (l >= n) break
    const c = l + 1 < n && before(heap[f[l + 1]], heap[f[l]]) ? l + 1 : l
    if (!before(heap[f[c]], heap[last])) break
    f[i] = f[c]
    i = c
  }
  f[i] = last
}
