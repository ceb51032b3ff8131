import type { RankKey } from './rank.js'
import type { Connection, Decision, DecisionAction, DecayValue, PeerId, PeerInfo, Priority } from './types.js'
import { clampTagValue } from './validate.js'

/** The live connection of a peer, as the manager accounts it. */
export interface ConnEntry {
  readonly conn: Connection
  readonly record: PeerRecord
  readonly openedAt: number
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
 * - `decisions`: anyone, only through `decide()` or `note()` (append, keep the newest `explainDepth`).
 * - Restoring from the store (`mergeStored`) and merging two records (`mergeFields`) write the
 *   history fields of a record that is not indexed yet or is re-filed right after.
 */
export class PeerRecord implements RankKey {
  /** Map key in the peer book: the id, or '@' + first address while the id is unknown. */
  key: string
  addresses: string[] = EMPTY
  topics: string[] = EMPTY
  firstSeen: number
  /** The snapshot of this record that the peer budget's heap holds as current. */
  budgetVersion = 0
  /** Position in the dial candidates' heap, -1 when not in it. */
  candIndex = -1

  /** Creation order: the last tie-break of the dial order, so equal peers are dialled first come, first served. */
  readonly seq = nextSeq++

  // A peer book holds every peer the network tells about (hundreds per node, 100,000 in a
  // simulation): the flags, the priority and whether the key is the id share one number, the collections few peers have share one object,
  // and what only a peer that was dialled, connected or tagged has (its history, its connection,
  // its decisions) shares another; each is allocated on first use — most known peers never get
  // one. The accessors below keep the fields' names and types. A view of a record
  // (`Object.create(record)`, connections.ts) may write flags and plain fields, never these.
  private bits = IDLE
  private more: RareFields | undefined = undefined
  private act: Activity | undefined = undefined

  /** `id`, when given, is the key too (see `id`). */
  constructor (key: string, id: PeerId | undefined, now: number) {
    this.key = key
    if (id !== undefined) this.id = id
    this.firstSeen = now
  }

  /** The peer's id once known; it is then the record's key too (writing an id writes the key). */
  get id (): PeerId | undefined { return (this.bits & HAS_ID) !== 0 ? this.key : undefined }
  set id (v: PeerId | undefined) {
    if (v === undefined) { this.bits &= ~HAS_ID; return }
    this.key = v
    this.bits |= HAS_ID
  }

  get priority (): Priority { return PRIORITIES[(this.bits & PRIORITY) >> PRIORITY_SHIFT] }
  set priority (v: Priority) { this.bits = (this.bits & ~PRIORITY) | (priorityCode(v) << PRIORITY_SHIFT) }

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
  set forgotten (v: boolean) { this.bits = v ? this.bits | FORGOTTEN : this.bits & ~FORGOTTEN }

  /** Cached sum of every tag value. */
  get value (): number { return this.act === undefined ? 0 : this.act.value }
  set value (v: number) { if (this.act !== undefined || v !== 0) this.active().value = v }
  get conn (): ConnEntry | undefined { return this.act?.conn }
  set conn (v: ConnEntry | undefined) { if (this.act !== undefined || v !== undefined) this.active().conn = v }
  get openedAt (): number { return this.act === undefined ? 0 : this.act.openedAt }
  set openedAt (v: number) { if (this.act !== undefined || v !== 0) this.active().openedAt = v }
  get lastConnected (): number | undefined { return this.act?.lastConnected }
  set lastConnected (v: number | undefined) { if (this.act !== undefined || v !== undefined) this.active().lastConnected = v }
  /** Successful connections, ever. */
  get successes (): number { return this.act === undefined ? 0 : this.act.successes }
  set successes (v: number) { if (this.act !== undefined || !Object.is(v, 0)) this.active().successes = v }
  /** Consecutive failed dial attempts since the last success (drives backoff). */
  get failures (): number { return this.act === undefined ? 0 : this.act.failures }
  set failures (v: number) { if (this.act !== undefined || !Object.is(v, 0)) this.active().failures = v }
  /** Dial attempts, ever. */
  get attempts (): number { return this.act === undefined ? 0 : this.act.attempts }
  set attempts (v: number) { if (this.act !== undefined || !Object.is(v, 0)) this.active().attempts = v }
  get nextDialAt (): number | undefined { return this.act?.nextDialAt }
  set nextDialAt (v: number | undefined) { if (this.act !== undefined || v !== undefined) this.active().nextDialAt = v }
  get decisions (): Decision[] | undefined { return this.act?.decisions }
  set decisions (v: Decision[] | undefined) { if (this.act !== undefined || v !== undefined) this.active().decisions = v }
  /** Position in the trim index's heap, -1 when not in it. */
  get heapIndex (): number { return this.act === undefined ? -1 : this.act.heapIndex }
  set heapIndex (v: number) { if (this.act !== undefined || v !== -1) this.active().heapIndex = v }
  /** The `nextDialAt` under which the candidate index holds the peer as waiting. */
  get waitAt (): number | undefined { return this.act?.waitAt }
  set waitAt (v: number | undefined) { if (this.act !== undefined || v !== undefined) this.active().waitAt = v }

