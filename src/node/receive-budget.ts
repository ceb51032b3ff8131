import type { Clock } from '../manager/types.js'
import { Alarm } from '../clock.js'

/** Default `maxReceivingBytes`: bytes held for partly received frames, all connections together (256 MiB). */
export const DEFAULT_MAX_RECEIVING_BYTES = 256 * 1024 * 1024
/**
 * Default `frameTimeout` (ms): a frame must arrive whole within a minute of its first bytes (a 16 MiB
 * frame at 2.3 Mbit/s).
 */
export const DEFAULT_FRAME_TIMEOUT = 60_000

/**
 * One source (an IP, an IPv6 /64, or a public range: `peerSource`; 127.0.0.1 and ::1 exempt) may hold
 * this share of `maxReceivingBytes` in partial frames, all its connections together (32 MiB of the
 * default 256 MiB).
 */
export const RECEIVING_SOURCE_SHARE = 1 / 8

/** Why the budget ends a connection: its partial frame gave way to others, or did not complete in time. */
export type ReceiveBudgetReason = 'over-budget' | 'timeout'

/** A stream that holds a partly received frame (secure-stream.ts). */
export interface PartialFrameHolder {
  /** The budget ends it: the holder closes with `reason` (or is destroyed) and drops its partial frame. Must not throw. */
  overReceiveBudget (reason: ReceiveBudgetReason, why: string): void
}

/**
 * One connection's partial frame, as the budget counts it: the entry is made once per connection
 * (`ReceiveBudget.track`) and reused for each of its frames, linked into the budget's two lists while
 * a frame is partly received (no allocation, no Map or timer work per frame).
 */
export class PartialFrame {
  /** Bytes held for the frame being received (0: none counted). */
  bytes = 0
  /** When its frame must be whole (ms). */
  deadline = 0
  /** Counted now: linked into both lists. */
  counted = false
  /** Neighbours in the give-way order (the stalest first). */
  stalePrev: PartialFrame | null = null
  staleNext: PartialFrame | null = null
  /** Neighbours in the deadline order (the earliest first: every frame has the same time). */
  duePrev: PartialFrame | null = null
  dueNext: PartialFrame | null = null
  /** Neighbours in its source's give-way order (the stalest of the source first). */
  srcPrev: PartialFrame | null = null
  srcNext: PartialFrame | null = null

  /** `source`: where its connection comes from (`peerSource`; undefined: exempt from the per-source budget). */
  constructor (readonly holder: PartialFrameHolder, private readonly budget: ReceiveBudget, readonly source?: string) {}

  /** Its holder holds `bytes` for its partial frame now (0: the frame completed or was dropped). */
  held (bytes: number): void { this.budget.held(this, bytes) }

  /** Bytes of its frame arrived now: it moves to the end of the give-way order. */
  progressed (): void { if (this.counted) this.budget.progressed(this) }
}

/** What one source holds now: its bytes and partial frames, and its own give-way order (the stalest first). */
interface SourceHold {
  bytes: number
  frames: number
  head: PartialFrame | null
  tail: PartialFrame | null
}

/**
 * The bytes a node holds for frames it received in part (frame-reader.ts), across all its connections.
 *
 * Rules:
 * - A peer that announces a large frame (its 4-byte length) makes us hold a buffer for it until the
 *   frame is whole: up to 1 MiB at once, then up to four times what arrived. Two budgets bound that:
 *   - time: a frame must be whole within `frameTimeout` of the read that started it, or its connection
 *     closes ('timeout') — a peer that trickles bytes (slowloris) or stops holds it that long at most;
 *   - bytes: past `maxReceivingBytes` held by all connections together, the partial frame that went
 *     longest without a byte gives way ('over-budget'), then the next, until the total is within the
 *     budget again. An honest frame arrives at the sender's speed, so the stalest is most likely a
 *     peer that trickles or stopped — not merely the oldest: many peers starting frames after an
 *     honest large one must not make it the one to go. A partial frame alone is never ended for the
 *     budget: a single frame (at most the stream's limit, 16 MiB) always fits, so the total may pass
 *     a budget smaller than one frame.
 *   - bytes per source: one source (`peerSource`: an IP, an IPv6 /64, a public /24 or /48; 127.0.0.1
 *     and ::1 exempt) holds at most `RECEIVING_SOURCE_SHARE` (an eighth) of `maxReceivingBytes`, all
 *     its connections together; past it the source's own stalest partial frame gives way
 *     ('over-budget'), never its last one. Identities and connections are free to make: without it,
 *     one IP held 20 MiB (20 connections, 1 MiB each) and 8 IPs 160 MiB of the 256 MiB, leaving
 *     honest large frames the rest.
 * - The byte check runs after each read (`enforce`), never inside a read. The deadlines run from one
 *   shared timer (an `Alarm` for the earliest). A holder that was ended is counted no more.
 * - Each connection has one entry (`track`), reused for every frame: a bulk receiver starts and
 *   completes a partial frame for almost every message (a 64 KiB frame rarely fits one read), and an
 *   entry and a timer-queue slot per frame cost it throughput. The entries counted are kept in three
 *   linked lists (the give-way order, the deadline order, and each source's own give-way order):
 *   every step is O(1), a give-way for a source's share too (its stalest is the head of its own
 *   list; a walk of the whole give-way order to find it visited every other source's frames first).
 */
