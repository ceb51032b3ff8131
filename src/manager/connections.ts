import type { AccessList } from './access-list.js'
import { ConnectionTable } from './connection-table.js'
import { EvictionRanges } from './address-range.js'
import { ACCEPTED_BELOW_BOUND, acceptedReason } from './accept-decision.js'
import { reasonCode } from './decision-log.js'
import { admit, BELOW_BOUND, type Admission } from './admission.js'
import { restAfterClose, type RestCause } from './backoff.js'
import { BootstrapRelease } from './bootstrap-release.js'
import type { DialScheduler } from './dial-scheduler.js'
import { RankedDecision } from './explain.js'
import { keepIncoming } from './duplicates.js'
import type { ManagerEventTarget } from './events.js'
import { mergePriority, mergeTopics } from './merge.js'
import type { PeerBook } from './peer-book.js'
import type { PeerKnowledge } from './peer-knowledge.js'
import { PeerRecord, type ConnEntry } from './peer-record.js'
import type { Persistence } from './persistence.js'
import type { Rotation } from './rotation.js'
import type { StrangerLog } from './stranger-log.js'
import type { TopicCounts } from './topics.js'
import type { TrimScheduler } from './trim-scheduler.js'
import type { Clock, CloseReason, Connection, ConnectionInfo, Decision, PeerId } from './types.js'
import type { ResolvedOptions } from './validate.js'

/** What the connection bookkeeping needs from the manager: the other parts, and three questions. */
export interface ConnectionsHost {
  readonly clock: Clock
  readonly random: () => number
  readonly localPeer: PeerId | undefined
  readonly opts: ResolvedOptions
  readonly events: ManagerEventTarget
  readonly book: PeerBook
  readonly knowledge: PeerKnowledge
  readonly trimming: TrimScheduler
  readonly dialer: DialScheduler
  readonly topics: TopicCounts
  readonly rotation: Rotation
  readonly allowList: AccessList
  readonly denyList: AccessList
  readonly persist: Persistence | undefined
  readonly strangers: StrangerLog
  closed(): boolean
  running(): boolean
  /** Tells the peer observers (coalesced per tick). */
  notifyObservers(): void
  /** The application's `accepted` hook, if any (see `ConnectionManagerOptions.accepted`). */
  readonly accepted: ((connection: Connection, replaced: boolean) => void) | undefined
}

/**
 * The connection bookkeeping: which connections the manager accounts, and how one enters
 * (`accept`), leaves (`detach`, `close`) or is turned away (`refuse`).
 *
 * Rules:
 * - One connection per peer: `record.conn` is the accounted one; a second one is settled by the
 *   duplicate rule (duplicates.ts) — the loser is refused ('duplicate') or replaced without the peer
 *   ever counting as disconnected ('connection:replaced').
 * - A closed manager refuses everything ('stopped'); the deny list refuses a peer or address
 *   ('denied'); the rest is the admission rule (admission.ts), whose victim at the bound is the
 *   trim scheduler's `lowest()`. `admits()` asks the same question on the same record lookup
 *   (`PeerKnowledge.lookup`) without changing anything.
 * - The count drops at once when a connection is detached, before the transport has closed it.
 * - Every rest after a close (when the dialer may dial the peer again) comes from `restAfterClose`
 *   (backoff.ts), set before the peer is re-filed in the dial index.
 * - Bootstrap connections we dialled are released ('trimmed') once the others reach lowWater
 *   (bootstrap-release.ts).
 * - This part writes `conn`, `inbound`, `openedAt`, `allowed`, `lastConnected` and `successes` of a
 *   record (see PeerRecord), and `nextDialAt` after a close.
 */
export class Connections {
  private readonly conns: ConnectionTable
  private readonly bootstraps: BootstrapRelease
  /** Keys and addresses of peers the application dials now (`connectNow`): their connections are forced. */
  private readonly forcing = new Set<string>()
  /** Ranges whose last newcomer took a place at the bound within a grace period (address-range.ts). */
  private readonly evictors = new EvictionRanges()
  inbound = 0
  outbound = 0
  /** What `readAhead()` read, kept so that its reads are not optimised away. */
  readAheadSum = 0