  private active (): Activity {
    return this.act ?? (this.act = new Activity())
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
  get addressStats (): Map<string, { ok: number; fails: number }> | undefined { return this.more?.addressStats }
  set addressStats (v: Map<string, { ok: number; fails: number }> | undefined) { this.rare(v).addressStats = v }

  /** The holder of the rare collections; a write of `undefined` where none exists allocates nothing. */
  private rare (v: unknown): RareFields {
    if (this.more !== undefined) return this.more
    if (v === undefined) return SCRATCH
    return (this.more = new RareFields())
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
    this.note({ at, action, reason }, depth)
  }

  /** Appends a decision made elsewhere (one whose reason is written when read: explain.ts), keeping the newest `depth`. */
  note (d: Decision, depth: number): void {
    const list = this.decisions
    // Most peers hear one or two decisions (a dial, its backoff): arrays of their exact size, since
    // a push onto a small array reserves room for 16 more (~150 B on each of 100,000 records).
    if (list === undefined || list.length === 0) this.decisions = [d]
    else if (list.length === 1 && depth >= 2) this.decisions = [list[0], d]
    else {
      list.push(d)
      if (list.length > depth) list.splice(0, list.length - depth)
    }
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
      lastConnected: this.lastConnected,
      failures: this.failures,
      nextDialAt: this.nextDialAt
    }
  }

  /** True when `streams` says the connection is idle now. */
  static sampleIdle (conn: Connection): boolean {
    const s = conn.streams
    return s === undefined || s === 0
  }
}

/** What a peer that was dialled, connected or tagged has (see `PeerRecord`): the defaults of a record without. */
class Activity {
  value = 0
  conn: ConnEntry | undefined = undefined
  openedAt = 0
  lastConnected: number | undefined = undefined
  successes = 0
  failures = 0
  attempts = 0
  nextDialAt: number | undefined = undefined
  decisions: Decision[] | undefined = undefined
  heapIndex = -1
  waitAt: number | undefined = undefined
}

/** The collections few peers have (see `PeerRecord`). */
class RareFields {
  hinted: Set<string> | undefined = undefined
  tags: Map<string, number> | undefined = undefined
  decaying: Map<string, DecayValue> | undefined = undefined
  protections: Set<string> | undefined = undefined
  addressStats: Map<string, { ok: number; fails: number }> | undefined = undefined
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
const HAS_ID = 512
/** Two bits of `bits` hold the priority, as its index in PRIORITIES. */
const PRIORITY_SHIFT = 10
const PRIORITY = 3 << PRIORITY_SHIFT
const PRIORITIES: readonly Priority[] = ['medium', 'low', 'high', 'banned']

function priorityCode (p: Priority): number {
  switch (p) {
    case 'medium': return 0
    case 'low': return 1
    case 'high': return 2
    case 'banned': return 3
    default: throw new TypeError(`not a priority: ${String(p)}`)
  }
}
const EMPTY: string[] = []
let nextSeq = 0
