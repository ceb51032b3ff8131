import type { Priority } from './types.js'

/** What the trim order looks at, per connected peer. */
export interface RankKey {
  readonly priority: Priority
  readonly longTerm: boolean
  /** Sum of the peer's tag values. */
  readonly value: number
  /** No open stream when last sampled (`streams` 0 or unknown). */
  readonly idle: boolean
  readonly inbound: boolean
  /** When the peer's connection opened. */
  readonly openedAt: number
}

const PRIORITY_RANK: Record<Priority, number> = { banned: 0, low: 1, medium: 2, high: 3 }

/** Numeric rank of a priority: banned < low < medium < high. */
export function priorityRank (priority: Priority): number {
  return PRIORITY_RANK[priority]
}

/**
 * The trim order: negative when `a` is trimmed before `b`. One comparator, tie-breakers in order:
 * 1. banned peers first (they should not be connected at all);
 * 2. peers that are not long-term before long-term ones (long-term peers are trimmed last among the unprotected);
 * 3. lower priority first (low, then medium, then high);
 * 4. lower tag value first;
 * 5. idle before busy (a peer with open streams is in use: go-libp2p PR #1675, js-libp2p's pruner);
 * 6. inbound before outbound (we chose to dial the outbound ones; inbound are cheaper to get again);
 * 7. newest before oldest (an old connection has proven itself; js-libp2p's "shortest-lived first").
 * Equal keys compare 0; callers break remaining ties by insertion order.
 */
export function compareTrimRank (a: RankKey, b: RankKey): number {
  if (a.priority !== b.priority && (a.priority === 'banned' || b.priority === 'banned')) {
    return a.priority === 'banned' ? -1 : 1
  }
  if (a.longTerm !== b.longTerm) return a.longTerm ? 1 : -1
  const pa = PRIORITY_RANK[a.priority]
  const pb = PRIORITY_RANK[b.priority]
  if (pa !== pb) return pa - pb
  if (a.value !== b.value) return a.value < b.value ? -1 : 1
  if (a.idle !== b.idle) return a.idle ? -1 : 1
  if (a.inbound !== b.inbound) return a.inbound ? -1 : 1
  if (a.openedAt !== b.openedAt) return a.openedAt > b.openedAt ? -1 : 1
  return 0
}

/** A human summary of a rank key, for `explain()`. */
export function describeRank (k: RankKey): string {
  return `priority ${k.priority}${k.longTerm ? ', long-term' : ''}, value ${k.value}, ${k.idle ? 'idle' : 'busy'}, ${k.inbound ? 'inbound' : 'outbound'}`
}
