import type { AccessList } from './access-list.js'
import { AdmissionGate } from './connection-admission.js'
import { ConnectionTable } from './connection-table.js'
import { ACCEPTED_BELOW_BOUND, acceptedReason, DROPPED, REFUSED, refusalIndex } from './accept-decision.js'
import { BELOW_BOUND, type Admission } from './admission.js'
import { restAfterClose, type RestCause } from './backoff.js'
import { BootstrapRelease } from './bootstrap-release.js'
import { CloseCounts } from './close-counts.js'
import type { DialScheduler } from './dial-scheduler.js'
import { keepIncoming } from './duplicates.js'
import type { ManagerEventTarget } from './events.js'
import type { PeerBook } from './peer-book.js'
import type { PeerKnowledge } from './peer-knowledge.js'
import { PeerRecord, type ConnEntry } from './peer-record.js'
import type { Persistence } from './persistence.js'
import type { Rotation } from './rotation.js'
import type { StrangerLog } from './stranger-log.js'
import type { TopicCounts } from './topics.js'
import type { TrimScheduler } from './trim-scheduler.js'
import type { Clock, CloseReason, Connection, ConnectionInfo, Decision, PeerId, TrimReason } from './types.js'
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
 *   ('denied'); the rest is the admission rule (admission.ts, applied by connection-admission.ts),
 *   whose victim at the bound is the trim scheduler's `lowest()`. `admits()` asks the same question on the same record lookup
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
  /** Who may come in (connection-admission.ts). */
  private readonly gate: AdmissionGate
  /** Connections turned away: a dial's own report of one the transport reported first is no second refusal. */
  private readonly refused = new WeakSet<Connection>()
  /** Refusals, and closes of accounted connections, by reason since creation (`stats().refused`, `stats().closed`). */
  readonly refusedBy = new CloseCounts()
  readonly closedBy = new CloseCounts()
  inbound = 0
  outbound = 0

  constructor (private readonly host: ConnectionsHost) {
    // Another object with a connection's id is found by its peer's record (a connected record is
    // filed under its id). A compact peer is never connected: the lookup does not expand it.
    this.conns = new ConnectionTable((peer) => {
      const row = host.book.storedRow(peer)
      return row instanceof PeerRecord ? row.conn : undefined
    })
    this.gate = new AdmissionGate(host, () => this.conns.size)
    this.bootstraps = new BootstrapRelease({
      topics: host.topics,
      limits: () => host.opts,
      running: host.running,
      count: () => this.conns.size,
      // A release is a trim of its own: 'trim' says so, as for every close as 'trimmed'.
      close: (entry, why) => { this.trimOne(entry, why, 'bootstrap') }
    })
  }

  get size (): number { return this.conns.size }

  /** Connections refused by `connectionLimits` since creation (connection-limits.ts). */
  get limitRefusals (): number { return this.gate.limitRefusals }

  has (conn: Connection): boolean { return this.conns.find(conn) !== undefined }

  /** Whether `conn` was turned away already (`refuse`). */
  wasRefused (conn: Connection): boolean { return this.refused.has(conn) }

  get (conn: Connection): ConnEntry | undefined { return this.conns.find(conn) }

  /** Runs the application's own dial of `record` (`connectNow`), its connection forced meanwhile (connection-admission.ts). */
  async forcedWhile (record: PeerRecord, dial: () => Promise<Connection>): Promise<Connection> {
    return await this.gate.forcedWhile(record, dial)
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
    const decision = this.gate.decide(record, conn.peer, conn.address, forcedDial)
    if (!decision.accept) return this.refuse(conn, record, decision.close, decision.reason)
    if (decision.evict?.conn !== undefined) {
      this.trimOne(decision.evict.conn, this.gate.evicting(conn, decision.evict, now), 'admission')
    }
    // Below the bound (the usual case) the reason is kept as numbers and written when read
    // (accept-decision.ts); nothing was evicted, so the count is still the one the admission saw.
    this.attach(conn, record, now, decision === BELOW_BOUND ? BELOW_BOUND : acceptedReason(conn.direction, decision.reason))
    host.trimming.scheduleTrimIfOver()
    return true
  }

  /** See `ConnectionManager.admits`: the question `accept` answers, on the same lookup, changing nothing (connection-admission.ts). */
  admits (peer: PeerId, address: string | undefined): boolean { return this.gate.admits(peer, address) }

  /** The transport reports the connection closed (the peer or the network ended it). */
  dropped (entry: ConnEntry): void {
    const { record } = entry
    const now = this.host.clock.now()
    const wait = restAfterClose('dropped', record, this.host.opts.lifetime, this.host.random)
    if (wait !== undefined) record.nextDialAt = now + wait
    this.detach(entry)
    record.decideCode(now, 'disconnected', this.host.opts.explainDepth, DROPPED, 0)
  }

  /**
   * Closes an accounted connection: the peer rests (`restAfterClose` reads `rest`, by default the
   * reason), the count drops, the transport is told `reason`. `swap`: a duplicate replaced, so the
   * peer never stops being connected (no peer:disconnected, no dial pass).
   */
  /** Closes one connection as `'trimmed'` outside the trim scheduler (an eviction at the bound, a released bootstrap connection, an exploration's swap), and says so with a 'trim' event. */
  trimOne (entry: ConnEntry, why: string | Decision, reason: TrimReason): void {
    this.close(entry, 'trimmed', why)
    if (this.host.events.listens('trim')) this.host.events.emit('trim', { closed: 1, reason })
  }

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
    this.closedBy.add(reason)
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
    this.conns.readAhead(records)
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
    this.gate.attached(conn)
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
    this.gate.left(conn)
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
    if (typeof conn === 'object' && conn !== null) this.refused.add(conn)
    this.refusedBy.add(reason)
    // Kept as the close reason's number and the (usually shared) text: written `${reason}: ${why}` when read.
    if (record !== undefined) record.decideCode(at, 'refuse', host.opts.explainDepth, REFUSED, refusalIndex(reason), 0, 0, why)
    else host.strangers.add(conn.peer, { at, action: 'refuse', reason: `${reason}: ${why}` }, host.opts.explainDepth)
    host.events.emit('connection:refused', { connection: conn, reason })
    safeClose(conn, reason)
    return false
  }
}

function safeClose (conn: Connection, reason: CloseReason): void {
  try {
    const r = conn.close(reason)
    if (r !== undefined && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => {})
  } catch {
    // A transport that throws while closing has still lost the connection for us.
  }
}
