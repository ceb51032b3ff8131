import type { Clock } from '../manager/types.js'

/** A source (`peerSource`) may teach this many times `perMinute` (see `PexBudget`). */
export const PEX_SOURCE_FACTOR = 2
/** Sources whose window is remembered at most; past it the one seen longest ago is forgotten. */
export const MAX_PEX_SOURCES = 4096

/** A minute's window: when it began, and the messages it counted. */
interface Window { at: number; n: number }

/**
 * How many peer-exchange messages (referrals and lookup answers) one connection, and all the
 * connections of one source, may teach us per minute; the rest are dropped and counted.
 *
 * Rules:
 * - A connection: `perMinute` messages a minute. Its window is held weakly: a closed connection's
 *   window goes with it.
 * - A source (`peerSource`: an IP, an IPv6 /64, a public /24 or /48; 127.0.0.1 and ::1 exempt, passed
 *   as undefined): `PEX_SOURCE_FACTOR` (2) × `perMinute` a minute, all its connections together, for
 *   the messages nobody asked for (`pex`; the caller passes no source for answers to our lookups,
 *   which come only as often as we ask). A
 *   connection is free to make anew (10 a second per IP, under a fresh identity each): with the
 *   per-connection window alone, 8 connections from one IP had 960 messages of 32 peers of 8
 *   addresses taken in a few seconds instead of 120.
 * - A message dropped spends nothing. At most `MAX_PEX_SOURCES` sources remembered, the one seen
 *   longest ago forgotten first.
 */
export class PexBudget<Conn extends object> {
  private readonly windows = new WeakMap<Conn, Window>()
  private readonly sources = new Map<string, Window>()
  /** Messages dropped over the budget. */
  dropped = 0

  constructor (private readonly clock: Clock, private readonly perMinute: number) {}

  /** Whether `conn`, connected from `source` (undefined: exempt), may still teach us peers this minute (counts the message when it may). */
  take (conn: Conn, source?: string): boolean {
    const now = this.clock.now()
    let w = this.windows.get(conn)
    if (w === undefined || now - w.at >= 60_000) {
      w = { at: now, n: 0 }
      this.windows.set(conn, w)
    }
    let s: Window | undefined
    if (source !== undefined) {
      s = this.sources.get(source)
      this.sources.delete(source)
      if (s === undefined || now - s.at >= 60_000) {
        s = { at: now, n: 0 }
        if (this.sources.size >= MAX_PEX_SOURCES) this.sources.delete(this.sources.keys().next().value!)
      }
      this.sources.set(source, s)
    }
    if (w.n >= this.perMinute || (s !== undefined && s.n >= PEX_SOURCE_FACTOR * this.perMinute)) {
      this.dropped++
      return false
    }
    w.n++
    if (s !== undefined) s.n++
    return true
  }

  /** Sources remembered now. */
  get sourceCount (): number { return this.sources.size }
}
