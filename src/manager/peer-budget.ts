import { MinHeap } from './min-heap.js'
import type { PeerRecord } from './peer-record.js'

/** What the peer budget needs from the manager. */
export interface PeerBudgetHost {
  /** The cap (`maxPeers`). */
  max(): number
  /** How many peers are known now. */
  known(): number
  /** Forgets the record (it is evictable). */
  evict(record: PeerRecord): void
  /** Every known record (to rebuild the heap when stale snapshots pile up). */
  records(): Iterable<PeerRecord>
}

/** A record as the heap saw it when it was pushed; stale once the record changed. */
interface Snapshot { record: PeerRecord; version: number; hint: boolean; failures: number; seq: number }

/**
 * The cap on known peers (`maxPeers`): a table fed by peers (peer exchange, lookups, inbound
 * strangers) has a budget.
 *
 * Rules:
 * - Only a peer we know least about is evicted: one that never connected (no connection now, no
 *   success ever), is not being dialled, and that nobody vouched for — not protected, long-term,
 *   permanent, bootstrap, banned or of high priority, and without tags ({@link evictable}).
 * - Among those, in order: peers known only from hints first; then the most failed dials; then the
 *   oldest learnt (creation order).
 * - When none of those is left: strangers that came and went — connected before, but their last
 *   connection came to us (we never needed to reach them since), not connected now, and vouched
 *   for by nobody ({@link departedStranger}) — the longest gone first. An identity costs a key pair:
 *   a host connecting with a fresh one each time made the book grow by a record per handshake, for
 *   good. They are found by a scan of the book (O(n log n)) when the first tier runs dry, and
 *   scanned for again only once max(16, count / 16) records were created or changed since the
 *   last scan: the count may stay that much above the cap, and a scan costs O(16) per change,
 *   amortised.
 * - `enforce()` evicts until the count is back at the cap, or nobody is evictable (the count then
 *   stays above the cap until a peer becomes evictable and `reconsider()` is called).
 * - Cost: nothing while the count has never passed the cap (most books never reach it: no heap, no
 *   snapshot per peer). The first time it does, the heap is built from every record (O(n log n),
 *   once); from then on every record is pushed when created and when its dial outcome changes
 *   (O(log n)), and an eviction pops the heap (O(log n) amortised, stale snapshots are skipped). Records that are not
 *   evictable now but may become so later are parked and looked at again only after `reconsider()`,
 *   so a flood against a book full of vouched-for peers costs O(1) per peer.
 */
export class PeerBudget {
  private heap = new MinHeap<Snapshot>(less)
  private parked: PeerRecord[] = []
  private reconsidered = false
  /** False until the count first passes the cap: until then nothing is pushed (see the cost rule). */
  private isActive = false
  /** Peers evicted since creation (`stats().evicted`). */
  evicted = 0
  /** The second tier ({@link departedStranger}), the longest gone first, from the last scan; `next` is the next to look at. */
  private departed: PeerRecord[] = []
  private next = 0
  /** Records created or changed (`track`) since the last scan; Infinity before the first. */
  private sinceScan = Infinity

  constructor (private readonly host: PeerBudgetHost) {}

  /** Whether the count has passed the cap once (from then on every record is tracked). */
  get active (): boolean { return this.isActive }

  /** A record was created, or something the eviction order reads (failures, hint) changed. */
  track (record: PeerRecord): void {
    this.sinceScan++
    if (!this.isActive) return
    this.push(record)
    // Stale snapshots are dropped only when popped: rebuild before they outnumber the peers.
    if (this.heap.size > 2 * this.host.known() + 1024) this.rebuild()
  }

  /** Something that kept parked records from eviction may have ended (a protection, a flag, a tag, a priority). */
  reconsider (): void {
    if (this.parked.length > 0) this.reconsidered = true
  }

