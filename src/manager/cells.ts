/**
 * Typed arrays for the tables a large simulation holds by the hundred thousand (its peer stores,
 * its books' compact peers, what each node knows): carved from shared slabs instead of allocated
 * one by one.
 *
 * Rules:
 * - `int32(n)` and `float64(n)` return a zeroed array of exactly `n` cells; `release(a)` gives one
 *   back when its owner has replaced it (grown it, rebuilt it). An array must not be used after its
 *   release: the next array of its size class may be the same memory.
 * - Arrays of up to `SLAB_BYTES / 8` bytes are views into slabs of `SLAB_BYTES`, in size classes of
 *   powers of two (at least 8 bytes, so that every view is aligned for a Float64Array); a released
 *   one waits in its class's free list for the next array of that class, of either type. Larger
 *   arrays have a buffer of their own, and `release` leaves them to the collector.
 * - Why: each `new Int32Array(n)` allocates an ArrayBuffer (a few µs, and its external memory
 *   counts toward the next full collection); a table that doubles its way to a few hundred cells
 *   in each of 100,000 nodes allocated millions of them, 5–7 % of a 10,000-node run. A view into a
 *   slab costs a small object.
 * - The slabs are never given back: what was released is reused by the next growth of any table.
 */
export class Cells {
  /** Per size class (log2 of its bytes): released views, ready to be taken again. */
  private readonly free: ArrayBufferView[][] = []
  private slab: ArrayBuffer | undefined = undefined
  /** The next free byte of `slab`. */
  private used = 0
  /** Bytes in slabs, for stats and tests. */
  slabBytes = 0

  /** A zeroed `Int32Array` of `n` cells. */
  int32 (n: number): Int32Array<ArrayBuffer> {
    if (n * 4 > MAX_CARVED) return new Int32Array(n)
    const { buffer, byteOffset } = this.take(n * 4)
    return new Int32Array(buffer, byteOffset, n)
  }

  /** A zeroed `Float64Array` of `n` cells. */
  float64 (n: number): Float64Array<ArrayBuffer> {
    if (n * 8 > MAX_CARVED) return new Float64Array(n)
    const { buffer, byteOffset } = this.take(n * 8)
    return new Float64Array(buffer, byteOffset, n)
  }

  /** Gives back an array this allocator returned (a replaced one); any other is left to the collector. */
  release (a: Int32Array | Float64Array): void {
    if (a.byteLength === 0 || a.byteLength > MAX_CARVED || a.buffer.byteLength !== SLAB_BYTES) return
    const k = sizeClass(a.byteLength)
    ;(this.free[k] ??= []).push(a)
  }

  /** The buffer and offset of a zeroed block of at least `bytes` bytes (its size class). */
  private take (bytes: number): { buffer: ArrayBuffer; byteOffset: number } {
    const k = sizeClass(bytes)
    const reused = this.free[k]?.pop()
    if (reused !== undefined) {
      const buffer = reused.buffer as ArrayBuffer
      new Uint8Array(buffer, reused.byteOffset, 1 << k).fill(0)
      return { buffer, byteOffset: reused.byteOffset }
    }
    const size = 1 << k
    if (this.slab === undefined || this.used + size > SLAB_BYTES) {
      this.slab = new ArrayBuffer(SLAB_BYTES)
      this.slabBytes += SLAB_BYTES
      this.used = 0
    }
    const byteOffset = this.used
    this.used += size
    return { buffer: this.slab, byteOffset }
  }
}

/** One slab: 4 MB. */
const SLAB_BYTES = 4 * 1024 * 1024
/** Arrays larger than this have a buffer of their own (a slab holds at least eight of the largest). */
const MAX_CARVED = SLAB_BYTES / 8

/** log2 of the smallest power of two >= `bytes`, at least 3 (8 bytes). */
function sizeClass (bytes: number): number {
  return bytes <= 8 ? 3 : 32 - Math.clz32(bytes - 1)
}

/** The allocator of whoever is given none: every array its own buffer, nothing reused. */
export const PLAIN_CELLS: Pick<Cells, 'int32' | 'float64' | 'release'> = {
  int32: (n) => new Int32Array(n),
  float64: (n) => new Float64Array(n),
  release: () => {}
}

/** What the tables take: `Cells`, or `PLAIN_CELLS`. */
export type CellAllocator = Pick<Cells, 'int32' | 'float64' | 'release'>