  constructor (private readonly host: ConnectionsHost) {
    // Another object with a connection's id is found by its peer's record (a connected record is
    // filed under its id). A compact peer is never connected: the lookup does not expand it.
    this.conns = new ConnectionTable((peer) => {
      const row = host.book.storedRow(peer)
      return row instanceof PeerRecord ? row.conn : undefined
    })
    this.bootstraps = new BootstrapRelease({
      topics: host.topics,
      limits: () => host.opts,
      running: host.running,
      count: () => this.conns.size,
      close: (entry, why) => { this.close(entry, 'trimmed', why) }
    })
  }

  /** The eviction reason's text after the newcomer's id, for the highWater it was written for. */
  private evictionText = { highWater: -1, text: '' }

  get size (): number { return this.conns.size }

  /** The text of an eviction's reason after the newcomer's id: one string while highWater stays. */
  private evictionNote (): string {
    const { highWater } = this.host.opts
    if (this.evictionText.highWater !== highWater) this.evictionText = { highWater, text: ` at highWater ${highWater}: lowest-ranked trimmable peer (` }
    return this.evictionText.text
  }

  has (conn: Connection): boolean { return this.conns.find(conn) !== undefined }

  get (conn: Connection): ConnEntry | undefined { return this.conns.find(conn) }

  /**
   * Runs the application's own dial of `record` (`connectNow`): while it runs, a connection of the
   * peer (by key or address) is forced, since the transport may report it before the dial resolves.
   */
  async forcedWhile (record: PeerRecord, dial: () => Promise<Connection>): Promise<Connection> {
    const keys = [record.key, ...record.addresses]
    keys.forEach((k) => this.forcing.add(k))
    try {
      return await dial()
    } finally {
      keys.forEach((k) => this.forcing.delete(k))
    }
  }

  /** The accounted connections, in opening order. */
  entries (): IterableIterator<ConnEntry> { return this.conns.values() }

  list (): ConnectionInfo[] {
    const out: ConnectionInfo[] = []
    for (const { conn, record, openedAt } of this.conns.values()) {
      out.push({ id: conn.id, peer: conn.peer, direction: conn.direction, address: conn.address, openedAt, value: record.value, protected: record.isProtected || record.permanent })
    }
    return out
  }

  /** `connected()` after validation; `forcedDial` = our own connectNow / permanent dial. */
  accept (conn: Connection, forcedDial: boolean): boolean {
    const { host } = this
    const now = host.clock.now()
    const closed = host.closed()
    if (closed || host.denyList.matches(conn.peer, conn.address)) {
      return this.refuse(conn, host.book.get(conn.peer), closed ? 'stopped' : 'denied', closed ? 'the manager is closed' : 'peer or address is on the deny list')
    }
    const record = host.knowledge.forConnection(conn, now)
    const existing = record.conn
    if (existing !== undefined && record.priority !== 'banned') {
      if (!keepIncoming(existing.conn, conn, host.localPeer)) {
        return this.refuse(conn, record, 'duplicate', `already connected (${existing.conn.direction}); the tie-break keeps the existing connection`)
      }
      // The peer never stops being connected: no peer:disconnected / peer:connected for the swap.
      this.close(existing, 'duplicate', `replaced by a new ${conn.direction} connection: the tie-break keeps the one initiated by the larger id`, 'duplicate', true)
      this.attach(conn, record, now, `replaces a duplicate ${existing.conn.direction} connection`, true)
      host.events.emit('connection:replaced', { peer: conn.peer, connection: conn, replaced: existing.conn })
      return true
    }
    const decision = this.admission(record, conn.peer, conn.address, forcedDial)
    if (!decision.accept) return this.refuse(conn, record, decision.close, decision.reason)
    if (decision.evict?.conn !== undefined) {
      host.trimming.evicting(decision.evict)
      this.evictors.evicted(conn.address, now, host.opts.gracePeriod)
      const why = new RankedDecision(now, 'trim', `trimmed: evicted to make room for ${conn.peer}${this.evictionNote()}`, 0, 1, decision.evict)
      this.close(decision.evict.conn, 'trimmed', why)
      if (host.events.listens('trim')) host.events.emit('trim', { closed: 1, reason: 'admission' })
    }
    // Below the bound (the usual case) the reason is kept as numbers and written when read
    // (accept-decision.ts); nothing was evicted, so the count is still the one the admission saw.
    this.attach(conn, record, now, decision === BELOW_BOUND ? BELOW_BOUND : acceptedReason(conn.direction, decision.reason))
    host.trimming.scheduleTrimIfOver()
    return true
  }