export class ReceiveBudget {
  /** Connections whose partial frame gave way to the budget ('over-budget'). */
  overBudgetCloses = 0
  /** Connections whose frame was not whole within `frameTimeout` ('timeout'). */
  frameTimeouts = 0
  /** Connections whose partial frame gave way to their source's share ('over-budget'; also in `overBudgetCloses`). */
  sourceBudgetCloses = 0
  /** Bytes one source may hold (`RECEIVING_SOURCE_SHARE` of `maxBytes`). */
  readonly maxSourceBytes: number
  /** Bytes counted now. */
  private total = 0
  /**
   * Partial frames looked at to choose the one that gives way, since creation: one per give-way
   * (a test reads it to tell that no walk came back).
   */
  visited = 0
  /** Bytes, partial frames and the give-way order counted now per source. */
  private readonly sources = new Map<string, SourceHold>()
  /** A source that passed its share since the last `enforce`. */
  private overSource: string | undefined
  /** Partial frames counted now. */
  private counted = 0
  /** The give-way order: by when bytes of a frame last arrived, the stalest first. */
  private staleHead: PartialFrame | null = null
  private staleTail: PartialFrame | null = null
  /** The deadline order: by when a frame started, the earliest first. */
  private dueHead: PartialFrame | null = null
  private dueTail: PartialFrame | null = null
  private readonly alarm: Alarm

  constructor (readonly maxBytes: number, readonly frameTimeout: number, private readonly clock: Clock) {
    this.alarm = new Alarm(clock, this.fire)
    this.maxSourceBytes = Math.max(1, Math.floor(maxBytes * RECEIVING_SOURCE_SHARE))
  }

  /** The entry that counts `holder`'s partial frames, from `source` (see the rules): one per connection, for all its frames. */
  track (holder: PartialFrameHolder, source?: string): PartialFrame { return new PartialFrame(holder, this, source) }

  /** Sources holding partial frames now. */
  get sourceCount (): number { return this.sources.size }

  /** Bytes held for partial frames now (of holders not ended by the budget). */
  get holding (): number { return this.total }

  /** Partial frames counted now. */
  get size (): number { return this.counted }

  /** `partial`'s holder holds `bytes` for its frame now (`PartialFrame.held`). */
  held (partial: PartialFrame, bytes: number): void {
    if (!partial.counted) {
      if (bytes === 0) return
      partial.counted = true
      partial.bytes = bytes
      partial.deadline = this.clock.now() + this.frameTimeout
      this.linkStale(partial)
      partial.duePrev = this.dueTail
      partial.dueNext = null
      if (this.dueTail === null) this.dueHead = partial
      else this.dueTail.dueNext = partial
      this.dueTail = partial
      this.counted++
      this.total += bytes
      this.countSource(partial, bytes, 1)
      // Armed for the earliest already unless the list was empty (wakeAt never moves it later).
      this.alarm.wakeAt(Math.max(this.dueHead!.deadline, this.clock.now() + 1))
      return
    }
    if (bytes === 0) { this.drop(partial); return }
    this.total += bytes - partial.bytes
    this.countSource(partial, bytes - partial.bytes, 0)
    partial.bytes = bytes
  }

  /** Bytes of `partial`'s frame arrived now (`PartialFrame.progressed`). */
  progressed (partial: PartialFrame): void {
    if (this.staleTail === partial) return
    this.unlinkStale(partial)
    this.linkStale(partial)
    const held = partial.source === undefined ? undefined : this.sources.get(partial.source)
    if (held !== undefined && held.tail !== partial) {
      unlinkSource(held, partial)
      linkSource(held, partial)
    }
  }

  /** Whether the total passed the budget (the caller then runs `enforce` after its read). */
  get over (): boolean { return this.total > this.maxBytes || this.overSource !== undefined }

