import { Alarm } from '../clock.js'
import { CompactRow, SAVE_ROWS, type RowStore } from './compact-row.js'
import { PeerRecord, timeOrUndefined } from './peer-record.js'
import { setOwn } from './tagging.js'
import type { Clock, PeerStore, StoredPeer } from './types.js'
import { clampTagValue } from './validate.js'

/**
 * Writes changed peers to the PeerStore in batches.
 *
 * Rules:
 * - `touch(record)` only marks the record (a Set insert): no write happens on the hot path. A peer
 *   known only from hints (`PeerRecord.hint`) is not written.
 * - One shared timer flushes every marked record as one batch, at most once per `interval`,
 *   and only when something changed; `flush()` does it at once (stop/close).
 * - What is stored: addresses, priority, topics, long-term/permanent/bootstrap flags, static tags,
 *   and the history the dial order uses (last connected, successes, failures, next dial time).
 *   Protections, decaying tags and live connections are runtime state and are not stored.
 */
export class Persistence {
  /**
   * Records, and the numbers of peers a book keeps compactly (`touchCompact`), in the order they
   * were marked. A record counts at the place `marked` gives it (marked again, it keeps its place; removed
   * and marked again, it takes a new one: a Set's order); a number at its first place (a number marked
   * twice writes the same row twice). An array, not a Set: a large simulation marks hundreds of
   * thousands of keys a virtual second.
   */
  private dirty: Array<PeerRecord | number> = []
  private readonly marked = new Map<PeerRecord, number>()
  /** Keys whose rows go; made on the first (most batches remove nothing). */
  private removed: Set<string> | undefined = undefined
  /** Rows that hold no peer (the run-time deny list's: deny-control.ts), written with the next batch; made on the first. */
  private rows: Map<string, StoredPeer> | undefined = undefined
  private readonly alarm: Alarm
  private writing: Promise<void> = Promise.resolve()

  /**
   * `compact` (with a book that keeps peers compactly): the row of a number marked by `touchCompact`,
   * when the flush writes it — the peer's record if it has one by then, else its row as a compact peer;
   * undefined when the peer is gone.
   */
  constructor (
    readonly store: PeerStore,
    clock: Clock,
    private readonly interval: number,
    private readonly onError: (err: Error) => void,
    private readonly compact?: (index: number) => PeerRecord | CompactRow | undefined
  ) {
    this.alarm = new Alarm(clock, () => { void this.flush() })
  }

  touch (record: PeerRecord): void {
    // A peer known only from hints is a third party's claim: not worth a row until it proves itself.
    // A merged-away or forgotten record has no row to write.
    if (record.hint || record.forgotten || this.marked.has(record)) return
    this.marked.set(record, this.dirty.length)
    this.dirty.push(record)
    this.arm()
  }

  /** Marks the row of the peer numbered `index`, which the book keeps compactly (it has no record to touch); written as `touch` would. */
  touchCompact (index: number): void {
    this.dirty.push(index)
    this.arm()
  }

  /** Writes `row` (a row that holds no peer) with the next batch. */
  put (row: StoredPeer): void {
    ;(this.rows ??= new Map()).set(row.key, row)
    this.removed?.delete(row.key)
    this.arm()
  }

  remove (key: string, record?: PeerRecord): void {
    if (record !== undefined) this.marked.delete(record)
    this.rows?.delete(key)
    ;(this.removed ??= new Set()).add(key)
    this.arm()
  }

  /** A record re-filed under a new key (its id became known): the old row goes. */
  rekeyed (oldKey: string, record: PeerRecord): void {
    ;(this.removed ??= new Set()).add(oldKey)
    this.touch(record)
  }

  /** Writes everything marked, as one batch. */
  async flush (): Promise<void> {
    this.alarm.cancel()
    const peers: Array<StoredPeer | CompactRow> = []
    let compactRows = false
    const { dirty, marked } = this
    for (let i = 0; i < dirty.length; i++) {
      const x = dirty[i]
      if (typeof x !== 'number') {
        if (marked.get(x) === i) peers.push(toStored(x))
        continue
      }
      const row = this.compact?.(x)
      if (row === undefined) continue
      if (!(row instanceof PeerRecord)) { peers.push(row); compactRows = true } else if (!row.hint && !row.forgotten) peers.push(toStored(row))
    }
    if (this.rows !== undefined) {
      for (const row of this.rows.values()) peers.push(row)
      this.rows = undefined
    }
    const removed = this.removed === undefined ? NO_KEYS : [...this.removed].filter((k) => !peers.some((p) => p.key === k))
    this.dirty = []
    this.marked.clear()
    this.removed = undefined
    // Batches are written one after the other, in order.
    this.writing = this.writing.then(async () => {
      if (removed.length > 0) this.store.delete(removed)
      if (peers.length > 0) save(this.store, peers, compactRows)
      await this.store.flush()
    }).catch((err) => { this.onError(err as Error) })
    await this.writing
  }

  cancel (): void {
    this.alarm.cancel()
  }

  private arm (): void {
    if (!this.alarm.armed) this.alarm.wakeIn(this.interval)
  }
}

/** The keys of a batch that removes nothing (shared, never written). */
const NO_KEYS: string[] = []

function save (store: PeerStore, peers: Array<StoredPeer | CompactRow>, compactRows: boolean): void {
  if (!compactRows) { store.save(peers as StoredPeer[]); return }
  const rows = (store as Partial<RowStore>)[SAVE_ROWS]
  if (typeof rows === 'function') rows.call(store, peers)
  else store.save(peers.map((p) => p instanceof CompactRow ? p.stored() : p))
}

export function toStored (r: PeerRecord): StoredPeer {
  const tags: Record<string, number> = {}
  if (r.tags !== undefined) for (const [k, v] of r.tags) setOwn(tags, k, v)
  return {
    key: r.key,
    id: r.id,
    addresses: r.addresses.slice(),
    priority: r.priority,
    topics: r.topics.slice(),
    longTerm: r.longTerm,
    permanent: r.permanent,
    bootstrap: r.bootstrap,
    tags,
    lastConnected: timeOrUndefined(r.lastConnected),
    successes: r.successes,
    failures: r.failures,
    nextDialAt: timeOrUndefined(r.nextDialAt),
    firstSeen: r.firstSeen
  }
}

/**
 * Folds a stored peer into a record that may already hold fresher knowledge: flags are or-ed, counters
 * and the last connection take the larger value, live tags win over stored ones, and a pending
 * backoff is kept. Addresses, topics and priority are applied by the caller (they have side effects).
 */
export function mergeStored (record: PeerRecord, p: StoredPeer): void {
  record.longTerm ||= p.longTerm === true
  record.permanent ||= p.permanent === true
  record.bootstrap ||= p.bootstrap === true
  if (p.tags !== undefined) for (const [k, v] of Object.entries(p.tags)) if (record.tags?.has(k) !== true && Number.isFinite(v)) (record.tags ??= new Map()).set(k, clampTagValue(v))
  record.recomputeValue()
  // Only numbers reach the record's time fields (a store of the application's may hand anything; a
  // field written anything else would be stored tagged from then on, every timestamp boxed).
  const lastConnected = typeof p.lastConnected === 'number' ? p.lastConnected : NaN
  if (lastConnected > record.lastConnected || Number.isNaN(record.lastConnected)) record.lastConnected = lastConnected
  record.successes = Math.max(record.successes, p.successes ?? 0)
  record.failures = Math.max(record.failures, p.failures ?? 0)
  if (typeof p.nextDialAt === 'number' && Number.isNaN(record.nextDialAt)) record.nextDialAt = p.nextDialAt
}
