import type { PeerRecord } from './peer-record.js'

/**
 * Picks the peers a trim closes: walks `ordered` (lowest rank first, see `compareTrimRank`) and takes
 * every peer `canClose` accepts until `count` are taken; peers `preferred` accepts are taken first.
 * `ordered` is walked once per pass, so it must be re-iterable (an array, or an iterable whose
 * iterator restarts). Pure: it closes nothing, and the caller acts
 * on the result. `canClose` sees the peers already taken, so it can keep a topic at its quota's `min`.
 */
export function selectVictims (
  ordered: Iterable<PeerRecord>,
  count: number,
  canClose: (record: PeerRecord, taken: readonly PeerRecord[]) => boolean = () => true,
  preferred?: (record: PeerRecord, taken: readonly PeerRecord[]) => boolean
): PeerRecord[] {
  const taken: PeerRecord[] = []
  if (count <= 0) return taken
  // With a preference (peers of a topic above its quota's max), those go first, in rank order; only
  // then is a second pass (and a record of who was taken) needed.
  const chosen = preferred === undefined ? undefined : new Set<PeerRecord>()
  for (const pass of preferred === undefined ? [undefined] : [preferred, undefined]) {
    for (const record of ordered) {
      if (chosen?.has(record) === true) continue
      if (pass !== undefined && !pass(record, taken)) continue
      if (!canClose(record, taken)) continue
      taken.push(record)
      chosen?.add(record)
      if (taken.length >= count) return taken
    }
  }
  return taken
}

/**
 * How many peers a trim closes (one connection per peer).
 *
 * - 'watermark' (explicit `trim()` and the background trim): down to `lowWater` counting only the
 *   trimmable connections — protected, allow-listed and in-grace ones neither count nor go
 *   (go-libp2p connmgr PR #50: otherwise a node with many protected peers loses every other one) —
 *   but always at least enough to come back under `highWater` when that is possible.
 * - 'limit' (the limits were lowered, or the manager starts above them): just back to `highWater`;
 *   when the trimmable peers are not enough, the caller takes in-grace peers too (lowest-ranked first):
 *   the application asked for the lower bound now. Protected, allow-listed and permanent peers stay.
 */
export function trimCount (mode: 'watermark' | 'limit', s: { connections: number; trimmable: number; lowWater: number; highWater: number }): number {
  const excess = s.connections - s.highWater
  const wanted = mode === 'limit' ? excess : Math.max(s.trimmable - s.lowWater, excess)
  return Math.max(0, Math.min(wanted, s.trimmable))
}
