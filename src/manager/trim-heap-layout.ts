import type { PeerRecord } from './peer-record.js'
import { priorityRank } from './rank.js'

/** A position's integer in `slots`: the slot above these bits, the peer's rank class and flags in them. */
export const SLOT_SHIFT = 6
const RANK_MASK = (1 << SLOT_SHIFT) - 1

/**
 * The trim index's binary min-heap, its storage and its sifts (`TrimHeap`, trim-heap.ts, adds the
 * walks a trim takes its victims with): the connected peers in trim order (`compareTrimRank`), each
 * position's rank key cached in typed arrays beside it, so that a comparison reads two small integers
 * and two numbers instead of six fields of two records. This is what makes a trim of k peers among n
 * (k taken) cost microseconds per peer. A position's class and flags share one 32-bit integer with its
 * slot, and its value and opening time sit side by side in one Float64Array: 20 bytes a position
 * (a trim after a collection reads the heap from memory: the fewer lines, the faster).
 *
 * The heap itself is an array of slots, not of peers: a peer keeps one slot (its `heapIndex`) while
 * it is in, and the slot's position lives in a typed array. A sift moves slots and keys — typed
 * arrays only — where moving the peers would write the position into every peer it passes (a cache
 * miss each, scattered over the heap's memory: most of a removal's cost at 10,000 peers).
 *
 * Rules:
 * - The cached key of a peer is taken when it enters (`upsert`, `append`) and whenever its owner says
 *   its rank changed (`upsert`, `rekey`, `refresh`); the order is `compareTrimRank` on those keys,
 *   exactly: class (banned first, then not long-term before long-term, then priority), tag value,
 *   idle before busy and inbound before outbound, newest first.
 * - The layout is that of `IndexedHeap` for the same operations (same sift rules), so the order in
 *   which equal ranks are walked does not depend on which of the two holds the peers.
 */
export class TrimHeapLayout {
  /** The peers by slot: a peer's `heapIndex` is its slot while it is in the heap (-1 otherwise), and stays while others move. */
  protected recs: Array<PeerRecord | undefined> = []
  /** Slots given back by removed peers, reused first. */
  private readonly free: number[] = []
  /** The heap proper: at each position, its slot and its peer's class and flags (`slot << 6 | class << 2 | flags`, see `load`). */
  protected slots = new Int32Array(64)
  /** Each slot's position (valid while its peer is in). */
  protected pos = new Int32Array(64)
  /** Two numbers per position, side by side (one cache line holds four positions): value, openedAt. */
  protected keys = new Float64Array(2 * 64)
  protected n = 0

  get size (): number { return this.n }

  /** The peers in heap order (position 0 first): a copy. */
  get items (): PeerRecord[] {
    const out = new Array<PeerRecord>(this.n)
    for (let i = 0; i < this.n; i++) out[i] = this.at(i)
    return out
  }

  /** The peer at position `i`. */
  at (i: number): PeerRecord { return this.recs[this.slots[i] >> SLOT_SHIFT]! }

  peek (): PeerRecord | undefined { return this.n === 0 ? undefined : this.at(0) }

  /** Inserts, or re-keys and re-ranks a peer already in. */
  upsert (record: PeerRecord): void {
    if (record.heapIndex === -1) {
      this.append(record)
      this.up(this.n - 1)
    } else {
      this.rekey(record)
    }
  }

  /** Appends without ordering; call `heapify()` after a batch. */
  append (record: PeerRecord): void {
    let slot = this.free.pop()
    if (slot === undefined) {
      slot = this.recs.length
      if (slot === this.slots.length) this.grow()
      this.recs.push(record)
    } else {
      this.recs[slot] = record
    }
    record.heapIndex = slot
    const i = this.n++
    this.slots[i] = slot << SLOT_SHIFT
    this.pos[slot] = i
    this.load(i, record)
  }

