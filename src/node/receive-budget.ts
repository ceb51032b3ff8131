import type { Clock } from '../manager/types.js'
import { DeadlineQueue, type Expiring } from './deadlines.js'

/** Default `maxReceivingBytes`: bytes held for partly received frames, all connections together (256 MiB). */
export const DEFAULT_MAX_RECEIVING_BYTES = 256 * 1024 * 1024
/**
 * Default `frameTimeout` (ms): a frame must arrive whole within a minute of its first bytes (a 16 MiB
 * frame at 2.3 Mbit/s).
 */
export const DEFAULT_FRAME_TIMEOUT = 60_000

/** Why the budget ends a connection: its partial frame gave way to others, or did not complete in time. */
export type ReceiveBudgetReason = 'over-budget' | 'timeout'

/** A stream that holds a partly received frame (secure-stream.ts). */
export interface PartialFrameHolder {
  /** The budget ends it: the holder closes with `reason` (or is destroyed) and drops its partial frame. Must not throw. */
  overReceiveBudget (reason: ReceiveBudgetReason, why: string): void
}

/** One partial frame being counted: its holder, the bytes held for it, and its deadline. */
class Partial implements Expiring {
  constructor (readonly holder: PartialFrameHolder, public bytes: number, private readonly budget: ReceiveBudget) {}
  expire (): void { this.budget.expired(this) }
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
 * - The byte check runs after each read (`enforce`), never inside a read; a deadline runs from the
 *   shared timer of a `DeadlineQueue`. A holder that was ended is counted no more.
 */
export class ReceiveBudget {
  /** Connections whose partial frame gave way to the budget ('over-budget'). */
  overBudgetCloses = 0
  /** Connections whose frame was not whole within `frameTimeout` ('timeout'). */
  frameTimeouts = 0
  /** Bytes counted now. */
  private total = 0
  /** The partial frames counted, by when bytes of them last arrived (a Map keeps insertion order: the stalest first). */
  private readonly partials = new Map<PartialFrameHolder, Partial>()
  private readonly deadlines: DeadlineQueue

  constructor (readonly maxBytes: number, readonly frameTimeout: number, clock: Clock) {
    this.deadlines = new DeadlineQueue(frameTimeout, clock)
  }

  /** Bytes held for partial frames now (of holders not ended by the budget). */
  get holding (): number { return this.total }

  /** `holder` holds `bytes` for its partial frame now (0: the frame completed or was dropped). */
  held (holder: PartialFrameHolder, bytes: number): void {
    const partial = this.partials.get(holder)
    if (partial === undefined) {
      if (bytes === 0) return
      const started = new Partial(holder, bytes, this)
      this.partials.set(holder, started)
      this.deadlines.add(started)
      this.total += bytes
      return
    }
    if (bytes === 0) { this.drop(partial); return }
    this.total += bytes - partial.bytes
    partial.bytes = bytes
  }

  /** Bytes of `holder`'s partial frame arrived now: it moves to the end of the give-way order. */
  progressed (holder: PartialFrameHolder): void {
    const partial = this.partials.get(holder)
    if (partial === undefined) return
    this.partials.delete(holder)
    this.partials.set(holder, partial)
  }

  /** Whether the total passed the budget (the caller then runs `enforce` after its read). */
  get over (): boolean { return this.total > this.maxBytes }

  /** Ends the stalest partial frames while the total is over the budget, never the last one. */
  enforce (): void {
    while (this.total > this.maxBytes && this.partials.size > 1) {
      const stalest = this.partials.values().next().value!
      this.drop(stalest)
      this.overBudgetCloses++
      stalest.holder.overReceiveBudget('over-budget', `${this.total + stalest.bytes} bytes held for partly received frames (budget ${this.maxBytes}): the one without a byte for longest gave way`)
    }
  }

  /** Stops counting everything (the transport closed). */
  clear (): void {
    this.partials.clear()
    this.deadlines.clear()
    this.total = 0
  }

  /** A partial frame's deadline passed (from the `DeadlineQueue`). */
  expired (partial: Partial): void {
    if (this.partials.get(partial.holder) !== partial) return
    this.drop(partial)
    this.frameTimeouts++
    partial.holder.overReceiveBudget('timeout', `a frame not received whole within ${this.frameTimeout} ms`)
  }

  private drop (partial: Partial): void {
    this.partials.delete(partial.holder)
    this.deadlines.delete(partial)
    this.total -= partial.bytes
  }
}
