/** Flips one connection may make at once (see `TopicFlips`). */
export const FLIP_BURST = 8
/** Then one flip per this many ms. */
export const FLIP_INTERVAL = 4000
/** Flips ignored on one connection after which it is closed ('protocol'): no honest peer gets near it. */
export const FLIPS_IGNORED_TO_CLOSE = 64
/** Topics whose state one connection's budget remembers at most (past it the oldest is forgotten: its next change costs a flip). */
export const MAX_FLIP_TOPICS = 256

/** What `TopicFlips.take` decides: go ahead, ignore the message, or close the connection ('protocol'). */
export type FlipVerdict = 'ok' | 'ignore' | 'close'

interface ConnFlips {
  tokens: number
  at: number
  ignored: number
  /** A topic was forgotten (`MAX_FLIP_TOPICS`): a topic without state may have changed before, so its change is a flip. */
  full: boolean
  /** Per topic: whether its last change announced it, and whether it changed before (a flip from then on). */
  topics: Map<string, { announced: boolean; changed: boolean }>
}

/**
 * The per-connection budget of topic join/leave flips (rendezvous announce/unannounce): each flip
 * costs the node directory work (a registration made or dropped, handed out to others next), so a
 * peer flipping a topic back and forth must not make that work as fast as it can send.
 *
 * Rules:
 * - A flip is a change of a topic's state on a connection after its first one: announce, leave,
 *   announce again, … — the second change and every later one is a flip. A topic's first announce
 *   and first unannounce, and refreshes of an announced topic, are free: an honest node joining or
 *   leaving many topics at once spends nothing.
 * - A connection may flip `FLIP_BURST` (8) times at once, then once per `FLIP_INTERVAL` (4 s); a
 *   flip beyond it is ignored ('ignore': the registration stays as it was; counted by the caller).
 * - After `FLIPS_IGNORED_TO_CLOSE` (64) ignored flips the connection is closed ('close': the caller
 *   closes it 'protocol'): it keeps flipping although nothing it flips takes effect.
 * - Budgets: the state of a connection lives as long as the connection (a WeakMap) and holds at most
 *   `MAX_FLIP_TOPICS` topics, the least recently changed forgotten first; once one was forgotten,
 *   every change of a topic without state is a flip (a peer cycling through many topics gets no
 *   free changes back).
 */
export class TopicFlips {
  private readonly conns = new WeakMap<object, ConnFlips>()
  /** Flips ignored, all connections together. */
  ignored = 0

  constructor (private readonly now: () => number) {}

  /** `conn` announces (`announced` true) or withdraws `topic`: whether that may take effect. */
  take (conn: object, topic: string, announced: boolean): FlipVerdict {
    const now = this.now()
    let c = this.conns.get(conn)
    if (c === undefined) this.conns.set(conn, c = { tokens: FLIP_BURST, at: now, ignored: 0, full: false, topics: new Map() })
    const state = c.topics.get(topic)
    if (state?.announced === announced) return 'ok' // a refresh, or a withdrawal of what is withdrawn
    if (state === undefined ? c.full : state.changed) {
      c.tokens = Math.min(FLIP_BURST, c.tokens + (now - c.at) / FLIP_INTERVAL)
      c.at = now
      if (c.tokens < 1) {
        this.ignored++
        return ++c.ignored >= FLIPS_IGNORED_TO_CLOSE ? 'close' : 'ignore'
      }
      c.tokens--
    }
    // Re-inserted on every change: the Map's order is least recently changed first.
    c.topics.delete(topic)
    c.topics.set(topic, { announced, changed: state !== undefined || c.full })
    if (c.topics.size > MAX_FLIP_TOPICS) { c.topics.delete(c.topics.keys().next().value!); c.full = true }
    return 'ok'
  }
}
