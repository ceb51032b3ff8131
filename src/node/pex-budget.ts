import type { Clock } from '../manager/types.js'

/**
 * How many peer-exchange messages (referrals and lookup answers) one connection may teach us per
 * minute; the rest are dropped and counted. Windows are per connection, held weakly: a closed
 * connection's window goes with it.
 */
export class PexBudget<Conn extends object> {
  private readonly windows = new WeakMap<Conn, { at: number; n: number }>()
  /** Messages dropped over the budget. */
  dropped = 0

  constructor (private readonly clock: Clock, private readonly perMinute: number) {}

  /** Whether `conn` may still teach us peers this minute (counts the message when it may). */
  take (conn: Conn): boolean {
    const now = this.clock.now()
    let w = this.windows.get(conn)
    if (w === undefined || now - w.at >= 60_000) {
      w = { at: now, n: 0 }
      this.windows.set(conn, w)
    }
    if (w.n >= this.perMinute) {
      this.dropped++
      return false
    }
    w.n++
    return true
  }
}
