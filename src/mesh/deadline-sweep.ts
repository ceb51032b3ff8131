import { Alarm, systemClock } from '../clock.js'
import type { Clock } from '../manager/types.js'

/**
 * One timer for the deadlines of all the calls a mesh node has in flight, instead of a setTimeout
 * (and a clearTimeout) per call.
 *
 * Rules:
 * - The timer (an `Alarm`) is armed for the earliest deadline `track`ed since it last fired; a later deadline
 *   costs a comparison. Calls that settle leave the timer as it is: when it fires, `sweep` expires
 *   what is due (deadline <= now) and the timer is armed again for the earliest deadline left, if any.
 *   So with steady traffic it fires about once per timeout, not once per call.
 * - A deadline never fires early; it fires at most a timer's lateness after it passes.
 * - The timer is the injected clock's (the system clock's are unref'd): a call in flight always has an open connection, which keeps the process alive.
 */
export class DeadlineSweep {
  private readonly alarm: Alarm
  private stopped = false

  /**
   * @param sweep expires every call due at `now` and returns the earliest deadline of the calls left
   *   (Infinity for none).
   */
  constructor (private readonly sweep: (now: number) => number, clock: Clock = systemClock) {
    this.alarm = new Alarm(clock, this.fire)
  }

  /** A call with this deadline (ms since epoch) is in flight. A NaN deadline (a NaN timeout) arms the timer and expires at once. */
  track (deadline: number): void {
    if (!this.stopped) this.alarm.wakeAt(deadline)
  }

  /** No timer from now on (the node closed; its calls were settled). */
  stop (): void {
    this.stopped = true
    this.alarm.cancel()
  }

  private readonly fire = (now: number): void => {
    const next = this.sweep(now)
    // At least 1 ms on: a timer may wake a little before the clock reaches the deadline.
    if (next !== Infinity && !this.alarm.armed && !this.stopped) this.alarm.wakeAt(Math.max(next, now + 1))
  }
}