  /** Evicts until the count is at the cap or nobody may go. */
  enforce (): void {
    const { host } = this
    if (host.known() <= host.max()) return
    if (!this.isActive) {
      // The heap a push per change would have built by now, with the current values: the same order.
      this.isActive = true
      this.rebuild()
    }
    while (host.known() > host.max()) {
      const top = this.heap.pop()
      if (top === undefined) {
        if (this.unpark()) continue
        const gone = this.nextDeparted()
        if (gone === undefined) return
        this.evicted++
        host.evict(gone)
        continue
      }
      const r = top.record
      if (r.forgotten || top.version !== r.budgetVersion) continue // stale
      if (top.hint !== r.hint || top.failures !== r.failures) { this.push(r); continue }
      if (!evictable(r)) {
        // Once connected, a peer is never evictable again; the rest may be, later.
        if (r.successes === 0 && Number.isNaN(r.lastConnected)) this.parked.push(r)
        r.budgetVersion++
        continue
      }
      r.budgetVersion++
      this.evicted++
      host.evict(r)
    }
  }

  private push (record: PeerRecord): void {
    record.budgetVersion++
    this.heap.push({ record, version: record.budgetVersion, hint: record.hint, failures: record.failures, seq: record.seq })
  }

  /** One current snapshot per record that may ever be evicted: O(n log n), amortised over the pushes since the last one. */
  private rebuild (): void {
    this.heap = new MinHeap<Snapshot>(less)
    this.parked = []
    this.reconsidered = false
    for (const r of this.host.records()) if (r.successes === 0 && Number.isNaN(r.lastConnected)) this.push(r)
  }

  /** The next stranger that came and went, scanning the book when the last scan's are used up (see the rules). */
  private nextDeparted (): PeerRecord | undefined {
    for (;;) {
      if (this.next >= this.departed.length && !this.scan()) return undefined
      const r = this.departed[this.next++]!
      if (!r.forgotten && departedStranger(r)) return r
    }
  }

  /** Lists the book's strangers that came and went, the longest gone first; false when it is too soon to look again, or none. */
  private scan (): boolean {
    if (this.sinceScan < Math.max(16, this.host.known() >> 4)) return false
    this.sinceScan = 0
    const found: PeerRecord[] = []
    for (const r of this.host.records()) if (departedStranger(r)) found.push(r)
    found.sort((a, b) => a.lastConnected - b.lastConnected)
    this.departed = found
    this.next = 0
    return found.length > 0
  }

  /** Puts the parked records back on the heap, once per `reconsider()`; false when there was nothing to do. */
  private unpark (): boolean {
    if (!this.reconsidered) return false
    this.reconsidered = false
    const parked = this.parked
    this.parked = []
    let any = false
    for (const r of parked) {
      if (r.forgotten) continue
      this.push(r)
      any = true
    }
    return any
  }
}

/**
 * May the budget forget this peer? See the rules of {@link PeerBudget}. `dialing`: true to allow a
 * peer being dialled (a false claim found out by the very dial).
 */
export function evictable (r: PeerRecord, dialing = false): boolean {
  return r.conn === undefined && (dialing || !r.dialing) && r.successes === 0 && Number.isNaN(r.lastConnected) &&
    !r.isProtected && !r.longTerm && !r.permanent && !r.bootstrap &&
    (r.priority === 'medium' || r.priority === 'low') &&
    (r.tags === undefined || r.tags.size === 0) && (r.decaying === undefined || r.decaying.size === 0)
}

/**
 * The second tier of the budget: a peer that connected before, whose last connection came to us,
 * not connected or dialled now, and that nobody vouched for (as {@link evictable} asks, but for the
 * past connection).
 */
export function departedStranger (r: PeerRecord): boolean {
  return r.conn === undefined && !r.dialing && r.inbound && !Number.isNaN(r.lastConnected) &&
    !r.isProtected && !r.longTerm && !r.permanent && !r.bootstrap &&
    (r.priority === 'medium' || r.priority === 'low') &&
    (r.tags === undefined || r.tags.size === 0) && (r.decaying === undefined || r.decaying.size === 0)
}

/** The eviction order: hints first, then the most failures, then the oldest learnt. */
function less (a: Snapshot, b: Snapshot): boolean {
  if (a.hint !== b.hint) return a.hint
  if (a.failures !== b.failures) return a.failures > b.failures
  return a.seq < b.seq
}
