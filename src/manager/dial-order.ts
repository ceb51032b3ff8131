import { sunk } from './backoff.js'
import { priorityRank } from './rank.js'
import type { PeerRecord } from './peer-record.js'

/**
 * The dial order: negative when `a` should be dialled before `b`. One comparator, in order:
 * 1. bootstrap peers last — they are dialled only while too few other candidates are eligible;
 * 2. peers that failed `sinkAfter` times in a row sink to the end (long-term peers never sink);
 * 3. higher priority first (high, medium, low; banned peers are never candidates);
 * 4. long-term peers first;
 * 5. peers that serve a topic below its quota's `min` first (`needed`);
 * 6. peers we were connected to before first — the more recently, then the more often, the earlier;
 * 7. higher tag value first;
 * 8. never-tried peers before peers that were tried and never connected;
 * 9. first known, first dialled.
 */
export function compareCandidates (a: PeerRecord, b: PeerRecord, needed: (r: PeerRecord) => boolean): number {
  if (a.bootstrap !== b.bootstrap) return a.bootstrap ? 1 : -1
  const sa = !a.longTerm && sunk(a.failures)
  const sb = !b.longTerm && sunk(b.failures)
  if (sa !== sb) return sa ? 1 : -1
  const pa = priorityRank(a.priority)
  const pb = priorityRank(b.priority)
  if (pa !== pb) return pb - pa
  if (a.longTerm !== b.longTerm) return a.longTerm ? -1 : 1
  const na = needed(a)
  const nb = needed(b)
  if (na !== nb) return na ? -1 : 1
  const ca = !Number.isNaN(a.lastConnected)
  const cb = !Number.isNaN(b.lastConnected)
  if (ca !== cb) return ca ? -1 : 1
  if (ca && a.lastConnected !== b.lastConnected) return b.lastConnected - a.lastConnected
  if (a.successes !== b.successes) return b.successes - a.successes
  if (a.value !== b.value) return b.value - a.value
  const ta = a.attempts === 0
  const tb = b.attempts === 0
  if (ta !== tb) return ta ? -1 : 1
  return a.seq - b.seq
}

/**
 * The best `k` records that `eligible` accepts, best first, in one pass over `records` (O(n·k) at
 * worst, with k the free dial slots, which is small). Pure.
 */
export function pickCandidates (
  records: Iterable<PeerRecord>,
  k: number,
  eligible: (r: PeerRecord) => boolean,
  compare: (a: PeerRecord, b: PeerRecord) => number
): PeerRecord[] {
  const best: PeerRecord[] = []
  if (k <= 0) return best
  for (const r of records) {
    if (!eligible(r)) continue
    if (best.length === k && compare(r, best[k - 1]) >= 0) continue
    let i = best.length === k ? k - 1 : best.length
    if (best.length < k) best.push(r)
    while (i > 0 && compare(r, best[i - 1]) < 0) { best[i] = best[i - 1]; i-- }
    best[i] = r
  }
  return best
}