  /** See `ConnectionManager.admits`: the question `accept` answers, on the same lookup, changing nothing. */
  admits (peer: PeerId, address: string | undefined): boolean {
    if (this.host.closed() || this.host.denyList.matches(peer, address)) return false
    // The record accept() would use (the same lookup): one known by this address only, merged into
    // the peer's own when both exist — previewed here without merging.
    const { byAddress, own } = this.host.knowledge.lookup(peer, address)
    const record = byAddress !== undefined && own !== undefined ? previewMerge(own, byAddress) : byAddress ?? own
    if (record?.priority === 'banned') return false
    if (record?.conn !== undefined) return true // the duplicate rule decides in accept()
    return this.admission(record, peer, address, false).accept
  }

  /**
   * The admission decision (admission.ts) for a peer not connected now, past the deny list: forced
   * when the application dials it or it is protected or permanent; at the bound, the victim is the
   * lowest-ranked trimmable peer other than itself.
   */
  private admission (record: PeerRecord | undefined, peer: PeerId, address: string | undefined, forcedDial: boolean): Admission {
    const { host } = this
    const forced = forcedDial || (address !== undefined && this.forcing.has(address)) ||
      (record !== undefined && (record.isProtected || record.permanent || this.forcing.has(record.key)))
    const count = this.conns.size
    const priority = record?.priority ?? 'medium'
    const allowed = host.allowList.matches(peer, address)
    // The bound holds from creation: admission applies whether or not the manager runs. A stranger
    // from a range that took a place within a grace period takes none (address-range.ts).
    const atBound = count >= host.opts.highWater
    const stranger = !allowed && !forced
    if (atBound && stranger && priority !== 'banned' && !this.evictors.mayEvict(address, host.clock.now())) {
      return { accept: false, close: 'over-limit', reason: `at highWater ${host.opts.highWater}; a newcomer from the same address range took a place less than gracePeriod ago` }
    }
    return admit({
      priority,
      allowed,
      forced,
      count,
      highWater: host.opts.highWater,
      // What the application wants may take anyone's place; a stranger only that of a peer it outranks or equals.
      victim: atBound ? host.trimming.lowest(record, stranger ? priority : undefined) : undefined,
      trimmable: atBound ? host.trimming.index.size : 0
    })
  }

  /** The transport reports the connection closed (the peer or the network ended it). */
  dropped (entry: ConnEntry): void {
    const { record } = entry
    const now = this.host.clock.now()
    const wait = restAfterClose('dropped', record, this.host.opts.lifetime, this.host.random)
    if (wait !== undefined) record.nextDialAt = now + wait
    this.detach(entry)
    record.decide(now, 'disconnected', 'the transport reported the connection closed', this.host.opts.explainDepth)
  }

  /**
   * Closes an accounted connection: the peer rests (`restAfterClose` reads `rest`, by default the
   * reason), the count drops, the transport is told `reason`. `swap`: a duplicate replaced, so the
   * peer never stops being connected (no peer:disconnected, no dial pass).
   */
  close (entry: ConnEntry, reason: CloseReason, why: string | Decision, rest: RestCause = reason, swap = false): void {
    this.shut(entry, reason, why, rest, swap)
    if (!swap) this.host.dialer.requestPass()
    this.host.notifyObservers()
  }

  /** `close()` but the dial pass and the observers' notice, which a trim asks for once (`closeTrimmed`). */
  private shut (entry: ConnEntry, reason: CloseReason, why: string | Decision, rest: RestCause, swap: boolean): void {
    const { host } = this
    const { record } = entry
    const now = host.clock.now()
    // A peer we trimmed or rotated out rests before we would dial it again (no trim/redial loops).
    const wait = restAfterClose(rest, record, host.opts.lifetime, host.random)
    if (wait !== undefined) record.nextDialAt = now + wait
    this.leave(entry, swap)
    if (typeof why === 'string') record.decide(now, reason === 'trimmed' ? 'trim' : 'close', `${reason}: ${why}`, host.opts.explainDepth)
    else record.note(why, host.opts.explainDepth)
    if (host.events.listens('connection:closed')) host.events.emit('connection:closed', { connection: entry.conn, reason })
    safeClose(entry.conn, reason)
  }

