import { PLAIN_CELLS, type CellAllocator } from './cells.js'

/**
 * The peers a book knows and has said nothing else about, as numbers: what the simulation's peer
 * books keep instead of a record for most of the hundreds of peers each of 100,000 nodes is told
 * about (see `PeerBook`, "compact peers").
 *
 * Rules:
 * - A peer is its number (a non-negative integer the book's `AddressScheme` gives its id), with the
 *   two numbers its record would have been created with: its creation order (`PeerRecord.seq`) and
 *   the time it was first seen.
 * - `first()` is the peer with the lowest creation order: peers are added in creation order, so the
 *   table is a queue with removals anywhere (a removed peer leaves a hole, skipped and compacted away).
 * - Cost: about 30 bytes a peer (three typed-array cells and an open-addressing table at most three
 *   quarters full), against about 400 for a record and its map entry.
 */
export class CompactPeers {
  /** Live peers. */
  size = 0
  /** Peer numbers in creation order; HOLE where one was taken out. (Empty until the first peer: most books of a large simulation are built long before they learn one.) */
  private order = NO_INTS
  private seqs = NO_NUMBERS
  private seen = NO_NUMBERS
  /** Used cells of `order` (holes included). */
  private end = 0
  /** No live peer before this cell of `order`. */
  private head = 0
  /** Open addressing on the peer number: its cell in `order` + 1, 0 empty, -1 deleted. */
  private table = NO_INTS
  private tableUsed = 0

  /** `cells`: where its arrays come from (a simulation's shared slabs; by default each its own buffer). */
  constructor (private readonly cells: CellAllocator = PLAIN_CELLS) {}

  has (peer: number): boolean { return this.size > 0 && this.find(peer) >= 0 }

  /** Adds a peer the table does not hold. */
  add (peer: number, seq: number, firstSeen: number): void {
    if (this.end === this.order.length) this.grow()
    const at = this.end++
    this.order[at] = peer
    this.seqs[at] = seq
    this.seen[at] = firstSeen
    this.size++
    if (4 * (this.tableUsed + 1) > 3 * this.table.length) this.rehash(this.table.length * (2 * this.size > this.table.length ? 2 : 1))
    const cell = this.cell(peer)
    if (this.table[cell] === 0) this.tableUsed++
    this.table[cell] = at + 1
  }

  /** The peer of lowest creation order, or -1 when the table is empty. */
  first (): number {
    while (this.head < this.end && this.order[this.head] === HOLE) this.head++
    return this.head < this.end ? this.order[this.head] : -1
  }

  /** The creation order of the first peer (`first()` must not be -1). */
  firstSeq (): number {
    this.first()
    return this.seqs[this.head]
  }

  /** The first-seen time of `peer`, or undefined when the table does not hold it. */
  firstSeenOf (peer: number): number | undefined {
    const at = this.size === 0 ? -1 : this.find(peer)
    return at < 0 ? undefined : this.seen[at]
  }

  /** Takes `peer` out; returns its creation order and first-seen time, or undefined when the table does not hold it. */
  take (peer: number): { seq: number; firstSeen: number } | undefined {
    if (this.size === 0) return undefined
    const cell = this.cell(peer)
    const at = this.table[cell] - 1
    if (at < 0) return undefined
    const out = { seq: this.seqs[at], firstSeen: this.seen[at] }
    // The cell first: it is found through the peer's number in `order`.
    this.table[cell] = -1
    this.order[at] = HOLE
    this.size--
    return out
  }

  /** Every peer, in creation order (the table must not change meanwhile). */
  * peers (): Generator<number> {
    for (let i = this.head; i < this.end; i++) if (this.order[i] !== HOLE) yield this.order[i]
  }

  /** The cell of `order` that holds `peer`, or -1. */
  private find (peer: number): number {
    const k = this.table[this.cell(peer)]
    return k > 0 ? k - 1 : -1
  }

  /** The table cell that holds `peer`, or the cell where it would go. */
  private cell (peer: number): number {
    const t = this.table
    const mask = t.length - 1
    let h = (Math.imul(peer, 0x9e3779b1) >>> 0) & mask
    let deleted = -1
    for (;;) {
      const k = t[h]
      if (k === 0) return deleted === -1 ? h : deleted
      if (k > 0 && this.order[k - 1] === peer) return h
      if (k === -1 && deleted === -1) deleted = h
      h = (h + 1) & mask
    }
  }

  /**
   * Room for more peers: the holes are dropped first, in place (the head of the queue empties as
   * its peers become records: most growths of a large simulation are that); the arrays double only
   * when the live peers fill half of them.
   */
  private grow (): void {
    const live = this.size
    if (this.order.length > 0 && 2 * live < this.order.length) {
      const { order, seqs, seen } = this
      let j = 0
      for (let i = this.head; i < this.end; i++) {
        if (order[i] === HOLE) continue
        order[j] = order[i]
        seqs[j] = seqs[i]
        seen[j] = seen[i]
        j++
      }
      this.end = j
      this.head = 0
      this.rehash(this.table.length)
      return
    }
    const cap = this.order.length === 0 ? 8 : this.order.length * 2
    const order = this.cells.int32(cap)
    const seqs = this.cells.float64(cap)
    const seen = this.cells.float64(cap)
    if (this.head === 0 && this.end === live) {
      // No hole: every peer keeps its cell, and the table its cells.
      order.set(this.order)
      seqs.set(this.seqs)
      seen.set(this.seen)
      this.replace(order, seqs, seen)
      return
    }
    let j = 0
    for (let i = this.head; i < this.end; i++) {
      if (this.order[i] === HOLE) continue
      order[j] = this.order[i]
      seqs[j] = this.seqs[i]
      seen[j] = this.seen[i]
      j++
    }
    this.replace(order, seqs, seen)
    this.end = j
    this.head = 0
    this.rehash(this.table.length)
  }

  /** New arrays in place of the old ones, which go back to the allocator. */
  private replace (order: Int32Array<ArrayBuffer>, seqs: Float64Array<ArrayBuffer>, seen: Float64Array<ArrayBuffer>): void {
    this.cells.release(this.order)
    this.cells.release(this.seqs)
    this.cells.release(this.seen)
    this.order = order
    this.seqs = seqs
    this.seen = seen
  }

  /** A table of `cells` cells (a power of two, at least twice the live peers) without the deleted ones. */
  private rehash (cells: number): void {
    cells = Math.max(16, cells)
    while (cells < 2 * (this.size + 1)) cells *= 2
    // The same size again (deleted cells dropped): cleared in place, not allocated.
    if (cells === this.table.length) this.table.fill(0)
    else {
      this.cells.release(this.table)
      this.table = this.cells.int32(cells)
    }
    this.tableUsed = 0
    for (let i = this.head; i < this.end; i++) {
      if (this.order[i] === HOLE) continue
      this.table[this.cell(this.order[i])] = i + 1
      this.tableUsed++
    }
  }
}

const HOLE = -1
const NO_INTS = new Int32Array(0)
const NO_NUMBERS = new Float64Array(0)
