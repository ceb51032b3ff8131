import type { DecisionLog } from './decision-log.js'
import { describeRank, type RankKey } from './rank.js'
import type { Decision, DecisionAction, Priority } from './types.js'

/**
 * A decision about a peer that was closed for its rank (a trim, an eviction at the bound), on its
 * way into the peer's decisions (`PeerRecord.note`): the log keeps its numbers and the text shared by
 * every victim of one trim, and writes the reason only when someone reads it (`explain()`, the
 * dashboard) — a trim closes hundreds of peers at once and most of their reasons are never read.
 *
 * Rules:
 * - The text is exactly what an eager decision would have said:
 *   `${head}${position} of ${total} lowest-ranked (${describeRank(rank)})` when `position` > 0, else
 *   `${head}${describeRank(rank)})` (the head ends with its opening parenthesis).
 * - The rank is copied when the decision is made (the peer's rank may change later); so is the
 *   place, so one object may carry the decisions of a whole trim, one victim after another (`next`).
 */
export class RankedDecision implements Decision, RankKey {
  priority: Priority
  longTerm: boolean
  value: number
  idle: boolean
  inbound: boolean
  openedAt: number

  constructor (
    readonly at: number,
    readonly action: DecisionAction,
    /** The text before the rank, shared by every decision of one trim. */
    private readonly head: string,
    /** 1-based place among the `total` peers of one trim; 0 for a single eviction. */
    private position: number,
    private readonly total: number,
    rank: RankKey
  ) {
    this.priority = rank.priority
    this.longTerm = rank.longTerm
    this.value = rank.value
    this.idle = rank.idle
    this.inbound = rank.inbound
    this.openedAt = rank.openedAt
  }

  /** Makes this the decision about the peer at `position`, whose rank is `rank` now; returns itself. */
  next (position: number, rank: RankKey): this {
    this.position = position
    this.priority = rank.priority
    this.longTerm = rank.longTerm
    this.value = rank.value
    this.idle = rank.idle
    this.inbound = rank.inbound
    this.openedAt = rank.openedAt
    return this
  }

  /** The reason `explain()` shows. */
  get reason (): string {
    return this.position > 0
      ? `${this.head}${this.position} of ${this.total} lowest-ranked (${describeRank(this)})`
      : `${this.head}${describeRank(this)})`
  }

  /** Writes this decision into `log` after `head` (see `DecisionLog.ranked`); returns the new head. */
  writeTo (log: DecisionLog, head: number, seq: number, depth: number): number {
    return log.ranked(head, seq, depth, this.at, this.action, this.head, this.position, this.total, this)
  }
}

/**
 * One decision that lives as long as the program: a trim's decision object dies with the trim, and
 * when no instance of a class is left, a full collection frees its hidden classes and V8 drops the
 * optimized code that relied on them (the close path of every trim, compiled again each time).
 * Measured: a trim of 200 of 10,100 took ~1.6x as long after each full collection without it.
 */
export const PINNED = new RankedDecision(0, 'trim', '', 0, 0, { priority: 'medium', longTerm: false, value: 0.5, idle: false, inbound: false, openedAt: 0.5 })
