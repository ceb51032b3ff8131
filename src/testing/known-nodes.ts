import type { Cells } from '../manager/cells.js'

/**
 * The node indexes one node knows, in the order it learnt them: 4 bytes each in an `Int32Array`
 * (a node knows a few hundred), with an open-addressing table of them beside the list once it is
 * longer than a scan is quick (a bootstrap node learns every node; every node asks `has` for each
 * node it is told of).
 */
export class KnownNodes {
  length = 0
  private list: Int32Array
  /** Index + 1 per cell (0: empty), a power of two at most three quarters full; none while short. */
  private table: Int32Array | undefined = undefined

  constructor (private readonly cells: Cells) {
    this.list = cells.int32(32)
  }

  has (x: number): boolean {
    const t = this.table
    if (t === undefined) {
      const list = this.list
      for (let i = 0; i < this.length; i++) if (list[i] === x) return true
      return false
    }
    const mask = t.length - 1
    for (let h = hash(x) & mask; ; h = (h + 1) & mask) {
      const k = t[h]
      if (k === 0) return false
      if (k === x + 1) return true
    }
  }

  /** Appends `x` unless it is known. */
  add (x: number): void {
    if (this.has(x)) return
    if (this.length === this.list.length) {
      const grown = this.cells.int32(this.length * 2)
      grown.set(this.list)
      this.cells.release(this.list)
      this.list = grown
    }
    this.list[this.length++] = x
    if (this.table !== undefined && 4 * this.length <= 3 * this.table.length) this.put(this.table, x)
    else if (this.length > SCAN_LIMIT) this.rehash()
  }

  at (i: number): number { return this.list[i] }

  /** Every known node but `x`, in order. */
  without (x: number): number[] {
    const out: number[] = []
    for (let i = 0; i < this.length; i++) if (this.list[i] !== x) out.push(this.list[i])
    return out
  }

  private rehash (): void {
    let cells = 64
    while (4 * this.length > 3 * cells) cells *= 2
    const t = this.cells.int32(cells)
    for (let i = 0; i < this.length; i++) this.put(t, this.list[i])
    if (this.table !== undefined) this.cells.release(this.table)
    this.table = t
  }

  private put (t: Int32Array, x: number): void {
    const mask = t.length - 1
    let h = hash(x) & mask
    while (t[h] !== 0) h = (h + 1) & mask
    t[h] = x + 1
  }
}

function hash (x: number): number { return Math.imul(x, 0x9e3779b1) >>> 0 }

/** Past this many known nodes, `KnownNodes.has` asks its table instead of scanning. */
const SCAN_LIMIT = 16
