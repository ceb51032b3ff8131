import { MinHeap } from '../manager/min-heap.js'
import type { Clock } from '../manager/types.js'

interface Timer { at: number; seq: number; fn: () => void; cancelled: boolean }

/**
 * A clock that moves only when told to. Timers fire in time order (ties in the order they were set),
 * and promise callbacks settle between two timers, so code that awaits between timers runs as it
 * would on the wall clock, only instantly.
 */
export class ManualClock implements Clock {
  private current: number
  private seq = 0
  private timers = new MinHeap<Timer>(before)
  private live = 0

  constructor (start = 0) {
    this.current = start
  }

  now (): number { return this.current }

  setTimeout (fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.current + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, fn, cancelled: false }
    this.live++
    this.timers.push(timer)
    return timer
  }

  clearTimeout (handle: unknown): void {
    // Cancelled timers stay in the heap and are skipped when due: O(1) here, no search. What the
    // callback holds goes at once (a dial's timeout holds the whole dial, and a simulation cancels
    // hundreds of thousands of them in its first virtual second); the heap is rebuilt without the
    // cancelled ones once they outnumber the live ones twice over.
    const t = handle as Timer | undefined
    if (t === undefined || t === null || typeof t !== 'object' || t.cancelled) return
    t.cancelled = true
    t.fn = NOTHING
    this.live--
    if (this.timers.size > 2 * this.live + 1024) this.compact()
  }

  private compact (): void {
    const old = this.timers
    const timers = new MinHeap<Timer>(before)
    for (let t = old.pop(); t !== undefined; t = old.pop()) if (!t.cancelled) timers.push(t)
    this.timers = timers
  }

  /** Number of timers waiting. */
  get pending (): number { return this.live }

  /** Moves time forward by `ms`, firing due timers in time order and letting promise callbacks settle between them. */
  async advance (ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance(ms) needs a finite ms >= 0, got ${ms}`)
    const target = this.current + ms
    await settle()
    for (;;) {
      const next = this.timers.peek()
      if (next === undefined || next.at > target) break
      this.timers.pop()
      if (next.cancelled) continue
      next.cancelled = true
      this.live--
      this.current = next.at
      next.fn()
      await settle()
    }
    this.current = target
    await settle()
  }

  /** Fires timers until none is due within `limit` ms; returns the time advanced. */
  async runAll (limit = 3_600_000): Promise<number> {
    const start = this.current
    for (;;) {
      while (this.timers.size > 0 && this.timers.peek()!.cancelled) this.timers.pop()
      const next = this.timers.peek()
      if (next === undefined || next.at - start > limit) break
      await this.advance(next.at - this.current)
    }
    return this.current - start
  }
}

const NOTHING = (): void => {}

function before (a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Lets every pending promise callback run. */
async function settle (): Promise<void> {
  await new Promise<void>((resolve) => { setImmediate(resolve) })
}
