/** Full lookup answers one asker gets a minute at most (see `AnswerBudget`). */
export const ANSWERS_PER_MINUTE = 512
/** Askers whose budget is remembered at most; past it the one seen longest ago is forgotten. */
export const MAX_ANSWER_ASKERS = 4096

/**
 * The budget of full lookup answers per asker (a peer: one connection each): an answer is up to 32
 * peers with their addresses for a request of a few bytes, so a peer asking in a loop must not have
 * them as fast as it can ask.
 *
 * Rules:
 * - `ANSWERS_PER_MINUTE` (512) answers a minute per asker, refilled continuously, at most that many
 *   at once. Past it the asker gets an empty answer (what a node that knows nobody for the topic
 *   says: every version of the wire takes it, and the asker's lookup settles instead of hanging).
 * - The referrals a connection gets when it declares a topic or is turned away draw on the same
 *   budget; the node's own questions to itself do not (the caller leaves them out).
 * - A budget itself: at most `MAX_ANSWER_ASKERS` askers remembered, the one seen longest ago
 *   forgotten first (a new identity gets a full bucket anyway).
 */
export class AnswerBudget {
  private readonly askers = new Map<string, { tokens: number; at: number }>()
  /** Answers given empty for the budget. */
  refused = 0

  constructor (private readonly now: () => number, readonly perMinute = ANSWERS_PER_MINUTE) {}

  /** Whether `asker` may have a full answer now (spends one when it may). */
  take (asker: string): boolean {
    const now = this.now()
    let b = this.askers.get(asker)
    if (b === undefined) {
      b = { tokens: this.perMinute, at: now }
      if (this.askers.size >= MAX_ANSWER_ASKERS) this.askers.delete(this.askers.keys().next().value!)
    } else {
      this.askers.delete(asker)
      b.tokens = Math.min(this.perMinute, b.tokens + (now - b.at) * this.perMinute / 60_000)
      b.at = now
    }
    this.askers.set(asker, b)
    if (b.tokens < 1) { this.refused++; return false }
    b.tokens--
    return true
  }

  /** Askers remembered now. */
  get size (): number { return this.askers.size }
}
