import { actionCode, rankBits, rankedReason, type DecisionLog } from './decision-log.js'
import type { RankKey } from './rank.js'
import type { Decision, DecisionAction } from './types.js'

/**
 * A decision about a peer that was closed for its rank (a trim, an eviction at the bound), on its
 * way into the peer's decisions (`PeerRecord.note`): the log keeps its numbers and the text shared by
 * every victim of one trim, and writes the reason only when someone reads it (`explain()`, the
 * dashboard) — a trim closes hundreds of peers at once and most of their reasons are never read.
 *
 * Rules:
 * - The text is exactly what an eager decision would have said (`rankedReason`, decision-log.ts).
 * - The rank is copied when the decision is made (the peer's rank may change later); so is the
 *   place, so one object may carry the decisions of a whole trim, one victim after another (`next`),
 *   and of one trim after another (`start`).
 */
export class RankedDecision implements Decision {
  // Fields start as numbers (the constructor sets them): a field that starts undefined is stored
  // tagged, and V8 then boxes every time and fractional tag value written to it.
  /** The rank's class and flags (`rankBits`) and its tag value, copied from the peer. */
  private bits = 0
  private value = 0
  private readonly code: number
  /** When the decision was taken. */
  at = 0

  constructor (
    at: number,
    readonly action: DecisionAction,
    /** The text before the rank, shared by every decision of one trim. */
    private head: string,
    /** 1-based place among the `total` peers of one trim; 0 for a single eviction. */
    private position: number,
    private total: number,
    rank: RankKey
  ) {
    this.at = at
    this.code = actionCode(action)
    this.bits = rankBits(rank)
    this.value = rank.value
  }

  /** Makes this the first decision of another trim of `total` peers, at `at`, whose text is `head` (before `next`); returns itself. */
  start (at: number, head: string, total: number): this {
    this.at = at
    this.head = head
    this.total = total
    return this
  }

  /** Makes this the decision about the peer at `position`, whose rank is `rank` now; returns itself. */
  next (position: number, rank: RankKey): this {
    this.position = position
    this.bits = rankBits(rank)
    this.value = rank.value
    return this
  }

  /** The reason `explain()` shows. */
  get reason (): string {
    return rankedReason(this.head, this.position, this.total, this.value, this.bits)
  }

  /** Writes this decision into `log`, to the peer's decisions (`ref`); returns their new ref (see `DecisionLog.ranked`). */
  writeTo (log: DecisionLog, ref: number, seq: number, depth: number): number {
    return log.ranked(ref, seq, depth, this.at, this.code, this.head, this.position, this.total, this.value, this.bits)
  }
}

/**
 * One decision that lives as long as the program: a trim's decision object dies with the trim, and
 * when no instance of a class is left, a full collection frees its hidden classes and V8 drops the
 * optimized code that relied on them (the close path of every trim, compiled again each time).
 * Measured when each victim had a decision object of its own: a trim of 200 of 10,100 took ~1.6x
 * as long after each full collection without it. The trim scheduler keeps one now; an eviction
 * still makes one each.
 */
export const PINNED = new RankedDecision(0, 'trim', '', 0, 0, { priority: 'medium', longTerm: false, value: 0.5, idle: false, inbound: false, openedAt: 0 })