  /** Ends the stalest partial frames while a source is over its share or the total over the budget, never the last one. */
  enforce (): void {
    const source = this.overSource
    this.overSource = undefined
    if (source !== undefined) {
      let held = this.sources.get(source)
      while (held !== undefined && held.bytes > this.maxSourceBytes && held.frames > 1) {
        const stalest = held.head
        if (stalest === null) break
        this.visited++
        const bytes = stalest.bytes
        this.drop(stalest)
        this.overBudgetCloses++
        this.sourceBudgetCloses++
        stalest.holder.overReceiveBudget('over-budget', `${held.bytes + bytes} bytes held for partly received frames from ${source} (its share ${this.maxSourceBytes}): the one without a byte for longest gave way`)
        held = this.sources.get(source)
      }
    }
    while (this.total > this.maxBytes && this.counted > 1) {
      const stalest = this.staleHead!
      this.visited++
      const bytes = stalest.bytes
      this.drop(stalest)
      this.overBudgetCloses++
      stalest.holder.overReceiveBudget('over-budget', `${this.total + bytes} bytes held for partly received frames (budget ${this.maxBytes}): the one without a byte for longest gave way`)
    }
  }

  /** Stops counting everything (the transport closed). */
  clear (): void {
    while (this.dueHead !== null) this.drop(this.dueHead)
    this.alarm.cancel()
  }

  /** The timer: ends the frames whose deadline passed, then waits for the next one. */
  private readonly fire = (): void => {
    // Timers have millisecond resolution: what is due within 1 ms counts as due.
    const now = this.clock.now() + 1
    while (this.dueHead !== null && this.dueHead.deadline <= now) {
      const partial = this.dueHead
      this.drop(partial)
      this.frameTimeouts++
      partial.holder.overReceiveBudget('timeout', `a frame not received whole within ${this.frameTimeout} ms`)
    }
    if (this.dueHead !== null) this.alarm.wakeAt(Math.max(this.dueHead.deadline, this.clock.now() + 1))
  }

  private drop (partial: PartialFrame): void {
    this.unlinkStale(partial)
    if (partial.duePrev === null) this.dueHead = partial.dueNext
    else partial.duePrev.dueNext = partial.dueNext
    if (partial.dueNext === null) this.dueTail = partial.duePrev
    else partial.dueNext.duePrev = partial.duePrev
    partial.duePrev = partial.dueNext = null
    partial.counted = false
    this.total -= partial.bytes
    this.countSource(partial, -partial.bytes, -1)
    partial.bytes = 0
    this.counted--
  }

  /** `partial`'s source holds `bytes` more in `frames` more partial frames (either may be negative). */
  private countSource (partial: PartialFrame, bytes: number, frames: number): void {
    const source = partial.source
    if (source === undefined) return
    let held = this.sources.get(source)
    if (held === undefined) this.sources.set(source, held = { bytes: 0, frames: 0, head: null, tail: null })
    held.bytes += bytes
    held.frames += frames
    if (frames > 0) linkSource(held, partial)
    else if (frames < 0) unlinkSource(held, partial)
    if (held.frames <= 0) this.sources.delete(source)
    else if (held.bytes > this.maxSourceBytes && held.frames > 1) this.overSource = source
  }

  private linkStale (partial: PartialFrame): void {
    partial.stalePrev = this.staleTail
    partial.staleNext = null
    if (this.staleTail === null) this.staleHead = partial
    else this.staleTail.staleNext = partial
    this.staleTail = partial
  }

  private unlinkStale (partial: PartialFrame): void {
    if (partial.stalePrev === null) this.staleHead = partial.staleNext
    else partial.stalePrev.staleNext = partial.staleNext
    if (partial.staleNext === null) this.staleTail = partial.stalePrev
    else partial.staleNext.stalePrev = partial.stalePrev
    partial.stalePrev = partial.staleNext = null
  }
}

/** Puts `partial` last in its source's give-way order. */
function linkSource (held: SourceHold, partial: PartialFrame): void {
  partial.srcPrev = held.tail
  partial.srcNext = null
  if (held.tail === null) held.head = partial
  else held.tail.srcNext = partial
  held.tail = partial
}

/** Takes `partial` out of its source's give-way order. */
function unlinkSource (held: SourceHold, partial: PartialFrame): void {
  if (partial.srcPrev === null) held.head = partial.srcNext
  else partial.srcPrev.srcNext = partial.srcNext
  if (partial.srcNext === null) held.tail = partial.srcPrev
  else partial.srcNext.srcPrev = partial.srcPrev
  partial.srcPrev = partial.srcNext = null
}
