import type { AddressStats } from './address-stats.js'
import { DecisionLog, type Ref } from './decision-log.js'
import { RankedDecision } from './explain.js'
import type { RankKey } from './rank.js'
import type { Connection, Decision, DecisionAction, DecayValue, PeerId, PeerInfo, Priority } from './types.js'
import { clampTagValue } from './validate.js'

/** The live connection of a peer, as the manager accounts it. */
export interface ConnEntry {
  readonly conn: Connection
  readonly record: PeerRecord
  readonly openedAt: number
  /** Its place in the accounting's table (connection-table.ts); -1 once it left. Only the table writes it. */
  slot?: number
}

/**
 * Everything the manager knows about one peer. Optional collections are allocated on first use so
 * that 100,000 known peers stay cheap. The record doubles as the trim index's key: `idle`, `inbound`
 * and `openedAt` describe its connection while it has one.
 *
 * Rules — who writes which field (everyone else only reads it; after a write the writer calls the
 * verb `peerChanged`, see wiring.ts, when an index reads the field):
 * - `key`, `id`, `forgotten`, and the address index behind `addresses`: PeerBook (peer-book.ts).
 *   `addresses` and `hinted` change only through `PeerBook.addAddress`, called by PeerKnowledge and
 *   Connections (an outbound handshake proves an address); `hint` is cleared by whoever learns the
 *   application or a handshake names the peer (PeerKnowledge, Tagging, Connections).
 * - `priority`, `topics`, `longTerm`, `bootstrap`, `permanent` (cleared on forget): PeerKnowledge
 *   (peer-knowledge.ts, merge.ts); `permanent` is set by `connectNow(…, { permanent })` (manager.ts).
 * - `tags`, `protections`, `value`: Tagging (tagging.ts); `decaying`: the decaying tags
 *   (decaying-tags.ts); `value` is the sum, recomputed by `recomputeValue()`.
 * - `conn`, `inbound`, `openedAt`, `allowed`, `lastConnected`, `successes`: Connections
 *   (connections.ts), when a connection is accepted or leaves.
 * - `nextDialAt`: the DialScheduler after a failed dial (`nextDelay`), Connections after a close
 *   (`restAfterClose`), `resetBackoff` (manager.ts); `failures`, `attempts`, `dialing`,
 *   `addressStats`: the DialScheduler (dial-scheduler.ts).
 * - `idle`, `heapIndex`: the trim index; `candIndex`, `waitAt`: the dial index; `budgetVersion`:
 *   the PeerBudget. Nobody else touches them.
 * - `decisions`: anyone, only through `decide()`, `decideCode()` or `note()` (append, keep the
 *   newest `explainDepth`); `journal` (the manager's decision log): PeerBook, when it creates the record.
 * - Restoring from the store (`mergeStored`) and merging two records (`mergeFields`) write the
 *   history fields of a record that is not indexed yet or is re-filed right after.
 */
export class PeerRecord implements RankKey {
  /** Map key in the peer book: the id, or '@' + first address while the id is unknown. */
  key: string
  id: PeerId | undefined
  addresses: string[] = EMPTY
  priority: Priority = 'medium'
  topics: string[] = EMPTY
  /** When the peer was first heard of (the constructor sets it; 0 only before that): a number from the start, so V8 stores it as a double field. */
  firstSeen = 0
  /** The snapshot of this record that the peer budget's heap holds as current. */
  budgetVersion = 0
  /** Cached sum of every tag value. */
  value = 0

  conn: ConnEntry | undefined = undefined
  openedAt = 0

  /**
   * When the peer last connected; NaN when it never did (`PeerInfo` and the store say undefined). NaN,
   * not undefined: a field that starts undefined is stored tagged, and V8 boxes every timestamp
   * written to it into a new heap number (one per connection).
   */
  lastConnected = NaN
  /** Successful connections, ever. */
  successes = 0
  /** Consecutive failed dial attempts since the last success (drives backoff). */
  failures = 0
  /** Dial attempts, ever. */
  attempts = 0
  /** When the peer's backoff ends (it may be dialled from then on); NaN when it has none (a double field, as `lastConnected`). */
  nextDialAt = NaN

  /**
   * Where the peer's decisions are kept (`decisions`): the manager's log, which the record points
   * into by the index of its newest decision and their count (a `Ref`, packed into `bits` above the
   * flags: a number store).
   * A record made outside a manager writes to a shared log of its own kind (`DETACHED`).
   */
  journal: DecisionLog = DETACHED
  /** Position in the trim index's heap, -1 when not in it. */
  heapIndex = -1
  /** Position in the dial candidates' heap, -1 when not in it. */
  candIndex = -1
  /**
   * The `nextDialAt` under which the candidate index holds the peer as waiting; NaN when it does not
   * wait (NaN, not undefined, keeps this a double field: V8 would box every timestamp written to it).
   */
  waitAt = NaN

