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

/** A connection as the sweep files it: the slot it is filed under now (`UNFILED` once deleted). */
interface Entry { readonly x: Live; slot: number }

/** The slot of an entry no longer watched: below every slot (slots count up from the clock's start). */
const UNFILED = -1

/**
 * The entries filed under one slot: the first `n` of `list` (the rest cleared). A swept bucket is kept
 * with its capacity for a slot filed later, so an idle node files its keep-alives over and over into
 * the same few arrays instead of a new array per tick that lives a whole keep-alive (and so outlives
 * the young generation: garbage the major GCs of a large heap then pay for).
 */
interface Bucket { readonly list: Array<Entry | undefined>; n: number }

/** Swept buckets kept for reuse: one slot is swept and about one filed anew per tick. */
const SPARE_BUCKETS = 4

/** How a side of a connection keeps it alive (see `keepAliveTiming`). */
export interface LivenessTiming {
  /** A keep-alive is sent after this long without writing anything. */
  keepAlive: number
  /** Nothing received for this long: the connection is dead. */
  deadTimeout: number
  /**
   * A keep-alive that arrives is answered with one when nothing was written for this long (undefined:
   * never answered).
   */
  answerAfter?: number
}

/**
 * The default `keepAlive`: 45 % of `deadTimeout` (9 s of the default 20 s). A keep-alive sent then
 * still arrives before `deadTimeout` when it is held up by a late timer, a slow event loop or TCP
 * retransmissions for as long again.
 */
export function defaultKeepAlive (deadTimeout: number): number {
  return Math.max(1, Math.floor(deadTimeout * 0.45))
}

/**
 * The timing of each side of a connection, from the node's `keepAlive` and `deadTimeout`.
 *
 * Rules:
 * - The accepting side (the listener) sends a keep-alive after `keepAlive` without writing; the
 *   dialing side answers it at once (when it has written nothing for `keepAlive / 2`: an answer to the
 *   previous one does not count). An idle connection costs each side one write and one read per
 *   `keepAlive`.
 * - The listener drives because it is the side that holds many connections: its keep-alives leave
 *   from its liveness tick, all those due in a tick together, and the answers come back together,
 *   where answering keep-alives that arrive one by one would wake it once per connection (at 1,000
 *   connections on a loaded 2-core VM: ~36 µs of the listener's CPU per exchange against ~52 µs).
 * - The dialer also sends one after `(keepAlive + deadTimeout) / 2` without writing (at least
 *   `keepAlive`): when the listener streams to it and so sends no keep-alive to answer, or is an
 *   older peer that does not expect answers, the listener still hears from the dialer before
 *   `deadTimeout`.
 * - Either side that receives nothing for `deadTimeout` closes the connection: a listener that froze
 *   sends no keep-alive, a dialer that froze answers none.
 */
export function keepAliveTiming (keepAlive: number, deadTimeout: number): { outbound: LivenessTiming; inbound: LivenessTiming } {
  return {
    inbound: { keepAlive, deadTimeout },
    outbound: { keepAlive: Math.max(keepAlive, Math.floor((keepAlive + deadTimeout) / 2)), deadTimeout, answerAfter: Math.floor(keepAlive / 2) }
  }
}

/**
 * Keep-alive and dead-connection detection for every open connection of one side (see
 * `keepAliveTiming`), on one shared timer.
 *
 * Rules:
 * - A connection that has written nothing for `keepAlive` ms sends a keep-alive (an empty message).
 *   Any message counts, in either direction: traffic moves `lastRead` and `lastWrite`.
 * - `heard(x)`: a keep-alive arrived on `x`; with `answerAfter` set, `x` answers with one when it has
 *   written nothing for `answerAfter` ms.
 * - A connection that has received nothing for `deadTimeout` ms is dead (the peer vanished without a
 *   FIN, or froze): it is destroyed with `ERR_TIMEOUT`.
 * - One `Alarm` on the injected clock (the system clock's timers are unref'd) ticks on multiples of
 *   a period of `min(keepAlive, deadTimeout) / 4` ms (at least 25, at most 1,000), at the end of
 *   the earliest slot (below) that holds a connection, so a keep-alive leaves within one period of
 *   being due and a dead connection is noticed within `deadTimeout` plus one period. Every connection
 *   due in a tick is served in that tick. A side with few connections (a node that dialled one peer)
 *   wakes about once per keep-alive, not once per period.
 * - A tick looks only at the connections whose next deadline (`lastWrite + keepAlive` or `lastRead +
 *   deadTimeout`, whichever is first) falls in it (a timing wheel of one slot per tick): an idle
 *   connection is looked at about once per keep-alive, not once per tick, and traffic costs the sweep
 *   nothing (it only moves `lastRead` and `lastWrite`; a connection found not due yet is filed
 *   again under its new deadline).
 */
