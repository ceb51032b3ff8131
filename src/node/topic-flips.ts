import { TokenBuckets } from './token-buckets.js'

/** Flips one connection may make at once (see `TopicFlips`). */
export const FLIP_BURST = 8
/** Then one flip per this many ms. */
export const FLIP_INTERVAL = 4000
/** Flips ignored on one connection after which it is closed ('protocol'): no honest peer gets near it. */
export const FLIPS_IGNORED_TO_CLOSE = 64
/** Topics whose state one connection's budget remembers at most (past it the oldest is forgotten: its next change costs a flip). */
export const MAX_FLIP_TOPICS = 256

/** A source (`peerSource`: all its identities together) may flip this many times what one identity may. */
export const FLIP_SOURCE_FACTOR = 2
/** Identities and sources whose flip budget is remembered at most each; past it the one seen longest ago is forgotten. */
export const MAX_FLIP_HOLDERS = 4096

/** What `TopicFlips.take` decides: go ahead, ignore the message, or close the connection ('protocol'). */
export type FlipVerdict = 'ok' | 'ignore' | 'close'

interface ConnFlips {
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
 * - The flips are budgeted per identity and per source, not per connection (a connection is free to
 *   make anew, 10 a second per IP, under the same identity or a fresh one: with a budget per
 *   connection, 8 connections from one IP made 64 flips of one topic in a second instead of 8).
 *   An identity may flip `FLIP_BURST` (8) times at once, then once per `FLIP_INTERVAL` (4 s), all its
 *   connections together; a source (`peerSource`: an IP, an IPv6 /64, a public /24 or /48;
 *   127.0.0.1 and ::1 exempt, passed as undefined) `FLIP_SOURCE_FACTOR` (2) times that, all its
 *   identities together. A flip needs a token of both; beyond either it is ignored ('ignore': the
 *   registration stays as it was; counted by the caller) and spends nothing.
 * - After `FLIPS_IGNORED_TO_CLOSE` (64) ignored flips the connection is closed ('close': the caller
 *   closes it 'protocol'): it keeps flipping although nothing it flips takes effect.
 * - Budgets: `MAX_FLIP_HOLDERS` (4096) identities and as many sources remembered, the one seen
 *   longest ago forgotten first; the state of a connection lives as long as the connection (a WeakMap) and holds at most
 *   `MAX_FLIP_TOPICS` topics, the least recently changed forgotten first; once one was forgotten,
 *   every change of a topic without state is a flip (a peer cycling through many topics gets no
 *   free changes back).
 */
export class TopicFlips {
  private readonly conns = new WeakMap<object, ConnFlips>()
  private readonly peers = new TokenBuckets(MAX_FLIP_HOLDERS)
  private readonly sources = new TokenBuckets(MAX_FLIP_HOLDERS)
  /** Flips ignored, all connections together. */
  ignored = 0

  constructor (private readonly now: () => number) {}

  /**
   * `conn`, of identity `peer`, connected from `source` (`peerSource`; undefined: exempt), announces
   * (`announced` true) or withdraws `topic`: whether that may take effect.
   */
  take (conn: object, topic: string, announced: boolean, peer: string, source?: string): FlipVerdict {
    const now = this.now()
    let c = this.conns.get(conn)
    if (c === undefined) this.conns.set(conn, c = { ignored: 0, full: false, topics: new Map() })
    const state = c.topics.get(topic)
    if (state?.announced === announced) return 'ok' // a refresh, or a withdrawal of what is withdrawn
    if (state === undefined ? c.full : state.changed) {
      // FLIP_BURST at once, then one per FLIP_INTERVAL: a full bucket is back in FLIP_BURST intervals (a source's too).
      const mine = this.peers.refill(peer, FLIP_BURST, FLIP_BURST * FLIP_INTERVAL, now)
      const theirs = source === undefined ? undefined : this.sources.refill(source, FLIP_SOURCE_FACTOR * FLIP_BURST, FLIP_BURST * FLIP_INTERVAL, now)
      if (mine.tokens < 1 || (theirs !== undefined && theirs.tokens < 1)) {
        this.ignored++
        return ++c.ignored >= FLIPS_IGNORED_TO_CLOSE ? 'close' : 'ignore'
      }
      mine.tokens--
      if (theirs !== undefined) theirs.tokens--
    }
    // Re-inserted on every change: the Map's order is least recently changed first.
    c.topics.delete(topic)
    c.topics.set(topic, { announced, changed: state !== undefined || c.full })
    if (c.topics.size > MAX_FLIP_TOPICS) { c.topics.delete(c.topics.keys().next().value!); c.full = true }
    return 'ok'
  }

  /** Identities and sources whose budget is remembered now. */
  get holders (): number { return this.peers.size + this.sources.size }
}