  /** Creation order: the last tie-break of the dial order, so equal peers are dialled first come, first served. */
  readonly seq = presetSeq >= 0 ? presetSeq : nextSeq++

  // A peer book holds every peer the network tells about (hundreds per node, 100,000 in a
  // simulation): the flags share one number and the collections few peers have share one
  // object, allocated on first use. The accessors below keep the fields' names and types.
  private bits = IDLE
  private more: RareFields | undefined = undefined

  constructor (key: string, id: PeerId | undefined, now: number) {
    this.key = key
    this.id = id
    this.firstSeen = now
  }

  /** A record whose creation order was taken earlier (`reserveSeq`): a peer the book kept compactly until now. */
  static withSeq (key: string, id: PeerId | undefined, now: number, seq: number): PeerRecord {
    presetSeq = seq
    try {
      return new PeerRecord(key, id, now)
    } finally {
      presetSeq = -1
    }
  }

  get longTerm (): boolean { return (this.bits & LONG_TERM) !== 0 }
  set longTerm (v: boolean) { this.bits = v ? this.bits | LONG_TERM : this.bits & ~LONG_TERM }
  get permanent (): boolean { return (this.bits & PERMANENT) !== 0 }
  set permanent (v: boolean) { this.bits = v ? this.bits | PERMANENT : this.bits & ~PERMANENT }
  get bootstrap (): boolean { return (this.bits & BOOTSTRAP) !== 0 }
  set bootstrap (v: boolean) { this.bits = v ? this.bits | BOOTSTRAP : this.bits & ~BOOTSTRAP }
  /** Known only from hints (`PeerInput.hint`): no connection and no input of the application named it yet. */
  get hint (): boolean { return (this.bits & HINT) !== 0 }
  set hint (v: boolean) { this.bits = v ? this.bits | HINT : this.bits & ~HINT }
  get allowed (): boolean { return (this.bits & ALLOWED) !== 0 }
  set allowed (v: boolean) { this.bits = v ? this.bits | ALLOWED : this.bits & ~ALLOWED }
  /** Sampled `streams === 0 || undefined` of the connection, refreshed before each ranking. */
  get idle (): boolean { return (this.bits & IDLE) !== 0 }
  set idle (v: boolean) { this.bits = v ? this.bits | IDLE : this.bits & ~IDLE }
  get inbound (): boolean { return (this.bits & INBOUND) !== 0 }
  set inbound (v: boolean) { this.bits = v ? this.bits | INBOUND : this.bits & ~INBOUND }
  /** Dialled by the manager right now. */
  get dialing (): boolean { return (this.bits & DIALING) !== 0 }
  set dialing (v: boolean) { this.bits = v ? this.bits | DIALING : this.bits & ~DIALING }
  /** Removed from the peer book (forgotten, or merged into the record of its id): never dialled again. */
  get forgotten (): boolean { return (this.bits & FORGOTTEN) !== 0 }
  /** Set when the book lets the record go: its decisions are freed then (read them first to keep them). */
  set forgotten (v: boolean) {
    if (v) this.release()
    this.bits = v ? this.bits | FORGOTTEN : this.bits & ~FORGOTTEN
  }

  /** Addresses learnt only from hints (not given by the application nor proven by a connection). */
  get hinted (): Set<string> | undefined { return this.more?.hinted }
  set hinted (v: Set<string> | undefined) { this.rare(v).hinted = v }
  /** Static tags (tagPeer / upsertTag). */
  get tags (): Map<string, number> | undefined { return this.more?.tags }
  set tags (v: Map<string, number> | undefined) { this.rare(v).tags = v }
  /** Decaying tags by name. */
  get decaying (): Map<string, DecayValue> | undefined { return this.more?.decaying }
  set decaying (v: Map<string, DecayValue> | undefined) { this.rare(v).decaying = v }
  get protections (): Set<string> | undefined { return this.more?.protections }
  set protections (v: Set<string> | undefined) { this.rare(v).protections = v }
  /** Per-address outcomes: the last success time and consecutive failures, to order addresses. */
  get addressStats (): AddressStats | undefined { return this.more?.addressStats }
  set addressStats (v: AddressStats | undefined) { this.rare(v).addressStats = v }

  /** The holder of the rare collections; a write of `undefined` where none exists allocates nothing. */
  private rare (v: unknown): RareFields {
    if (this.more !== undefined) return this.more
    if (v === undefined) return SCRATCH
    return (this.more = new RareFields())
  }

