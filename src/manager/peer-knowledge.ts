import ipaddr from 'ipaddr.js'
import { PeerwardenError } from '../errors.js'
import type { DialScheduler } from './dial-scheduler.js'
import type { PeerBook } from './peer-book.js'
import { mergeFields, mergePriority, mergeTopics } from './merge.js'
import { mergeStored, type Persistence } from './persistence.js'
import type { ConnEntry, PeerRecord } from './peer-record.js'
import type { TopicCounts } from './topics.js'
import type { Clock, Connection, ConnectionManagerOptions, PeerId, PeerInput, Priority, StoredPeer } from './types.js'
import * as check from './validate.js'

/** What the knowledge of peers needs from the manager. */
export interface PeerKnowledgeHost {
  readonly clock: Clock
  readonly book: PeerBook
  readonly topics: TopicCounts
  readonly persist: Persistence | undefined
  readonly dialer: Pick<DialScheduler, 'remove'>
  /** The application's `prioritise` hook, if any. */
  readonly hook: ConnectionManagerOptions['prioritise']
  explainDepth(): number
  /** The verb: anything about the peer changed; re-files it wherever it is indexed (trimming, dialing). */
  peerChanged(record: PeerRecord): void
  /** A peer's priority changed (the 'peer:priority' event). */
  prioritised(peer: PeerId | string, priority: Priority): void
  /** A connected peer was banned: its connection closes. */
  banned(entry: ConnEntry): void
  /** The peer of a live connection that came from exactly `address`, if any. */
  connectedFrom(address: string): PeerId | undefined
  /** The peer is forgotten: its runtime scores (tags, decaying tags, protections) go. */
  forgotten(record: PeerRecord): void
  /** Keeps the count of known peers within `maxPeers` (called between the inputs of `add`). */
  enforceBudget(): void
  /** `from` is about to be merged into `into`: runtime state other parts own (protections, decaying tags) follows. */
  absorbed(into: PeerRecord, from: PeerRecord): void
  /** The application's hook threw (or answered nonsense): the hook's error, reported, never thrown. */
  hookFailed(hook: 'prioritise', peer: PeerId | string, error: Error): void
  /**
   * May the book keep this peer compactly (peer-book.ts, "compact peers") if it is told of nothing
   * but its id and own address? Only where a record that holds nothing else would be looked at by
   * nobody but the dialer: no deny list, no `maxPeers` eviction under way, not the local peer.
   * Undefined: never.
   */
  compactAllowed?(id: PeerId): boolean
}

/** The topics of a peer that serves none, shared (never changed in place: `setTopics` replaces the list). */
const NO_TOPICS: string[] = []

const PRIORITIES: readonly unknown[] = ['high', 'medium', 'low', 'banned']

/** A hint adds at most this many addresses to one peer. */
export const MAX_HINTED_ADDRESSES = 8

/**
 * What the manager knows about peers, and the rules for changing it: who they are (one record per
 * peer, found by id or by address), their priority, long-term flag, topics, and what the store
 * remembered. The records live in the `PeerBook`; this part decides how they merge and change.
 *
 * Rules:
 * - A peer known by address only becomes known by id once a connection or `addPeers` says whose
 *   address it is; if a record with that id exists, the two become one by the merge rule (merge.ts:
 *   the stronger setting wins, a ban over anything).
 * - Priorities: 'banned' closes the peer's connection at once and is never dialled; the `prioritise`
 *   hook is asked when a peer is first added and whenever it connects; its answer wins over what it
 *   replaces. A hook that throws or answers something that is no priority leaves the priority as it
 *   was; its error is reported ('hook:error'), never thrown at the caller. A stored priority is restored only over the default ('medium').
 * - Forgetting a connected peer forgets what we knew, not the connection: it stays accounted.
 * - Hints (`PeerInput.hint`) only add: see the rules at `PeerInput.hint` (types.ts).
 */
export class PeerKnowledge {
  private bannedPeers = 0
  /** Errors of the application's hooks (`prioritise`, and `accepted` counted by Connections), since creation (`stats().hookErrors`). */
  hookErrors = 0

  constructor (private readonly host: PeerKnowledgeHost) {}

  /** How many peers are banned now. */
  get bannedCount (): number { return this.bannedPeers }

  add (peers: PeerInput[]): void {
    if (!Array.isArray(peers)) throw PeerwardenError.invalid('peers must be an array')
    for (let i = 0; i < peers.length; i++) check.peerInput(peers[i], i)
    const { clock } = this.host
    const now = clock.now()
    for (const input of peers) {
      if (input.hint === true) this.addHint(input, now)
      else this.addInput(input, now)
      this.host.enforceBudget()
    }
  }

