import { AddressStats } from './address-stats.js'
import { priorityRank } from './rank.js'
import type { PeerRecord } from './peer-record.js'
import type { Priority } from './types.js'
import { clampTagValue } from './validate.js'

/**
 * The merge rule: when a peer known by address only turns out to be a peer known by id (a
 * connection's handshake, or `addPeers` with both), the two records become one, and the stronger
 * setting wins.
 *
 * Rules (stated here once; the README links to it):
 * - priority: 'banned' over anything; else a priority the application set over the default
 *   'medium'; else the higher of the two ({@link mergePriority});
 * - long-term, permanent and bootstrap: kept when either record has them;
 * - topics: united;
 * - static tags: summed by name (clamped to ±TAG_VALUE_BOUND); protections united;
 * - history: the latest connection, the most successes, the fewest consecutive failures (one of the
 *   two was reached), the earliest first-seen time; a backoff in force on the id's record is kept;
 * - a peer known only from hints stays so only when both were;
 * - explain(): the decisions of both, in time order, the newest `depth` kept.
 * The caller (PeerKnowledge) applies what has side effects: the merged priority (a ban closes a
 * connection), topics (counted per connected peer), protections (counted), the store.
 */
export function mergePriority (a: Priority, b: Priority): Priority {
  if (a === 'banned' || b === 'banned') return 'banned'
  if (a === 'medium') return b
  if (b === 'medium') return a
  return priorityRank(a) >= priorityRank(b) ? a : b
}

/** The topics of both, `into`'s first. */
export function mergeTopics (into: readonly string[], from: readonly string[]): string[] {
  return [...new Set([...into, ...from])]
}

/**
 * Folds `from` into `into`: flags, tags, history and decisions (not priority, topics, protections or
 * addresses: see the rules above). Collections of `into` are replaced, never shared with `from`.
 */
export function mergeFields (into: PeerRecord, from: PeerRecord, depth: number): void {
  into.longTerm ||= from.longTerm
  into.permanent ||= from.permanent
  into.bootstrap ||= from.bootstrap
  into.hint &&= from.hint
  if (from.tags !== undefined && from.tags.size > 0) {
    const tags = new Map(into.tags ?? [])
    for (const [k, v] of from.tags) tags.set(k, clampTagValue((tags.get(k) ?? 0) + v))
    into.tags = tags
  }
  into.recomputeValue()
  if (from.lastConnected > into.lastConnected || Number.isNaN(into.lastConnected)) into.lastConnected = from.lastConnected
  into.successes = Math.max(into.successes, from.successes)
  into.failures = Math.min(into.failures, from.failures)
  into.attempts = Math.max(into.attempts, from.attempts)
  into.firstSeen = Math.min(into.firstSeen, from.firstSeen)
  if (Number.isNaN(into.nextDialAt)) into.nextDialAt = from.nextDialAt
  if (from.addressStats !== undefined) into.addressStats = AddressStats.merged(from.addressStats, into.addressStats)
  if (from.hinted !== undefined) {
    const hinted = new Set(into.hinted ?? [])
    for (const a of from.hinted) hinted.add(a)
    into.hinted = hinted
  }
  if (from.decisions !== undefined && from.decisions.length > 0) {
    const all = [...from.decisions, ...(into.decisions ?? [])].sort((x, y) => x.at - y.at)
    into.decisions = all.slice(Math.max(0, all.length - depth))
  }
}
