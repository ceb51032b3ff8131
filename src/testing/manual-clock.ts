import type { Clock } from '../manager/types.js'

interface Timer { at: number; seq: number; fn: () => void; cancelled: boolean }

/**
 * A clock that moves only when told to. Timers fire in time order (ties in the order they were set),
 * and promise callbacks settle between two timers, so code that awaits between timers runs as it
 * would on the wall clock, only instantly.
 */
export class ManualClock implements Clock {
  /** The time now (set by the constructor; starting at 0 keeps it a double field, not a boxed number per advance). */
  private current = 0
  private seq = 0
  /** Due first at [0]: a binary heap by (at, seq), cancelled timers included until popped or compacted away. */
  private readonly timers: Timer[] = []
  private live = 0

  constructor (start = 0) {
    this.current = start
  }

  now (): number { return this.current }

  setTimeout (fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.current + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, fn, cancelled: false }
    this.live++
    push(this.timers, timer)
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
    if (this.timers.length > 2 * this.live + 1024) this.compact()
  }

  /** Drops the cancelled timers in place and rebuilds the heap (bottom-up: O(n), no allocation). */
  private compact (): void {
    const h = this.timers
    let j = 0
    for (let i = 0; i < h.length; i++) if (!h[i].cancelled) h[j++] = h[i]
    h.length = j
    for (let i = (j >> 1) - 1; i >= 0; i--) down(h, i)
  }

  /** Number of timers waiting. */
  get pending (): number { return this.live }

  /** Moves time forward by `ms`, firing due timers in time order and letting promise callbacks settle between them. */
  async advance (ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance(ms) needs a finite ms >= 0, got ${ms}`)
    const target = this.current + ms
    await settle()
    for (;;) {
      const next = this.timers[0]
      if (next === undefined || next.at > target) break
      pop(this.timers)
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
      while (this.timers.length > 0 && this.timers[0].cancelled) pop(this.timers)
      const next = this.timers[0]
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

function push (h: Timer[], t: Timer): void {
  let i = h.length
  h.push(t)
  while (i > 0) {
    const p = (i - 1) >> 1
    if (!before(t, h[p])) break
    h[i] = h[p]
    i = p
  }
  h[i] = t
}

/** Takes out the first timer (the heap must not be empty). */
function pop (h: Timer[]): Timer {
  const top = h[0]
  const last = h.pop()!
  if (h.length > 0) {
    h[0] = last
    down(h, 0)
  }
  return top
}

/** Moves the timer at `i` down to its place. */
function down (h: Timer[], i: number): void {
  const t = h[i]
  const n = h.length
  for (;;) {
    const l = 2 * i + 1
    if (l >= n) break
    const r = l + 1
    const c = r < n && before(h[r], h[l]) ? r : l
    if (!before(h[c], t)) break
    h[i] = h[c]
    i = c
  }
  h[i] = t
}

/** Lets every pending promise callback run. */
function settle (): Promise<void> {
  return new Promise<void>(onImmediate)
}

/** The executor of `settle`'s promise: one function for every call, not a closure per timer fired. */
function onImmediate (resolve: () => void): void { setImmediate(resolve) }