  /** What a third party told us: it may add, never take away (types.ts, `PeerInput.hint`). */
  private addHint (input: PeerInput, now: number): void {
    const { book } = this.host
    const addresses = [...new Set([...(input.address !== undefined ? [input.address] : []), ...(input.addresses ?? [])])]
    let record = input.id !== undefined ? book.get(input.id) : addresses.map((a) => book.byAddress(a)).find((r) => r !== undefined)
    // An address another peer holds stays with it, whoever the hint says it belongs to.
    const free = addresses.filter((a) => book.byAddress(a) === undefined)
    let created = false
    if (record === undefined) {
      if (free.length === 0) return // nothing new: no address, or every one belongs to another peer
      record = input.id !== undefined ? book.getOrCreate(input.id, now, true).record : book.createForAddress(free[0], now, true)
      created = true
    }
    for (const a of free) {
      if (record.addresses.includes(a)) { (record.hinted ??= new Set()).add(a); continue }
      if ((record.hinted?.size ?? 0) >= MAX_HINTED_ADDRESSES) break
      book.addAddress(record, a)
      ;(record.hinted ??= new Set()).add(a)
    }
    if (input.topics !== undefined && input.topics.some((t) => !record.topics.includes(t))) this.setTopics(record, [...record.topics, ...input.topics])
    if (created) this.consultHook(record, 'added')
    this.host.peerChanged(record)
    this.host.persist?.touch(record)
  }

  private addInput (input: PeerInput, now: number): void {
    if (this.addCompact(input, now)) return
    const { book } = this.host
    const addresses = [...(input.address !== undefined ? [input.address] : []), ...(input.addresses ?? [])]
    let record: PeerRecord
    let created = false
    if (input.id !== undefined) {
      ({ record, created } = book.getOrCreate(input.id, now))
      for (const a of addresses) {
        const owner = book.byAddress(a)
        if (owner !== undefined && owner.id === undefined && owner !== record) record = this.assignId(owner, input.id)
      }
    } else {
      const known = addresses.map((a) => book.byAddress(a)).find((r) => r !== undefined)
      created = known === undefined
      record = known ?? book.createForAddress(addresses[0], now)
    }
    // The application names the peer: no longer a mere hint, and its addresses are facts.
    record.hint = false
    book.addAddresses(record, addresses)
    const hinted = record.hinted
    if (hinted !== undefined) for (const a of addresses) hinted.delete(a)
    if (input.topics !== undefined) this.setTopics(record, input.topics)
    if (input.longTerm !== undefined) record.longTerm = input.longTerm
    if (input.bootstrap !== undefined) record.bootstrap = input.bootstrap
    if (input.priority !== undefined) this.applyPriority(record, input.priority, 'given by addPeers')
    if (created) this.consultHook(record, 'added')
    this.host.peerChanged(record)
    this.host.persist?.touch(record)
  }

  /**
   * A peer told by its id and its own address only, kept compactly by the book (or already so): what
   * `addInput` does to a record that holds nothing else, with no record — it files it as a dialable
   * peer (the dialer walks the book's compact peers beside its index), and marks its row for the store.
   * False when the input or the manager asks for the full path.
   */
  private addCompact (input: PeerInput, now: number): boolean {
    if (input.id === undefined || input.topics !== undefined || input.longTerm !== undefined || input.bootstrap !== undefined ||
      input.priority !== undefined || this.host.hook !== undefined || this.host.compactAllowed?.(input.id) !== true) return false
    const list = input.addresses
    const address = input.address !== undefined
      ? (list === undefined || list.length === 0 ? input.address : undefined)
      : (list !== undefined && list.length === 1 ? list[0] : undefined)
    if (address === undefined) return false
    const { book } = this.host
    const index = book.compactIndex(input.id, address)
    if (index < 0) return false
    // A peer kept compactly already has its row written (or marked): the same id, own address and
    // first-seen time, nothing else — writing it again would store the same row.
    if (book.isCompact(index)) return true
    book.addCompact(index, now)
    this.host.persist?.touchCompact(index)
    return true
  }

  setPriority (updates: Array<{ peer: PeerId | string; priority: Priority }>): void {
    check.priorityUpdates(updates)
    for (const { peer, priority } of updates) {
      const record = this.resolveOrCreate(peer)
      this.applyPriority(record, priority, 'set by setPriority')
      // A ban by the address a live connection came from (an inbound one's: no record holds it) bans
      // that connection's peer now, as it would the next connection from there.
      const live = priority === 'banned' && record.id === undefined ? this.host.connectedFrom(peer) : undefined
      if (live !== undefined) this.assignId(record, live)
    }
  }

  setLongTerm (peer: PeerId, longTerm: boolean): void {
    check.nonEmptyString('peer', peer)
    if (typeof longTerm !== 'boolean') throw PeerwardenError.invalid('longTerm must be a boolean')
    const record = this.resolveOrCreate(peer)
    record.longTerm = longTerm
    this.host.persist?.touch(record)
    this.host.peerChanged(record)
  }