  /** The peer's rank changed: re-reads its key and restores the order. */
  rekey (record: PeerRecord): void {
    if (record.heapIndex === -1) return
    const i = this.pos[record.heapIndex]
    this.load(i, record)
    this.fix(i)
  }

  /** Re-reads the peer's key without restoring the order: call `heapify()` after a batch. */
  refresh (record: PeerRecord): void {
    if (record.heapIndex !== -1) this.load(this.pos[record.heapIndex], record)
  }

  remove (record: PeerRecord): void {
    const slot = record.heapIndex
    if (slot === -1) return
    this.removeAt(this.pos[slot])
  }

  /**
   * Removes the peer at position `i`. Its record is only written (its `heapIndex`), never read; with
   * `unlink` false not even that, and the caller writes -1 there itself: a trim's k removals of the
   * root then never touch a record (one not in the cache costs a miss, which a loop of stores overlaps).
   */
  protected removeAt (i: number, unlink = true): void {
    const out = this.slots[i] >> SLOT_SHIFT
    if (unlink) this.recs[out]!.heapIndex = -1
    this.recs[out] = undefined
    this.free.push(out)
    const last = --this.n
    if (i === last) return
    // The last peer fills the gap. It usually belongs far down: the gap goes down to a leaf along the
    // smaller children first (one comparison a level), then the peer climbs back up from there — the
    // same place a sift down would find (it climbs past equal ranks exactly as far as a sift down
    // would have stopped above them), at about half the comparisons. Peers move into the gap; the
    // moving peer's key waits in locals until its place is found. A move writes typed arrays only
    // (slot and key): no peer record is touched but the one removed.
    this.copy(last, i)
    if (this.up(i)) return
    const { keys, slots, pos } = this
    const n = this.n
    const moving = slots[i]
    const mc = (moving & RANK_MASK) >> 2
    const mf = moving & 3
    const mv = keys[2 * i]
    const mo = keys[2 * i + 1]
    let hole = i
    for (;;) {
      const l = 2 * hole + 1
      if (l >= n) break
      const c = l + this.rightFirst(l, n)
      this.copy(c, hole)
      hole = c
    }
    // Back up: past every peer that ranks at or after it, down to where it started.
    while (hole > i) {
      const p = (hole - 1) >> 1
      const q = 2 * p
      const pm = slots[p]
      const pc = (pm & RANK_MASK) >> 2
      const d = mc !== pc ? mc - pc : mv !== keys[q] ? (mv < keys[q] ? -1 : 1) : mf !== (pm & 3) ? mf - (pm & 3) : mo !== keys[q + 1] ? (mo > keys[q + 1] ? -1 : 1) : 0
      if (d > 0) break
      this.copy(p, hole)
      hole = p
    }
    slots[hole] = moving
    pos[moving >> SLOT_SHIFT] = hole
    keys[2 * hole] = mv
    keys[2 * hole + 1] = mo
  }

  heapify (): void {
    for (let i = (this.n >> 1) - 1; i >= 0; i--) this.down(i)
  }

  /** Compares positions `a` and `b` by their cached keys: `compareTrimRank`'s order. */
  private compare (a: number, b: number): number {
    const ra = this.slots[a] & RANK_MASK
    const rb = this.slots[b] & RANK_MASK
    if ((ra >> 2) !== (rb >> 2)) return (ra >> 2) - (rb >> 2)
    const k = this.keys
    const x = 2 * a
    const y = 2 * b
    if (k[x] !== k[y]) return k[x] < k[y] ? -1 : 1
    // Same class: the rank bits differ only in the flags.
    if (ra !== rb) return (ra & 3) - (rb & 3)
    if (k[x + 1] !== k[y + 1]) return k[x + 1] > k[y + 1] ? -1 : 1
    return 0
  }

