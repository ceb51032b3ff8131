import { compareCandidates } from './dial-order.js'
import { IndexedHeap } from './indexed-heap.js'
import { TimedHeap } from './min-heap.js'
import type { PeerRecord } from './peer-record.js'

/**
 * The peers the dialer may pick, kept in dial order so that a decision among 100,000 known peers
 * looks at a handful of them instead of all.
 *
 * Rules:
 * - `ready` holds the dialable peers whose backoff has passed, ordered by `compareCandidates` (without
 *   the topic key, which changes with every connection; the dialer scans topic peers itself while a
 *   topic is short). Dialable: not connected, not being dialled, not banned, has an address, not
 *   denied, not ourselves (the manager's `dialable`).
 * - Dialable peers still in backoff wait in `waiting`, a min-heap on `nextDialAt`; `promote(now)`
 *   moves the due ones into `ready`, and `nextWake()` is when the next one is due (the shared timer).
 * - `sticky` holds the long-term and permanent peers, which are redialled whatever the count.
 * - Callers call `update(record, now)` after changing anything the order or the rules read.
 */
export class DialIndex {
  private readonly ready = new IndexedHeap<PeerRecord, 'candIndex'>((a, b) => compareCandidates(a, b, noTopics), 'candIndex')
  private readonly waiting = new TimedHeap<PeerRecord>()
  readonly sticky = new Set<PeerRecord>()

  constructor (private readonly dialable: (record: PeerRecord) => boolean) {}

  get size (): number { return this.ready.size }

  update (record: PeerRecord, now: number): void {
    if (record.longTerm || record.permanent) this.sticky.add(record)
    else this.sticky.delete(record)
    if (!this.dialable(record)) {
      this.ready.remove(record)
      record.waitAt = NaN
      return
    }
    const at = record.nextDialAt
    if (at > now) {
      this.ready.remove(record)
      if (record.waitAt !== at) {
        record.waitAt = at
        this.waiting.push(at, record)
      }
      return
    }
    record.waitAt = NaN
    this.ready.upsert(record)
  }

  remove (record: PeerRecord): void {
    this.ready.remove(record)
    this.sticky.delete(record)
    record.waitAt = NaN
  }

  /** Moves the peers whose backoff ended into `ready`. */
  promote (now: number): void {
    const w = this.waiting
    while (w.peekAt() <= now) {
      const at = w.peekAt()
      const record = w.pop()!
      // Stale entries (the peer's wait changed or ended since) are dropped here.
      if (record.waitAt === at) {
        record.waitAt = NaN
        this.update(record, now)
      }
    }
  }

  /** When the next waiting peer is due; Infinity when none waits. */
  nextWake (): number {
    const w = this.waiting
    while (w.size > 0 && w.peek()!.waitAt !== w.peekAt()) w.pop()
    return w.peekAt()
  }

  /** The ready peers in dial order, best first, lazily. `ready` must not change while iterating. */
  ordered (): Generator<PeerRecord> { return this.ready.ascending() }
}

const noTopics = (): boolean => false