  /** Forgets the peer; returns false when it was unknown. */
  forget (peer: PeerId): boolean {
    check.nonEmptyString('peer', peer)
    const record = this.host.book.resolve(peer)
    if (record === undefined) return false
    this.forgetRecord(record)
    return true
  }

  /** Forgets what we know of the record (a connected peer keeps its connection, accounted). */
  forgetRecord (record: PeerRecord): void {
    const { book, persist } = this.host
    this.host.forgotten(record)
    if (record.priority === 'banned') this.bannedPeers--
    this.setTopics(record, [])
    if (record.conn === undefined) {
      book.delete(record)
      // A peer known only from hints was never written.
      if (!record.hint) persist?.remove(record.key, record)
      this.host.dialer.remove(record)
      return
    }
    record.priority = 'medium'
    record.longTerm = record.permanent = record.bootstrap = false
    this.host.peerChanged(record)
    persist?.touch(record)
  }

  /** Brings back the peers the store remembers (their history orders the first dials). */
  /** Brings stored peers back; returns why each peer it could not take was skipped (a store of the application's may hand anything). */
  restore (stored: readonly StoredPeer[]): string[] {
    const skipped: string[] = []
    for (const p of stored) {
      try {
        this.restoreOne(p)
      } catch (err) {
        skipped.push(`${JSON.stringify((p as { key?: unknown } | null)?.key ?? null)?.slice(0, 80)}: ${(err as Error)?.message ?? String(err)}`)
      }
    }
    return skipped
  }

  private restoreOne (p: StoredPeer): void {
    const { book, clock } = this.host
    {
      if (p == null || typeof p !== 'object' || !Array.isArray(p.addresses)) throw new TypeError('not a stored peer')
      if (p.priority !== undefined && !PRIORITIES.includes(p.priority)) throw new TypeError(`not a priority: ${JSON.stringify(p.priority)?.slice(0, 40)}`)
      let record: PeerRecord
      if (p.id !== undefined) record = book.getOrCreate(p.id, p.firstSeen ?? clock.now()).record
      else if (p.addresses.length > 0) record = book.byAddress(p.addresses[0]) ?? book.createForAddress(p.addresses[0], p.firstSeen ?? clock.now())
      else return
      book.addAddresses(record, p.addresses)
      if (record.conn === undefined) this.setTopics(record, p.topics ?? [])
      mergeStored(record, p)
      if (p.priority !== undefined && p.priority !== 'medium' && record.priority === 'medium') this.applyPriority(record, p.priority, 'restored from the store')
      this.consultHook(record, 'added')
      this.host.peerChanged(record)
    }
  }

  /** The peer's record by id, made if unknown. The application names it: it is no mere hint any more. */
  record (peer: PeerId): PeerRecord {
    const { record } = this.host.book.getOrCreate(peer, this.host.clock.now())
    record.hint = false
    return record
  }

  /** The record of a peer id or an address, made if unknown. The application names it: it is no mere hint any more. */
  resolveOrCreate (peerOrAddress: string): PeerRecord {
    const found = this.host.book.resolve(peerOrAddress)
    if (found !== undefined) {
      found.hint = false
      return found
    }
    return isAddress(peerOrAddress) ? this.host.book.createForAddress(peerOrAddress, this.host.clock.now()) : this.record(peerOrAddress)
  }

  /** The record a new connection belongs to; the `prioritise` hook is asked about it. */
  forConnection (conn: Connection, now: number): PeerRecord {
    const record = this.recordForConnection(conn, now)
    this.consultHook(record, 'connected')
    return record
  }

  /**
   * The records a connection from `peer` at `address` resolves to, changing nothing: the record known
   * by that address only (`byAddress`), which `connected()` merges into the peer's own record (`own`)
   * or files under the id; else the peer's own. `connected()` and `admits()` both read this.
   */
  lookup (peer: PeerId, address: string | undefined): { byAddress: PeerRecord | undefined; own: PeerRecord | undefined } {
    const { book } = this.host
    const owner = address !== undefined ? book.byAddress(address) : undefined
    return { byAddress: owner !== undefined && owner.id === undefined ? owner : undefined, own: book.get(peer) }
  }

  private recordForConnection (conn: Connection, now: number): PeerRecord {
    // A peer we knew by address only (say, dialled by address) learns its id here; if a record with
    // that id appeared meanwhile (an inbound connection, peer exchange), the two become one.
    const { byAddress, own } = this.lookup(conn.peer, conn.address)
    if (byAddress !== undefined) return this.assignId(byAddress, conn.peer)
    return own ?? this.host.book.create(conn.peer, now) // just looked up: no second lookup
  }

