import type { PeerRecord } from './peer-record.js'

/**
 * Picks the peers a trim closes: walks `ordered` (lowest rank first, see `compareTrimRank`) and takes
 * every peer `canClose` accepts until `count` are taken. Pure: it closes nothing, and the caller acts
 * on the result. `canClose` sees the peers already taken, so it can keep a topic at its quota's `min`.
 */
export function selectVictims (
  ordered: Iterable<PeerRecord>,
  count: number,
  canClose: (record: PeerRecord, taken: readonly PeerRecord[]) => boolean = () => true
): PeerRecord[] {
  const taken: PeerRecord[] = []
  if (count <= 0) return taken
  for (const record of ordered) {
    if (!canClose(record, taken)) continue
    taken.push(record)
    if (taken.length >= count) break
  }
  return taken
}
