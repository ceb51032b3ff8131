import type { CompactCandidates } from './dial-scheduler-host.js'
import { compareCandidates } from './dial-order.js'
import type { PeerRecord } from './peer-record.js'

/**
 * The ready peers in dial order: the index's (`ordered`), and the book's compact peers where they
 * fall. A compact peer is a record that was never dialled, connected, tagged or flagged: it sorts by
 * its creation order among its like (dial-order.ts), so the first of them is compared with the
 * index's next peer through a stand-in record (`probe`) given its creation order.
 *
 * Rules:
 * - Each compact peer that comes up becomes a record (`compact.expand`), pushed to `fresh`: the
 *   index must not change during the walk, so the caller files them after it.
 * - `probe` is only compared, never filed: one per scheduler, given each compact peer's creation
 *   order in turn (a record per pass was ~1 % of what a large simulation allocated).
 */
export function * withCompact (ordered: Iterator<PeerRecord>, compact: CompactCandidates, fresh: PeerRecord[], probe: PeerRecord): Generator<PeerRecord> {
  let next = ordered.next()
  for (;;) {
    const first = compact.first()
    if (first >= 0) {
      ;(probe as { seq: number }).seq = compact.firstSeq()
      if (next.done === true || compareCandidates(next.value, probe, noTopics) > 0) {
        const r = compact.expand(first)
        fresh.push(r)
        yield r
        continue
      }
    }
    if (next.done === true) return
    yield next.value
    next = ordered.next()
  }
}

const noTopics = (): boolean => false