  /** Files an address-only record under its id, merging it into the id's record if there is one, and tells the store. */
  private assignId (record: PeerRecord, id: PeerId): PeerRecord {
    const { book, dialer, persist } = this.host
    const oldKey = record.key
    const names = record.addresses.join(', ') || oldKey
    const existing = book.get(id)
    const merged = existing !== undefined && existing !== record ? this.merge(existing, record) : undefined
    const result = book.assignId(record, id)
    if (result !== record) {
      dialer.remove(record)
      this.host.peerChanged(result)
    }
    if (merged !== undefined && merged !== result.priority) this.applyPriority(result, merged, `merged with the record of ${names}`)
    if (persist !== undefined && result !== record) {
      // The absorbed record's row goes (and it must not be written again under its old key).
      persist.remove(oldKey, record)
      persist.touch(result)
    } else if (persist !== undefined && result.key !== oldKey) persist.rekeyed(oldKey, result)
    return result
  }

  /**
   * Folds `from` (known by address only) into `into` by the merge rule (merge.ts), except the
   * priority, which it returns for the caller to apply once the records are one (a ban closes a
   * connection, and counts once).
   */
  private merge (into: PeerRecord, from: PeerRecord): Priority {
    const priority = mergePriority(into.priority, from.priority)
    if (from.priority === 'banned') this.bannedPeers-- // `from` goes; its ban moves to `into` when applied
    from.priority = 'medium'
    this.host.absorbed(into, from)
    mergeFields(into, from, this.host.explainDepth())
    const topics = mergeTopics(into.topics, from.topics)
    if (topics.length !== into.topics.length) this.setTopics(into, topics)
    into.decide(this.host.clock.now(), 'merge', `the peer known by address ${from.addresses.join(', ') || from.key} is ${into.id ?? into.key}: records merged (stronger settings win)`, this.host.explainDepth())
    return priority
  }

  private consultHook (record: PeerRecord, when: 'added' | 'connected'): void {
    if (this.host.hook === undefined) return
    let priority: Priority
    try {
      const answer = this.host.hook(record.info())
      if (answer === undefined) return
      priority = check.priority('prioritise() result', answer)
    } catch (err) {
      // The hook's error is the hook's: the peer keeps its priority, and the caller goes on.
      const error = err instanceof Error ? err : new Error(String(err))
      record.decide(this.host.clock.now(), 'hook-error', `prioritise() hook when ${when} failed: ${error.message}; priority stays ${record.priority}`, this.host.explainDepth())
      this.hookErrors++
      this.host.hookFailed('prioritise', record.id ?? record.key, error)
      return
    }
    this.applyPriority(record, priority, `prioritise() hook when ${when}`)
  }

  private applyPriority (record: PeerRecord, priority: Priority, why: string): void {
    if (record.priority === priority) return
    if (record.priority === 'banned') this.bannedPeers--
    if (priority === 'banned') this.bannedPeers++
    record.priority = priority
    this.host.persist?.touch(record)
    record.decide(this.host.clock.now(), priority === 'banned' ? 'ban' : 'priority', `priority ${priority}: ${why}`, this.host.explainDepth())
    this.host.prioritised(record.id ?? record.key, priority)
    if (priority === 'banned' && record.conn !== undefined) this.host.banned(record.conn)
    else this.host.peerChanged(record)
  }

  /** Sets the peer's topics; a connected peer's count per topic follows. */
  private setTopics (record: PeerRecord, topics: readonly string[]): void {
    const counts = this.host.topics
    if (record.conn !== undefined) counts.detach(record.topics)
    // No topics: the records' shared empty list (restoring a store of 20,000 peers allocates none).
    record.topics = topics.length === 0 ? NO_TOPICS : [...new Set(topics)]
    if (record.conn !== undefined) counts.attach(record.topics)
  }
}

/**
 * Whether a string the application gives where a peer or an address may stand (`setPriority`,
 * `connectNow`) and that names no known peer is an address. The rule:
 * - an address starts with a scheme and a colon (`tcp://…`, `mem://…`, `ws://…`, and multiserver
 *   addresses such as `net:host:port~shs:key`), with `/` (a multiaddr: `/ip4/…`), or with `[` (an IPv6
 *   host and port); or it is an IP address, or `host:port`;
 * - anything else is a peer id, whatever characters it holds: SSB ids (`@…/…=.ed25519`), libp2p ids,
 *   hex keys.
 * A string that names a known peer (by id or address) is that peer, whatever its form.
 */
export function isAddress (s: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) || s.startsWith('/') || s.startsWith('[')) return true
  if (ipaddr.isValid(s)) return true
  return /^[^@/\s]+:\d{1,5}$/.test(s)
}