  /**
   * Closes the connections of a trim's victims with 'trimmed', `decide(record, i)` giving the
   * decision explain() shows for the i-th: what `close()` does for each, except what the trim did
   * already or does once. The trim index let the victims go before (`TrimIndex.removeMany`), so they
   * are not re-filed there; the dial pass a close requests and the observers' notice are asked for
   * once, after the last (both run once per tick however often they are asked). Returns how many closed.
   */
  closeTrimmed (records: readonly PeerRecord[], decide: (record: PeerRecord, i: number) => Decision): number {
    this.readAhead(records)
    let closed = 0
    for (let i = 0; i < records.length; i++) {
      const entry = records[i].conn
      if (entry === undefined) continue
      this.shut(entry, 'trimmed', decide(records[i], i), 'trimmed', false)
      closed++
    }
    if (closed > 0) {
      this.host.dialer.requestPass()
      this.host.notifyObservers()
    }
    return closed
  }

  /**
   * Reads what closing each of `records` reads first — its connection entry and the entry's place in
   * the accounting's table, the connection, its address list and id (the dial index's questions), the
   * record's flags (on its second cache line) and its tag value (a number boxed apart: the decision
   * copies it) — in a loop of independent loads. Those objects are scattered over the heap and seldom
   * in the cache; the processor overlaps the misses of a loop this small across many peers, where the
   * close of one peer, with its stores and calls, leaves it to wait for each of its own in turn.
   * Measured on a trim of 200 of 10,100: the closes took ~20 % less time with the entry, connection
   * and addresses read ahead, and the whole trim ~10 % less again with the rest.
   */
  private readAhead (records: readonly PeerRecord[]): void {
    let sum = 0
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      const entry = r.conn
      if (entry === undefined) continue
      sum += entry.slot! + entry.conn.direction.length + r.addresses.length + this.conns.near(entry) +
        r.value + (r.idle ? 1 : 0) + (r.id?.length ?? 0)
    }
    this.readAheadSum = sum
  }

  /** Closes every accounted connection with `reason` (stop()). */
  closeAll (reason: CloseReason, why: string): void {
    for (const entry of [...this.conns.values()]) this.close(entry, reason, why)
  }

  /** The bootstrap connections that do not count toward lowWater (bootstrap-release.ts). */
  bootstrapsApart (): ConnEntry[] { return this.bootstraps.apart() }

  /** `why`: the reason of the accept, or `BELOW_BOUND` for an admission below the bound (kept as numbers). */
  private attach (conn: Connection, record: PeerRecord, now: number, why: string | Decision | Admission, swap = false): void {
    const { host } = this
    const before = this.conns.size
    const entry: ConnEntry = { conn, record, openedAt: now, slot: -1 }
    this.conns.add(entry)
    record.conn = entry
    record.inbound = conn.direction === 'inbound'
    record.openedAt = now
    record.allowed = host.allowList.matches(conn.peer, conn.address)
    record.lastConnected = now
    record.successes++
    record.hint = false // the handshake proved the peer
    host.persist?.touch(record)
    if (record.inbound) this.inbound++
    else {
      this.outbound++
      if (conn.address !== undefined) {
        // The handshake proved the id at this address: it is the peer's, whoever claimed it.
        host.book.addAddress(record, conn.address)
        record.hinted?.delete(conn.address)
      }
    }
    host.topics.attach(record.topics)
    this.bootstraps.opened(entry)
    host.trimming.opened(record, now)
    host.dialer.peerChanged(record)
    host.dialer.noteProgress()
    host.rotation.schedule()
    if (typeof why === 'string') record.decide(now, 'accept', why, host.opts.explainDepth)
    else if (why === BELOW_BOUND) record.decideCode(now, 'accept', host.opts.explainDepth, ACCEPTED_BELOW_BOUND, before, host.opts.highWater, record.inbound ? 1 : 0)
    else record.note(why as Decision, host.opts.explainDepth)
    // The transport that owns the connection sets it up first (a direct call, not an event); its
    // error is the hook's: the connection stays accepted.
    if (host.accepted !== undefined) {
      try { host.accepted(conn, swap) } catch (err) {
        host.knowledge.hookErrors++
        host.events.emit('hook:error', { hook: 'accepted', peer: conn.peer, error: err instanceof Error ? err : new Error(String(err)) })
      }
    }
    // The connection is the peer's now: observers hear of it (a swap is no news for them).
    if (!swap && host.events.listens('peer:connected')) host.events.emit('peer:connected', { peer: conn.peer, connection: conn })
    host.notifyObservers()
    if (!record.bootstrap) this.bootstraps.release()
  }

  /** Removes the connection from the accounting (the count drops at once). */
  private detach (entry: ConnEntry, swap = false): void {
    this.leave(entry, swap)
    if (!swap) this.host.dialer.requestPass()
    this.host.notifyObservers()
  }

  /** The part of `detach` each connection needs (a trim asks for the rest once, `closeTrimmed`). */
  private leave (entry: ConnEntry, swap: boolean): void {
    const { host } = this
    const { record, conn } = entry
    host.persist?.touch(record)
    this.conns.remove(entry)
    this.bootstraps.closed(entry)
    if (record.conn === entry) {
      record.conn = undefined
      record.allowed = false
      host.trimming.closed(record) // nothing to do for a trim's victim: the trim took it out already
      host.dialer.peerChanged(record)
      if (record.topics.length > 0) host.topics.detach(record.topics)
    }
    if (conn.direction === 'inbound') this.inbound--
    else this.outbound--
    if (!swap && host.events.listens('peer:disconnected')) host.events.emit('peer:disconnected', { peer: conn.peer })
  }

  /** Turns a connection away: explain() and 'connection:refused' say why, the transport is told `reason`. */
  private refuse (conn: Connection, record: PeerRecord | undefined, reason: CloseReason, why: string): false {
    const { host } = this
    const at = host.clock.now()
    // Kept as the close reason's number and the (usually shared) text: written `${reason}: ${why}` when read.
    if (record !== undefined) record.decideCode(at, 'refuse', host.opts.explainDepth, REFUSED, refusalIndex(reason), 0, 0, why)
    else host.strangers.add(conn.peer, { at, action: 'refuse', reason: `${reason}: ${why}` }, host.opts.explainDepth)
    host.events.emit('connection:refused', { connection: conn, reason })
    safeClose(conn, reason)
    return false
  }
}

