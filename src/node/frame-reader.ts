/**
 * The secure stream's framing, read side: bytes in, frames out. Pure (no socket, no cryptography):
 * every frame on the wire is a 4-byte little-endian length and that many bytes.
 *
 * Rules:
 * - `read(chunk, onFrame)` hands out every frame the chunk completes, in order, as it finds them. A
 *   frame wholly inside the chunk is a view into it (no copy: the socket hands out a fresh buffer per
 *   read, so the owner may decrypt in place); a frame split across reads is gathered into a buffer.
 *   A length prefix may be split too. A zero-length frame is a frame (empty).
 * - Lent frames: a split frame of up to `SCRATCH_BYTES` is gathered in a process-wide scratch buffer
 *   when no other reader holds it (one reader at a time, from the frame's first bytes until `onFrame`
 *   returns); `onFrame`'s `lent` is then true and the frame is valid only during the call — the owner
 *   copies out what must outlive it. A bulk receiver gathers almost every 64 KiB message this way (it
 *   rarely fits one read): a fresh buffer for each cost it throughput. Any other split frame gets a
 *   buffer of its own (`lent` false).
 * - `read` returns how many bytes of the chunk it did not look at, for the owner's accounting:
 *   `onFrame` returns whether to go on, and false stops the read at once.
 * - `limit` is the largest frame taken (the owner changes it between frames, e.g. after the
 *   handshake). A longer announced length stops the read and sets `oversize` (the length and the
 *   limit); the reader takes nothing more until `reset()`.
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
/** The largest split frame gathered in the shared scratch buffer (see the rules). */
export const SCRATCH_BYTES = 256 * 1024

/** The process-wide scratch buffer for split frames (made at first use), and whether no reader holds it now. */
let scratch: Buffer | null = null
let scratchFree = true

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
  /** `partial` is the shared scratch buffer's (lent until `onFrame` returns). */
  private lent = false
  private partialFill = 0
  /** The length of the frame being filled: `partial` may be smaller for now (see `grow`). */
  private partialLength = 0
  /** A length prefix split across reads. */
  private readonly header = Buffer.alloc(HEADER)
  private headerFill = 0
  /** An announced length over the limit, once read: nothing more is taken until `reset()`. */
  oversize: { length: number; limit: number } | undefined
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

  /**
   * Feeds one chunk; `onFrame` gets each complete frame (`lent`: valid only during the call, see the
   * rules) and returns whether to go on. Returns the bytes not looked at.
   */
  read (chunk: Buffer, onFrame: (frame: Buffer, lent: boolean) => boolean): number {
    const size = chunk.byteLength
    if (this.oversize !== undefined) return size
    let offset = 0
    while (offset < size) {
      if (this.partial !== null) {
        const n = Math.min(this.partialLength - this.partialFill, size - offset)
        if (this.partialFill + n > this.partial.byteLength) this.grow(this.partialFill + n)
        chunk.copy(this.partial, this.partialFill, offset, offset + n)
        this.partialFill += n
        offset += n
        if (this.partialFill < this.partialLength) return 0
        const frame = this.partial
        const lent = this.lent
        this.setPartial(null)
        let more: boolean
        try {
          more = onFrame(frame, lent)
        } finally {
          if (lent) this.giveBack()
        }
        if (!more) return size - offset
        continue
      }
      let length: number
      if (this.headerFill === 0 && size - offset >= HEADER) {
        length = chunk.readUInt32LE(offset)
        offset += HEADER
      } else {
        while (this.headerFill < HEADER && offset < size) this.header[this.headerFill++] = chunk[offset++]
        if (this.headerFill < HEADER) return 0
        this.headerFill = 0
        length = this.header.readUInt32LE(0)
      }
      if (length > this.limit) {
        this.oversize = { length, limit: this.limit }
        return size - offset
      }
      if (size - offset >= length) {
        const frame = chunk.subarray(offset, offset + length)
        offset += length
        if (!onFrame(frame, false)) return size - offset
      } else {
        this.setPartial(this.borrow(length) ?? Buffer.allocUnsafe(Math.min(length, this.firstAllocation)))
        this.partialLength = length
        this.partialFill = 0
      }
    }
    return 0
  }

  /** Drops the partial frame and length prefix, and takes frames again after an oversize one. */
  reset (): void {
    this.setPartial(null)
    this.giveBack()
    this.headerFill = 0
    this.oversize = undefined
  }

  /** The scratch buffer for a frame of `length` bytes when it fits and no reader holds it. */
  private borrow (length: number): Buffer | undefined {
    if (length > SCRATCH_BYTES || length > this.firstAllocation || !scratchFree) return undefined
    scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
    scratchFree = false
    this.lent = true
    return scratch.subarray(0, length)
  }

  /** Gives the scratch back, unless a frame of this reader's own still fills it. */
  private giveBack (): void {
    if (!this.lent || this.partial !== null) return
    this.lent = false
    scratchFree = true
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
