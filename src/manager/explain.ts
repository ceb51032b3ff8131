import { describeRank, type RankKey } from './rank.js'
import type { PeerRecord } from './peer-record.js'
import type { Decision, DecisionAction, Priority } from './types.js'

/**
 * A decision about a peer that was closed for its rank (a trim, an eviction at the bound), whose
 * reason is written only when someone reads it (`explain()`, the dashboard): a trim closes hundreds
 * of peers at once and most of their reasons are never read, so the close keeps the numbers and the
 * shared text and leaves the formatting (numbers to text, the rank's summary) to the reader.
 *
 * Rules:
 * - The text is exactly what an eager decision would have said:
 *   `${head}${position} of ${total} lowest-ranked (${describeRank(rank)})` when `position` > 0, else
 *   `${head}${describeRank(rank)})` (the head ends with its opening parenthesis); written once, then
 *   kept.
 * - The rank is copied when the decision is made (the peer's rank may change later).
 * - `explain()` copies `at`, `action` and `reason` into a plain object: a spread would miss the
 *   getter.
 */
export class RankedDecision implements Decision, RankKey {
  readonly priority: Priority
  readonly longTerm: boolean
  readonly value: number
  readonly idle: boolean
  readonly inbound: boolean
  readonly openedAt: number
  private text: string | undefined = undefined

  constructor (
    readonly at: number,
    readonly action: DecisionAction,
    /** The text before the rank, shared by every decision of one trim. */
    private readonly head: string,
    /** 1-based place among the `total` peers of one trim; 0 for a single eviction. */
    private readonly position: number,
    private readonly total: number,
    rank: PeerRecord
  ) {
    this.priority = rank.priority
    this.longTerm = rank.longTerm
    this.value = rank.value
    this.idle = rank.idle
    this.inbound = rank.inbound
    this.openedAt = rank.openedAt
  }

  get reason (): string {
    this.text ??= this.position > 0
      ? `${this.head}${this.position} of ${this.total} lowest-ranked (${describeRank(this)})`
      : `${this.head}${describeRank(this)})`
    return this.text
  }
}