/**
 * What `accept()` would make of the peer's record once the record known by its address only is
 * merged into it (merge.ts), for `admits()`: a view that changes neither record.
 */
function previewMerge (own: PeerRecord, byAddress: PeerRecord): PeerRecord {
  const view = Object.create(own) as PeerRecord
  view.priority = mergePriority(own.priority, byAddress.priority)
  view.permanent = own.permanent || byAddress.permanent
  view.longTerm = own.longTerm || byAddress.longTerm
  // The topics decide whether the peer may take a topic peer's place at the bound (trim-scheduler.ts).
  if (byAddress.topics.length > 0) view.topics = mergeTopics(own.topics, byAddress.topics)
  // Read-only here: the view answers `isProtected` itself (a write of `protections` would reach own's).
  if (byAddress.isProtected) Object.defineProperty(view, 'isProtected', { value: true })
  return view
}

function safeClose (conn: Connection, reason: CloseReason): void {
  try {
    const r = conn.close(reason)
    if (r !== undefined && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => {})
  } catch {
    // A transport that throws while closing has still lost the connection for us.
  }
}

/** The close reasons refusals have named, by number (a refusal keeps the number: `REFUSED`). */
const REFUSAL_REASONS: CloseReason[] = []
function refusalIndex (reason: CloseReason): number {
  const i = REFUSAL_REASONS.indexOf(reason)
  return i !== -1 ? i : REFUSAL_REASONS.push(reason) - 1
}
/** A refusal's reason: `${close reason}: ${why}`, written when `explain()` reads it. */
const REFUSED = reasonCode((index, _b, _c, why) => `${REFUSAL_REASONS[index]}: ${why ?? ''}`)
