import { peerSource } from './peer-source.js'
import { TokenBuckets } from './token-buckets.js'

/** Full lookup answers one asker gets a minute at most (see `AnswerBudget`). */
export const ANSWERS_PER_MINUTE = 512
/** Bytes of full answers one source (see `answerSource`) gets a minute at most (see `AnswerBudget`). */
export const ANSWER_BYTES_PER_MINUTE = 16 * 1024 * 1024
/** Askers (and, apart, sources) whose budget is remembered at most; past it the one seen longest ago is forgotten. */
export const MAX_ANSWER_ASKERS = 4096

/**
 * The budget of full lookup answers per asker (a peer) and per source (where it connects from): an
 * answer is up to 32 peers with their addresses (up to ~35 KB) for a request of ~100 bytes, so a
 * peer asking in a loop must not have them as fast as it can ask, nor a host that takes a fresh
 * identity per connection.
 *
 * Rules:
 * - `ANSWERS_PER_MINUTE` (512) answers a minute per asker, empty or not (each costs a walk over the
 *   connections), refilled continuously, at most that many at once. Past it the asker gets an empty answer (what a node that knows nobody for the topic
 *   says: every version of the wire takes it, and the asker's lookup settles instead of hanging).
 * - `ANSWER_BYTES_PER_MINUTE` (16 MiB) of full answers a minute per source, all its identities
 *   together, refilled continuously; an answer alone always fits a full bucket. Identities are free: with the
 *   per-asker budget alone, one IP opening 10 connections a second under fresh keys had ~18 MB of
 *   answers sent per connection for ~56 KB of lookups (360x).
 * - The referrals a connection gets when it declares a topic or is turned away draw on the same
 *   budgets; the node's own questions to itself do not (the caller leaves them out).
 * - A refusal spends nothing of the budget that refused. The budget itself: at most `MAX_ANSWER_ASKERS` askers and as many
 *   sources remembered, the one seen longest ago forgotten first (a new one gets a full bucket anyway).
 */
export class AnswerBudget {
  private readonly askers = new TokenBuckets(MAX_ANSWER_ASKERS)
  private readonly sources = new TokenBuckets(MAX_ANSWER_ASKERS)
  /** Answers given empty for the budget. */
  refused = 0

  constructor (private readonly now: () => number, readonly perMinute = ANSWERS_PER_MINUTE, readonly bytesPerMinute = ANSWER_BYTES_PER_MINUTE) {}

  /** Whether `asker` may have an answer now (spends one when it may): asked before the answer is made, which costs a walk over the connections. */
  take (asker: string): boolean {
    const a = this.askers.refill(asker, this.perMinute, 60_000, this.now())
    if (a.tokens < 1) { this.refused++; return false }
    a.tokens--
    return true
  }

  /**
   * Whether a full answer of `bytes` may go to `source` (`answerSource`; undefined: exempt) now
   * (spends the bytes when it may). A full bucket always gives one answer, however large.
   */
  takeBytes (source: string | undefined, bytes: number): boolean {
    if (source === undefined) return true
    const s = this.sources.refill(source, this.bytesPerMinute, 60_000, this.now())
    const cost = Math.min(bytes, this.bytesPerMinute)
    if (s.tokens < cost) { this.refused++; return false }
    s.tokens -= cost
    return true
  }

  /** Askers remembered now. */
  get size (): number { return this.askers.size }

  /** Sources remembered now. */
  get sourceCount (): number { return this.sources.size }
}

/** Where an asker's answers are counted (`peerSource`). */
export const answerSource = peerSource

/** About the JSON bytes of an answer of `peers` (its type, id and topic; ids, addresses, quotes and commas). */
export function answerBytes (peers: ReadonlyArray<{ id: string; addresses: readonly string[] }>): number {
  let n = 128
  for (const p of peers) {
    n += p.id.length + 24
    for (const a of p.addresses) n += a.length + 3
  }
  return n
}
