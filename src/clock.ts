import type { Clock } from './manager/types.js'

/**
 * The wall clock, for production use. The core never reads time itself: it receives a `Clock`,
 * and this is the default one. Timers are unref'd so that a manager never keeps a process alive.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms)
    handle.unref?.()
    return handle
  },
  clearTimeout: (handle) => { clearTimeout(handle as ReturnType<typeof setTimeout>) }
}

/** The longest delay a timer takes as is (node fires a longer one after 1 ms). */
export const MAX_DELAY = 2 ** 31 - 1

/**
 * One shared timer on the injected `Clock`, armed for the earliest time anyone asked for: the
 * primitive under every "a few shared timers, not one per item" schedule — the dial scheduler's
 * wake-up, the trim scheduler's grace promotion and background trim, lifetime rotation, decaying
 * tags, the store's batched writes, the node's handshake and closing deadlines and liveness sweep,
 * the mesh's call deadlines.
 *
 * Rules:
 * - `wakeAt(at)` arms the timer for `at` unless it is armed for `at` or earlier already (a later `at`
 *   costs a comparison); `Infinity` never arms. `wakeIn(ms)` is `wakeAt(now + ms)` with the delay as given.
 * - When the timer fires, the alarm is disarmed first, then `fire(now)` runs: it may arm it again.
 * - `cancel()` disarms; the alarm may be armed again afterwards.
 * - A wake-up further away than a timer can wait (2^31 - 1 ms, about 24.8 days) is reached in steps:
 *   `fire` runs only once `at` is reached.
 * - Where the due items live is the user's choice: a FIFO when every delay is the same
 *   (`DeadlineQueue`), a heap when not (the dial index), a scan when every item is looked at anyway
 *   (`Liveness`). The alarm only holds the earliest time.
 */
export class Alarm {
  private timer: unknown
  private armedFor = Infinity
  /** The timer was set for less than the wanted delay (over MAX_DELAY): it re-arms instead of firing. */
  private step = false

  constructor (private readonly clock: Clock, private readonly fire: (now: number) => void) {}

  /** True while the timer is set. */
  get armed (): boolean { return this.timer !== undefined }

  /** The time the alarm is armed for; Infinity when it is not. */
  get at (): number { return this.armedFor }

  wakeAt (at: number): void {
    if (at >= this.armedFor) return
    this.clear()
    this.armedFor = at
    const delay = at - this.clock.now()
    this.set(delay > 0 ? delay : 0) // a NaN time fires at once
  }

  wakeIn (ms: number): void {
    const at = this.clock.now() + ms
    if (at >= this.armedFor) return
    this.clear()
    this.armedFor = at
    this.set(ms)
  }

  cancel (): void {
    this.clear()
    this.armedFor = Infinity
  }

  private clear (): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private set (ms: number): void {
    this.step = ms > MAX_DELAY
    this.timer = this.clock.setTimeout(this.ring, this.step ? MAX_DELAY : ms)
  }

  private readonly ring = (): void => {
    this.timer = undefined
    const now = this.clock.now()
    if (this.step) {
      const rest = this.armedFor - now
      if (rest > 0) { this.set(rest); return }
    }
    this.armedFor = Infinity
    this.fire(now)
  }
}
