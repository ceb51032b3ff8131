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
 * - `decisions`: anyone, only through `decide()` (append, keep the newest `explainDepth`).
 * - Restoring from the store (`mergeStored`) and merging two records (`mergeFields`) write the
 *   history fields of a record that is not indexed yet or is re-filed right after.
 */
export class PeerRecord implements RankKey {
  /** Map key in the peer book: the id, or '@' + first address while the id is unknown. */
  key: string
  id: PeerId | undefined
  addresses: string[] = []
  priority: Priority = 'medium'
  topics: string[] = EMPTY
  longTerm = false
  permanent = false
  bootstrap = false
  firstSeen: number
  /** Known only from hints (`PeerInput.hint`): no connection and no input of the application named it yet. */
  hint = false
  /** Addresses learnt only from hints (not given by the application nor proven by a connection). */
  hinted: Set<string> | undefined
  /** The snapshot of this record that the peer budget's heap holds as current. */
  budgetVersion = 0

  /** Static tags (tagPeer / upsertTag). */
  tags: Map<string, number> | undefined
  /** Decaying tags by name. */
  decaying: Map<string, DecayValue> | undefined
  /** Cached sum of every tag value. */
  value = 0
  protections: Set<string> | undefined
  allowed = false

  conn: ConnEntry | undefined
  /** Sampled `streams === 0 || undefined` of the connection, refreshed before each ranking. */
  idle = true
  inbound = false
  openedAt = 0

  lastConnected: number | undefined
  /** Successful connections, ever. */
  successes = 0
  /** Consecutive failed dial attempts since the last success (drives backoff). */
  failures = 0
  /** Dial attempts, ever. */
  attempts = 0
  nextDialAt: number | undefined
  /** Dialled by the manager right now. */
  dialing = false
  /** Removed from the peer book (forgotten, or merged into the record of its id): never dialled again. */
  forgotten = false
  /** Per-address outcomes: the last success time and consecutive failures, to order addresses. */
  addressStats: Map<string, { ok: number; fails: number }> | undefined

  decisions: Decision[] | undefined
  /** Position in the trim index's heap, -1 when not in it. */
  heapIndex = -1
  /** Position in the dial candidates' heap, -1 when not in it. */
  candIndex = -1
  /** The `nextDialAt` under which the candidate index holds the peer as waiting. */
  waitAt: number | undefined

  /** Creation order: the last tie-break of the dial order, so equal peers are dialled first come, first served. */
  readonly seq = nextSeq++

  constructor (key: string, id: PeerId | undefined, now: number) {
    this.key = key
    this.id = id
    this.firstSeen = now
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
    const list = this.decisions ?? (this.decisions = [])
    list.push({ at, action, reason })
    if (list.length > depth) list.splice(0, list.length - depth)
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

const EMPTY: string[] = []
let nextSeq = 0