export class Liveness {
  /** Each connection and its entry (the slot it is filed under). */
  private readonly live = new Map<Live, Entry>()
  /** Slot (deadline / period, rounded up) → the entries filed under it; one whose `slot` disagrees is stale. */
  private readonly slots = new Map<number, Bucket>()
  /** Swept buckets, emptied, for the next slots filed (at most `SPARE_BUCKETS`). */
  private readonly spare: Bucket[] = []
  /** Every slot up to this one has been looked at. */
  private swept: number
  private readonly alarm: Alarm
  private readonly period: number
  readonly keepAlive: number
  readonly deadTimeout: number
  readonly answerAfter: number | undefined

  /**
   * `timing`, or `keepAlive` and `deadTimeout` (no answers). `clock` is also the one the
   * connections' `lastRead` and `lastWrite` come from.
   */
  constructor (timing: LivenessTiming | number, deadTimeout?: number, private readonly clock: Clock = systemClock) {
    const t = typeof timing === 'number' ? { keepAlive: timing, deadTimeout: deadTimeout! } : timing
    this.keepAlive = t.keepAlive
    this.deadTimeout = t.deadTimeout
    this.answerAfter = t.answerAfter
    this.period = Math.min(1000, Math.max(25, Math.floor(Math.min(this.keepAlive, this.deadTimeout) / 4)))
    this.alarm = new Alarm(clock, this.sweep)
    this.swept = Math.floor(clock.now() / this.period)
  }

  /** Connections watched now. */
  get size (): number { return this.live.size }

  add (x: Live): void {
    if (this.live.size === 0) this.swept = Math.floor(this.clock.now() / this.period)
    let e = this.live.get(x)
    if (e === undefined) this.live.set(x, e = { x, slot: UNFILED })
    // Ticks fall on slot boundaries: a slot is looked at as soon as all of it is due.
    this.alarm.wakeAt(this.file(e) * this.period)
  }

  delete (x: Live): void {
    const e = this.live.get(x)
    if (e !== undefined) {
      e.slot = UNFILED
      this.live.delete(x)
    }
    if (this.live.size === 0) this.stop()
  }

  /** A keep-alive arrived on `x` (its `lastRead` is already now): answered per `answerAfter`. */
  heard (x: Live): void {
    const after = this.answerAfter
    if (after !== undefined && this.clock.now() - x.lastWrite >= after && this.live.has(x)) x.keepAlive()
  }

  stop (): void {
    this.alarm.cancel()
    this.slots.clear()
  }

  /** Files `e` under the slot of its next deadline (never a slot already swept); returns the slot. */
  private file (e: Entry): number {
    const x = e.x
    const due = Math.min(x.lastWrite + this.keepAlive, x.lastRead + this.deadTimeout)
    const slot = Math.max(this.swept + 1, Math.ceil(due / this.period))
    e.slot = slot
    let bucket = this.slots.get(slot)
    if (bucket === undefined) {
      bucket = this.spare.pop() ?? { list: [], n: 0 }
      this.slots.set(slot, bucket)
    }
    bucket.list[bucket.n++] = e
    return slot
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
    if (this.live.size === 0) return
    // The earliest slot filed (a few dozen at most: deadlines lie within `deadTimeout` of now).
    let next = Infinity
    for (const slot of this.slots.keys()) if (slot < next) next = slot
    this.alarm.wakeAt(next * this.period)
  }

  private sweepSlot (slot: number, now: number): void {
    const bucket = this.slots.get(slot)
    if (bucket === undefined) return
    this.slots.delete(slot)
    const list = bucket.list
    // Entries filed while sweeping go to later slots (never this bucket: it left `slots` above).
    for (let i = 0; i < bucket.n; i++) {
      const e = list[i]!
      list[i] = undefined // a bucket kept for reuse holds on to no connection
      if (e.slot !== slot) continue // deleted, or filed again under another slot
      const x = e.x
      if (now - x.lastRead >= this.deadTimeout) {
        e.slot = UNFILED
        this.live.delete(x)
        x.destroy(new PeerwardenError('ERR_TIMEOUT', `nothing received for ${this.deadTimeout} ms`))
        continue
      }
      if (now - x.lastWrite >= this.keepAlive) x.keepAlive()
      if (e.slot === slot) this.file(e) // not deleted by the keep-alive's write (a destroyed socket)
    }
    bucket.n = 0
    if (this.spare.length < SPARE_BUCKETS) this.spare.push(bucket)
  }
}