  /** The newest decisions, oldest first (at most `explainDepth`), each a fresh object; undefined when none. */
  get decisions (): Decision[] | undefined {
    return this.journal.read(this.ref, this.seq)
  }

  /** Replaces the decisions by `v` (each kept with its reason as a text). */
  set decisions (v: Decision[] | undefined) {
    this.release()
    if (v !== undefined) for (const d of v) this.decide(d.at, d.action, d.reason, v.length)
  }

  /** Where the decisions are in `journal` (its `Ref`: the newest's index and the count), 0 when none. */
  private get ref (): Ref { return this.bits >> REF_SHIFT }
  private set ref (r: Ref) { this.bits = (this.bits & FLAGS) | (r << REF_SHIFT) }

  /** Frees the decisions (a forgotten record keeps none). */
  private release (): void {
    if (this.ref === 0) return
    this.journal.release(this.ref, this.seq)
    this.ref = 0
  }

  get isProtected (): boolean { return this.protections !== undefined && this.protections.size > 0 }

  /** Recomputes the cached tag sum, clamped to ±TAG_VALUE_BOUND (each tag value already is). */
  recomputeValue (): void {
    let v = 0
    if (this.tags !== undefined) for (const x of this.tags.values()) v += x
    if (this.decaying !== undefined) for (const d of this.decaying.values()) v += d.value
    this.value = clampTagValue(v)
  }

  /** Appends a decision, keeping the newest `depth`. */
  decide (at: number, action: DecisionAction, reason: string, depth: number): void {
    this.ref = this.journal.textual(this.ref, this.seq, depth, at, action, reason)
  }

  /**
   * Appends a decision whose reason is written when read: `code` from `reasonCode` (decision-log.ts),
   * whose format reads `a`, `b`, `c` and `text`. Keeps the newest `depth`.
   */
  decideCode (at: number, action: DecisionAction, depth: number, code: number, a: number, b = 0, c = 0, text?: string): void {
    this.ref = this.journal.coded(this.ref, this.seq, depth, at, action, code, a, b, c, text)
  }

  /** Appends a decision made elsewhere (a close for the peer's rank is kept as numbers: explain.ts), keeping the newest `depth`. */
  note (d: Decision, depth: number): void {
    if (d instanceof RankedDecision) this.ref = d.writeTo(this.journal, this.ref, this.seq, depth)
    else this.decide(d.at, d.action, d.reason, depth)
  }

  info (): PeerInfo {
    return {
      id: this.id,
      addresses: this.addresses.slice(),
      priority: this.priority,
      topics: this.topics.slice(),
      longTerm: this.longTerm,
      bootstrap: this.bootstrap,
      connected: this.conn !== undefined,
      protected: this.isProtected || this.permanent,
      value: this.value,
      lastConnected: timeOrUndefined(this.lastConnected),
      failures: this.failures,
      nextDialAt: timeOrUndefined(this.nextDialAt)
    }
  }

  /** True when `streams` says the connection is idle now. */
  static sampleIdle (conn: Connection): boolean {
    const s = conn.streams
    return s === undefined || s === 0
  }
}

/** The collections few peers have (see `PeerRecord`). */
class RareFields {
  hinted: Set<string> | undefined = undefined
  tags: Map<string, number> | undefined = undefined
  decaying: Map<string, DecayValue> | undefined = undefined
  protections: Set<string> | undefined = undefined
  addressStats: AddressStats | undefined = undefined
}

/** Takes writes of `undefined` to a record without rare fields (nothing to keep). */
const SCRATCH = new RareFields()
const LONG_TERM = 1
const PERMANENT = 2
const BOOTSTRAP = 4
const HINT = 8
const ALLOWED = 16
const IDLE = 32
const INBOUND = 64
const DIALING = 128
const FORGOTTEN = 256
/** The flags' bits; above them, `bits` holds the decisions' `Ref` (decision-log.ts). */
const FLAGS = 511
const REF_SHIFT = 9
/** The log of records made outside a manager (tests, benchmarks). */
const DETACHED = new DecisionLog(1 << 16)
const EMPTY: string[] = []
let nextSeq = 0
/** The creation order `PeerRecord.withSeq` hands the constructor; -1 when none. */
let presetSeq = -1

/** A record's time field (`lastConnected`, `nextDialAt`) as the outside sees it: undefined for NaN (none). */
export function timeOrUndefined (t: number): number | undefined {
  return Number.isNaN(t) ? undefined : t
}

/** Takes the next creation order for a record created later (`PeerRecord.withSeq`). */
export function reserveSeq (): number {
  return nextSeq++
}
