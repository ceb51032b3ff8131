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
 * - One `Alarm` on the injected clock (the system clock's timers are unref'd) ticks every
 *   `min(keepAlive, deadTimeout) / 4` ms (at least 25, at most 1,000), on multiples of that period,
 *   while there are connections, so a keep-alive leaves within one tick of being due and a dead
 *   connection is noticed within `deadTimeout` plus one tick.
 * - A tick looks only at the connections whose next deadline (`lastWrite + keepAlive` or `lastRead +
 *   deadTimeout`, whichever is first) falls in it (a timing wheel of one slot per tick): an idle
 *   connection is looked at once per keep-alive, not once per tick, and traffic costs the sweep
 *   nothing (it only moves `lastRead` and `lastWrite`; a connection found not due yet is filed
 *   again under its new deadline).
 */
export class Liveness {
  /** Each connection and the slot it is filed under; an entry of a slot that disagrees is stale. */
  private readonly live = new Map<Live, number>()
  /** Slot (deadline / period, rounded up) → the connections filed under it. */
  private readonly slots = new Map<number, Live[]>()
  /** Every slot up to this one has been looked at. */
  private swept: number
  private readonly alarm: Alarm
  private readonly period: number

  /** `clock` is also the one the connections' `lastRead` and `lastWrite` come from. */
  constructor (readonly keepAlive: number, readonly deadTimeout: number, private readonly clock: Clock = systemClock) {
    this.period = Math.min(1000, Math.max(25, Math.floor(Math.min(keepAlive, deadTimeout) / 4)))
    this.alarm = new Alarm(clock, this.sweep)
    this.swept = Math.floor(clock.now() / this.period)
  }

  /** Connections watched now. */
  get size (): number { return this.live.size }

  add (x: Live): void {
    if (this.live.size === 0) this.swept = Math.floor(this.clock.now() / this.period)
    this.file(x)
    // Ticks fall on slot boundaries: a slot is looked at as soon as all of it is due.
    this.alarm.wakeAt((this.swept + 1) * this.period)
  }

  delete (x: Live): void {
    this.live.delete(x)
    if (this.live.size === 0) this.stop()
  }

  stop (): void {
    this.alarm.cancel()
    this.slots.clear()
  }

  /** Files `x` under the slot of its next deadline (never a slot already swept). */
  private file (x: Live): void {
    const due = Math.min(x.lastWrite + this.keepAlive, x.lastRead + this.deadTimeout)
    const slot = Math.max(this.swept + 1, Math.ceil(due / this.period))
    this.live.set(x, slot)
    const list = this.slots.get(slot)
    if (list === undefined) this.slots.set(slot, [x])
    else list.push(x)
  }

  private readonly sweep = (now: number): void => {
    const from = this.swept
    const last = Math.floor(now / this.period)
    // Set first: whatever is filed while sweeping lands in a later slot, looked at next tick.
    this.swept = last
    if (last - from <= this.slots.size) {
      for (let slot = from + 1; slot <= last; slot++) this.sweepSlot(slot, now)
    } else {
      // A long gap (a suspended process, virtual time jumping ahead): the filed slots, in order.
      for (const slot of [...this.slots.keys()].filter((k) => k <= last).sort((a, b) => a - b)) this.sweepSlot(slot, now)
    }
    if (this.live.size > 0) this.alarm.wakeAt((last + 1) * this.period)
  }

  private sweepSlot (slot: number, now: number): void {
    const list = this.slots.get(slot)
    if (list === undefined) return
    this.slots.delete(slot)
    for (const x of list) {
      if (this.live.get(x) !== slot) continue // deleted, or filed again under another slot
      if (now - x.lastRead >= this.deadTimeout) {
        this.live.delete(x)
        x.destroy(new PeerwardenError('ERR_TIMEOUT', `nothing received for ${this.deadTimeout} ms`))
        continue
      }
      if (now - x.lastWrite >= this.keepAlive) x.keepAlive()
      if (this.live.has(x)) this.file(x)
    }
  }
}
