/**
 * The secure stream's framing, read side: bytes in, frames out. Pure (no socket, no cryptography):
 * every frame on the wire is a 4-byte little-endian length and that many bytes.
 *
 * Rules:
 * - `read(chunk, onFrame)` hands out every frame the chunk completes, in order, as it finds them. A
 *   frame wholly inside the chunk is a view into it (no copy: the socket hands out a fresh buffer per
 *   read, so the owner may decrypt in place); a frame split across reads is gathered into a buffer
 *   of its own. A length prefix may be split too. A zero-length frame is a frame (empty).
 * - `onFrame` returns whether to go on: false stops the read at once, and `read` says how many bytes
 *   of the chunk it did not look at (`unread`), for the owner's accounting.
 * - `limit` is the largest frame taken (the owner changes it between frames, e.g. after the
 *   handshake); a longer announced length stops the read with `oversize` (the length and the limit),
 *   and the reader takes nothing more until `reset()`.
 * - Memory: a split frame's buffer is allocated up to `firstAllocation` (1 MiB) when its length
 *   arrives; past that it grows (at least `growth`-fold, at most to the frame's length) with the
 *   bytes that arrive, so a peer that announces 16 MiB and trickles makes us hold what it sent, not
 *   what it announced. `holding` is the size of that buffer; `onHolding(delta)` hears each change.
 * - `reset()` drops any partial frame and length prefix (the owner stops reading, or is destroyed).
 */

/** Bytes of a frame's length prefix (little endian). */
export const HEADER = 4
/** A frame's buffer is allocated up to this size at once; a bigger one grows as its bytes arrive. */
const FIRST_ALLOCATION = 1024 * 1024
/** How a bigger frame's buffer grows: fourfold (1, 4, 16 MiB) copies what arrived at most twice more for a 16 MiB frame. */
const GROWTH = 4

/** What one `read` did: bytes of the chunk not looked at, and an announced length over the limit if any. */
export interface FrameRead {
  unread: number
  oversize?: { length: number; limit: number }
}

export interface FrameReaderOptions {
  /** The largest frame taken, at first (see `limit`). */
  limit: number
  /** Hears every change of `holding` (a meter of the owner's). */
  onHolding?: (delta: number) => void
  /** Default 1 MiB. */
  firstAllocation?: number
  /** Default 4. */
  growth?: number
}

export class FrameReader {
  /** The largest frame taken: a longer announced length is `oversize`. */
  limit: number
  /** The frame being filled across reads, and how much of it is there. */
  private partial: Buffer | null = null
  private partialFill = 0
  /** The length of the frame being filled: `partial` may be smaller for now (see `grow`). */
  private partialLength = 0
  /** A length prefix split across reads. */
  private readonly header = Buffer.alloc(HEADER)
  private headerFill = 0
  /** An oversize length was read: nothing more is taken until `reset()`. */
  private failed = false
  private readonly onHolding: ((delta: number) => void) | undefined
  private readonly firstAllocation: number
  private readonly growth: number

  constructor (opts: FrameReaderOptions) {
    this.limit = opts.limit
    this.onHolding = opts.onHolding
    this.firstAllocation = opts.firstAllocation ?? FIRST_ALLOCATION
    this.growth = opts.growth ?? GROWTH
  }

  /** Bytes held for the frame being received (at most `growth` × what arrived of it, or `firstAllocation`). */
  get holding (): number { return this.partial?.byteLength ?? 0 }

  /** Feeds one chunk; `onFrame` gets each complete frame and returns whether to go on. */
  read (chunk: Buffer, onFrame: (frame: Buffer) => boolean): FrameRead {
    const size = chunk.byteLength
    if (this.failed) return { unread: size }
    let offset = 0
    while (offset < size) {
      if (this.partial !== null) {
        const n = Math.min(this.partialLength - this.partialFill, size - offset)
        if (this.partialFill + n > this.partial.byteLength) this.grow(this.partialFill + n)
        chunk.copy(this.partial, this.partialFill, offset, offset + n)
        this.partialFill += n
        offset += n
        if (this.partialFill < this.partialLength) return { unread: 0 }
        const frame = this.partial
        this.setPartial(null)
        if (!onFrame(frame)) return { unread: size - offset }
        continue
      }
      let length: number
      if (this.headerFill === 0 && size - offset >= HEADER) {
        length = chunk.readUInt32LE(offset)
        offset += HEADER
      } else {
        while (this.headerFill < HEADER && offset < size) this.header[this.headerFill++] = chunk[offset++]
        if (this.headerFill < HEADER) return { unread: 0 }
        this.headerFill = 0
        length = this.header.readUInt32LE(0)
      }
      if (length > this.limit) {
        this.failed = true
        return { unread: size - offset, oversize: { length, limit: this.limit } }
      }
      if (size - offset >= length) {
        const frame = chunk.subarray(offset, offset + length)
        offset += length
        if (!onFrame(frame)) return { unread: size - offset }
      } else {
        this.setPartial(Buffer.allocUnsafe(Math.min(length, this.firstAllocation)))
        this.partialLength = length
        this.partialFill = 0
      }
    }
    return { unread: 0 }
  }

  /** Drops the partial frame and length prefix, and takes frames again after an oversize one. */
  reset (): void {
    this.setPartial(null)
    this.headerFill = 0
    this.failed = false
  }

  /** At least `needed` bytes, growing `growth`-fold (at most the frame's length): few copies of what arrived. */
  private grow (needed: number): void {
    const grown = Buffer.allocUnsafe(Math.min(this.partialLength, Math.max(needed, this.partial!.byteLength * this.growth)))
    this.partial!.copy(grown, 0, 0, this.partialFill)
    this.setPartial(grown)
  }

  private setPartial (buffer: Buffer | null): void {
    const delta = (buffer?.byteLength ?? 0) - (this.partial?.byteLength ?? 0)
    this.partial = buffer
    if (delta !== 0) this.onHolding?.(delta)
  }
}
