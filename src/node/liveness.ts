import { Alarm, systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'

/** What the sweep needs of a connection's stream. */
export interface Live {
  lastRead: number
  lastWrite: number
  keepAlive(): void
  destroy(err?: Error): void
}

/**
 * Keep-alive and dead-connection detection for every open connection, on one shared timer.
 *
 * Rules:
 * - A connection that has written nothing for `keepAlive` ms sends a keep-alive (an empty message).
 * - A connection that has received nothing for `deadTimeout` ms is dead (the peer vanished without a
 *   FIN): it is destroyed with `ERR_TIMEOUT`. Since both ends send keep-alives, only a silent path or
 *   peer gets there.
 * - One `Alarm` on the injected clock (the system clock's timers are unref'd) sweeps every `min(keepAlive, deadTimeout) / 4` ms (at least 25, at most 1,000),
 *   so a dead connection is noticed within `deadTimeout` plus one sweep. The timer runs only while
 *   there are connections.
 */
export class Liveness {
  private readonly live = new Set<Live>()
  private readonly alarm: Alarm
  private readonly period: number

  /** `clock` is also the one the connections' `lastRead` and `lastWrite` come from. */
  constructor (readonly keepAlive: number, readonly deadTimeout: number, private readonly clock: Clock = systemClock) {
    this.period = Math.min(1000, Math.max(25, Math.floor(Math.min(keepAlive, deadTimeout) / 4)))
    this.alarm = new Alarm(clock, this.sweep)
  }

  add (x: Live): void {
    this.live.add(x)
    if (!this.alarm.armed) this.alarm.wakeIn(this.period)
  }

  delete (x: Live): void {
    this.live.delete(x)
    if (this.live.size === 0) this.stop()
  }

  stop (): void {
    this.alarm.cancel()
  }

  private readonly sweep = (now: number): void => {
    for (const x of this.live) {
      if (now - x.lastRead >= this.deadTimeout) {
        this.live.delete(x)
        x.destroy(new PeerwardenError('ERR_TIMEOUT', `nothing received for ${this.deadTimeout} ms`))
      } else if (now - x.lastWrite >= this.keepAlive) {
        x.keepAlive()
      }
    }
    if (this.live.size > 0 && !this.alarm.armed) this.alarm.wakeIn(this.period)
  }
}