  /**
   * 1 when the right sibling of position `l` (a left child) ranks strictly before it, else 0 (also
   * when it has none): `compare(l + 1, l) < 0` without a branch. Which child is smaller is a coin
   * toss deep in the heap, so a branch there is mispredicted about every other level; a removal's
   * descent spent more time on those than on its reads (200 removals of 10,100: 42 µs → 33 µs hot).
   */
  private rightFirst (l: number, n: number): number {
    const { slots, keys } = this
    const r = l + 1
    const has = r < n
    const sl = slots[l] & RANK_MASK
    // No right sibling: a class above every class, so the left one is taken.
    const sr = has ? slots[r] & RANK_MASK : RANK_MASK + 1
    const cl = sl >> 2
    const cr = sr >> 2
    const vl = keys[2 * l]
    const vr = has ? keys[2 * r] : 0
    const fl = sl & 3
    const fr = sr & 3
    const ol = keys[2 * l + 1]
    const or = has ? keys[2 * r + 1] : 0
    // compareTrimRank's steps as bits: class, value, flags, then newest first.
    return (+(cr < cl)) | (+(cr === cl) & (+(vr < vl) | (+(vr === vl) & (+(fr < fl) | (+(fr === fl) & +(or > ol))))))
  }

  /** The walk's order: by rank, then by position (the same tie-break as `IndexedHeap.ascending`). */
  protected before (a: number, b: number): boolean {
    const c = this.compare(a, b)
    return c < 0 || (c === 0 && a < b)
  }

  private fix (i: number): void {
    if (!this.up(i)) this.down(i)
  }

  private up (i: number): boolean {
    let moved = false
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.compare(i, p) >= 0) break
      this.swap(i, p)
      i = p
      moved = true
    }
    return moved
  }

  protected down (i: number): void {
    const n = this.n
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.compare(r, l) < 0 ? r : l
      if (this.compare(c, i) >= 0) break
      this.swap(i, c)
      i = c
    }
  }

  private load (i: number, r: PeerRecord): void {
    // Banned peers first whatever else (long-term ones last among them); then not long-term before
    // long-term, each by priority: 0–9, four bits.
    const cls = r.priority === 'banned' ? (r.longTerm ? 1 : 0) : 2 + (r.longTerm ? 4 : 0) + priorityRank(r.priority)
    const flags = (r.idle ? 0 : 2) + (r.inbound ? 0 : 1)
    this.slots[i] = (this.slots[i] & ~RANK_MASK) | (cls << 2) | flags
    this.keys[2 * i] = r.value
    this.keys[2 * i + 1] = r.openedAt
  }

  /** Moves the peer and key at position `from` to `to` (overwriting it). */
  protected copy (from: number, to: number): void {
    const s = this.slots[from]
    this.slots[to] = s
    this.pos[s >> SLOT_SHIFT] = to
    const k = this.keys
    k[2 * to] = k[2 * from]
    k[2 * to + 1] = k[2 * from + 1]
  }

  private swap (a: number, b: number): void {
    const { slots, pos, keys } = this
    const sa = slots[a]
    const sb = slots[b]
    slots[a] = sb
    pos[sb >> SLOT_SHIFT] = a
    slots[b] = sa
    pos[sa >> SLOT_SHIFT] = b
    const x = 2 * a
    const y = 2 * b
    const v = keys[x]
    keys[x] = keys[y]
    keys[y] = v
    const o = keys[x + 1]
    keys[x + 1] = keys[y + 1]
    keys[y + 1] = o
  }

  /** Takes the peer out of its slot (its position is the caller's to fill). */
  protected release (record: PeerRecord): void {
    const slot = record.heapIndex
    record.heapIndex = -1
    this.recs[slot] = undefined
    this.free.push(slot)
  }

  /** Doubles the room for slots and positions (a slot is only added when every slot is taken). */
  private grow (): void {
    const size = this.slots.length * 2
    const slots = new Int32Array(size)
    slots.set(this.slots)
    this.slots = slots
    const pos = new Int32Array(size)
    pos.set(this.pos)
    this.pos = pos
    const keys = new Float64Array(2 * size)
    keys.set(this.keys)
    this.keys = keys
  }
}
