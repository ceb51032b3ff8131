import { systemClock } from '../clock.js'
import type { Clock } from '../manager/types.js'

/** The longest delay setTimeout takes as is (a longer one fires after 1 ms). */
const MAX_DELAY = 2 ** 31 - 1

/**
 * One timer for the deadlines of all the calls a mesh node has in flight, instead of a setTimeout
 * (and a clearTimeout) per call.
 *
 * Rules:
 * - The timer is armed for the earliest deadline `track`ed since it last fired; a later deadline
 *   costs a comparison. Calls that settle leave the timer as it is: when it fires, `sweep` expires
 *   what is due (deadline <= now) and the timer is armed again for the earliest deadline left, if any.
 *   So with steady traffic it fires about once per timeout, not once per call.
 * - A deadline never fires early; it fires at most a timer's lateness after it passes.
 * - The timer is the injected clock's (the system clock's are unref'd): a call in flight always has an open connection, which keeps the process alive.
 */
export class DeadlineSweep {
  private timer: unknown
  private armedFor = Infinity

  /**
   * @param sweep expires every call due at `now` and returns the earliest deadline of the calls left
   *   (Infinity for none).
   */
  constructor (private readonly sweep: (now: number) => number, private readonly clock: Clock = systemClock) {}

  /** A call with this deadline (ms since epoch) is in flight. */
  track (deadline: number): void {
    // Written so that a NaN deadline (a NaN timeout) arms the timer and expires at once, as before.
    if (!(deadline >= this.armedFor)) this.arm(deadline)
  }

  /** No timer from now on (the node closed; its calls were settled). */
  stop (): void {
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.armedFor = -Infinity
  }

  private arm (deadline: number): void {
    this.clock.clearTimeout(this.timer)
    this.armedFor = deadline
    this.timer = this.clock.setTimeout(this.fire, Math.min(MAX_DELAY, Math.max(0, deadline - this.clock.now())))
  }

  private readonly fire = (): void => {
    this.timer = undefined
    this.armedFor = Infinity
    const now = this.clock.now()
    const next = this.sweep(now)
    // At least 1 ms on: a timer may wake a little before the clock reaches the deadline.
    if (next !== Infinity && this.armedFor === Infinity) this.arm(Math.max(next, now + 1))
  }
}
