import { Alarm, systemClock } from '../clock.js'
import type { Clock } from '../manager/types.js'

/** Something that has a deadline in a `DeadlineQueue`. */
export interface Expiring { expire(): void }

/**
 * Deadlines that all have the same length, on one shared timer instead of one timer each
 * (hyperswarm's retry-timer idea): handshakes in progress, connections closing gracefully.
 *
 * Rules:
 * - Every entry gets the same delay, so entries expire in the order they were added: a Map in
 *   insertion order is the whole schedule, and add/delete are O(1) with no timer work.
 * - One `Alarm` on the injected clock (the system clock's timers are unref'd) is armed for the oldest
 *   entry; when it fires it expires whatever is due and re-arms for the next one. An entry deleted
 *   before its time costs nothing more.
 * - `expire()` runs once, after the entry left the queue; a throw in it is not caught here.
 */
export class DeadlineQueue {
  private readonly entries = new Map<Expiring, number>()
  private readonly alarm: Alarm
  /** While expiring: an add must not arm the alarm for its own (later) deadline before the older ones. */
  private firing = false

  constructor (readonly ms: number, private readonly clock: Clock = systemClock) {
    this.alarm = new Alarm(clock, this.fire)
  }

  add (entry: Expiring): void {
    const at = this.clock.now() + this.ms
    this.entries.delete(entry) // re-adding moves it to the end, keeping the order by deadline
    this.entries.set(entry, at)
    if (!this.alarm.armed && !this.firing) this.arm(at)
  }

  delete (entry: Expiring): void {
    this.entries.delete(entry)
  }

  get size (): number { return this.entries.size }

  /** Drops every entry without expiring it, and the timer. */
  clear (): void {
    this.entries.clear()
    this.alarm.cancel()
  }

  /** At least 1 ms on: what is due within 1 ms counts as due when it fires. */
  private arm (at: number): void {
    this.alarm.wakeAt(Math.max(at, this.clock.now() + 1))
  }

  private readonly fire = (): void => {
    this.firing = true
    try {
      // Timers have millisecond resolution: what is due within 1 ms counts as due.
      const now = this.clock.now() + 1
      for (const [entry, at] of this.entries) {
        if (at > now) break
        this.entries.delete(entry)
        entry.expire()
      }
    } finally {
      this.firing = false
      const next = this.entries.values().next()
      if (!next.done && !this.alarm.armed) this.arm(next.value)
    }
  }
}
