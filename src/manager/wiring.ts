import { PeerwardenError } from '../errors.js'
import { ACCESS_ENTRY, AccessList, type AccessEntry } from './access-list.js'
import { AllowControl } from './allow-control.js'
import { Connections } from './connections.js'
import { Decayer } from './decaying-tags.js'
import { DenyControl } from './deny-control.js'
import { DialScheduler } from './dial-scheduler.js'
import { DecisionLog, MAX_DECISIONS } from './decision-log.js'
import type { ManagerEventTarget } from './events.js'
import { Exploration } from './exploration.js'
import { InitialSync } from './initial-sync.js'
import { ADDRESS_SCHEME, PeerBook, type AddressScheme } from './peer-book.js'
import { PeerBudget, evictable } from './peer-budget.js'
import { PeerKnowledge } from './peer-knowledge.js'
import type { PeerRecord } from './peer-record.js'
import { Persistence } from './persistence.js'
import { Rotation } from './rotation.js'
import type { StrangerLog } from './stranger-log.js'
import { Tagging } from './tagging.js'
import type { TopicCounts } from './topics.js'
import { TrimScheduler } from './trim-scheduler.js'
import type { Clock, ConnectionManagerOptions, DialFailure, StoredPeer } from './types.js'
import type { ErrorStream } from './error-stream.js'
import type { ResolvedOptions } from './validate.js'

/** What the parts share with the manager: its state, and what they tell it. */
export interface ManagerCore {
  readonly clock: Clock
  readonly random: () => number
  readonly opts: ResolvedOptions
  readonly events: ManagerEventTarget
  readonly topics: TopicCounts
  readonly strangers: StrangerLog
  running(): boolean
  closed(): boolean
  assertOpen(): void
  /** The peer list changed (observers hear once per tick). */
  notifyObservers(): void
  /** The store failed: reported ('store:error'), never thrown. */
  storeFailed(err: Error): void
  /** What `errors()` yields: every failed address of a dial. */
  readonly failures: ErrorStream
}

/** The parts of one manager, wired to each other. */
export interface Parts {
  readonly book: PeerBook
  readonly budget: PeerBudget
  readonly denyList: AccessList
  /** The deny list at run time: `deny`/`undeny`, a ban by IP or range (deny-control.ts). */
  readonly denyControl: DenyControl
  readonly allowList: AccessList
  /** The allow list at run time: `allow`/`unallow` (allow-control.ts). */
  readonly allowControl: AllowControl
  readonly persist: Persistence | undefined
  readonly trimming: TrimScheduler
  readonly rotation: Rotation
  readonly exploration: Exploration
  readonly decayer: Decayer
  readonly dialer: DialScheduler
  readonly tagging: Tagging
  readonly knowledge: PeerKnowledge
  readonly connections: Connections
  readonly initialSync: InitialSync
  /**
   * The one verb for "this peer changed": anything the indexes read about the peer (priority, flags,
   * protection, connection, addresses, backoff) changed, so it is re-filed in the trim index (with a
   * bound check: it may have become trimmable) and in the dial index. Each part has its own
   * `peerChanged` and reaches this one through its host. The other verbs decide something else:
   * - `valueChanged(record)` (Tagging's host, TrimScheduler, DialScheduler): only the tag value
   *   moved — the peer is re-sorted where it already is, no bound check (a tag never makes a peer
   *   trimmable); the hot path of `tagPeer`;
   * - `TrimScheduler.scheduleTrimIfOver()`: a background trim is due when the count is above highWater;
   * - `notifyObservers()`: the peer list changed (observers hear once per tick);
   * - `DialScheduler.requestPass()`: a dial pass may find something to do (one per microtask);
   * - `DialScheduler.noteProgress()`: the network got us somewhere (bootstrap peers keep waiting);
   * - `PeerBudget.enforce()` / `reconsider()`: the cap on known peers evicts / may evict parked peers again.
   * Below the parts, the indexes re-file a record with `update(record, now)` (TrimIndex, DialIndex).
   */
  peerChanged(record: PeerRecord): void
  /** Loads the store's peers into the book, reporting what failed (start() and ready() call it once). */
  restore(): Promise<void>
}

/**
 * Builds the parts of a manager and connects each part's host to the others.
 *
 * Rules:
 * - Nothing here decides: each closure forwards to the part that owns the rule.
 * - A part reaches the others only through its host, built here: this file is the map of who calls whom.
 * - The parts are created in dependency order; a closure that names a part created later runs only
 *   after construction.
 */
export function wireParts (core: ManagerCore, options: ConnectionManagerOptions): Parts {
  const { clock, random, opts, events, topics, strangers } = core
  const explainDepth = (): number => opts.explainDepth
  // Assigned below, in order; the closures read them only once every part exists. (Locals, not the
  // properties of an object filled in step by step: V8 turns such an object into a slow dictionary.)
  let book!: PeerBook
  let trimming!: TrimScheduler
  let dialer!: DialScheduler
  let knowledge!: PeerKnowledge
  let connections!: Connections
  const peerChanged = (r: PeerRecord): void => {
    trimming.peerChanged(r)
    dialer.peerChanged(r)
  }
  // A simulation's: how its books number peers, and the slabs their tables (and the decision logs) take.
  const scheme = (options as { [ADDRESS_SCHEME]?: AddressScheme })[ADDRESS_SCHEME]
  const budget = new PeerBudget({
    max: () => opts.maxPeers,
    known: () => book.size,
    evict: (r) => {
      // explain() still answers for a forgotten peer, from the bounded log of strangers.
      const why = `known peers above maxPeers ${opts.maxPeers}: ${r.hint ? 'known only from hints' : r.successes > 0 ? 'a stranger that came to us and left' : 'never connected'}, ${r.failures} failed dials in a row, the least useful`
      strangers.add(r.id ?? r.addresses[0] ?? r.key, { at: clock.now(), action: 'evict', reason: why }, opts.explainDepth)
      knowledge.forgetRecord(r)
    },
    records: () => book.values()
  })
  book = new PeerBook({
    created: (r) => { budget.track(r) },
    // A hint-only peer whose last address a connection proved to be another peer's: the claim was false.
    orphaned: (r) => { if (evictable(r, true)) knowledge.forgetRecord(r) },
    // A compact peer someone asked for: filed as its record would have been all along.
    expanded: peerChanged
  }, scheme, new DecisionLog(Math.min(MAX_DECISIONS, opts.maxPeers * opts.explainDepth), scheme?.cells))
  // The transport's reading of an entry (ACCESS_ENTRY), for the options' entries as for run-time ones.
  const entry = (options as { [ACCESS_ENTRY]?: AccessEntry })[ACCESS_ENTRY]
  const read = (name: string, list: string[]): string[] => entry === undefined ? list : list.map((e, i) => entry(e, `${name}[${i}]`))
  const allowList = new AccessList('allow', read('allow', opts.allow))
  const denyList = new AccessList('deny', read('deny', opts.deny))
  trimming = new TrimScheduler({
    clock,
    topics,
    running: core.running,
    limits: () => opts,
    connections: () => connections.size,
    trimmable: (r) => !r.isProtected && !r.allowed && !r.permanent && r.priority !== 'banned',
    closeVictims: (records, decide) => connections.closeTrimmed(records, decide),
    trimmed: (closed, reason) => { events.emit('trim', { closed, reason }) }
  })
  const rotation = new Rotation({
    clock,
    running: core.running,
    lifetime: () => opts.lifetime,
    connections: () => connections.entries(),
    rotate: (entry, why) => { connections.close(entry, 'lifetime', why) }
  })
  const decayer = new Decayer({
    clock,
    record: (peer) => knowledge.record(peer),
    find: (peer) => book.get(peer),
    tagsChanged: (r) => { r.recomputeValue(); peerChanged(r); core.notifyObservers(); budget.enforce() }
  })
  const persist = options.store === undefined
    ? undefined
    : new Persistence(options.store, clock, opts.storeFlushInterval, core.storeFailed, (index) => book.storedRowAt(index))
  dialer = new DialScheduler({
    clock,
    random,
    dial: options.dial,
    localPeer: options.localPeer,
    limits: () => opts,
    records: () => book.values(),
    connections: () => connections.size,
    releasableBootstraps: () => connections.bootstrapsApart().length,
    connectionTo: (peer) => book.get(peer)?.conn?.conn,
    denied: (r) => denyList.deniesPeer(r),
    needed: (r, planned) => topics.needs(r, planned),
    topicsShort: () => topics.short(),
    dialing: (list, delta) => { topics.dialing(list, delta) },
    accept: (conn, _record, forced) => connections.has(conn) || (!connections.wasRefused(conn) && connections.accept(conn, forced)),
    refusalCode: (conn) => core.closed()
      ? 'ERR_CLOSED'
      : book.get(conn.peer)?.priority === 'banned' ? 'ERR_BANNED' : denyList.matches(conn.peer, conn.address) ? 'ERR_DENIED' : 'ERR_DIAL_FAILED',
    dialStarted: (r, address) => { events.emit('dial:started', { peer: r.id, address }) },
    addressFailed: (r, address, error) => {
      const failure: DialFailure = { peer: r.id, address, error, at: clock.now() }
      r.decide(failure.at, 'dial-failed', `${address}: ${error.message}`, opts.explainDepth)
      events.emit('dial:failed', failure)
      core.failures.publish(failure)
    },
    decide: (r, action, reason) => {
      r.decide(clock.now(), action, reason, opts.explainDepth)
      persist?.touch(r)
    },
    decideCode: (r, action, code, a, b) => {
      r.decideCode(clock.now(), action, opts.explainDepth, code, a, b)
      persist?.touch(r)
    },
    dialEnded: (r) => { if (r.successes === 0 && !r.forgotten) budget.track(r) },
    compact: book.keepsCompact ? { first: () => book.firstCompact(), firstSeq: () => book.firstCompactSeq(), expand: (i) => book.expand(i, false) } : undefined
  })
  const exploration = new Exploration({
    clock,
    random,
    running: core.running,
    interval: () => opts.exploreInterval,
    anyQuota: () => topics.quotaCount > 0,
    limits: () => opts,
    count: () => connections.size,
    busy: () => dialer.dialing > 0 || dialer.syncing,
    records: () => book.values(),
    dialableNow: (r, now) => dialer.dialableNow(r, now),
    servesQuotaTopic: (r) => topics.servesQuota(r),
    dial: async (r, why) => {
      r.decide(clock.now(), 'dial', why, opts.explainDepth)
      persist?.touch(r)
      await dialer.dialRecord(r, false)
      return true
    },
    lowest: (except) => trimming.lowest(except),
    close: (r, why) => { if (r.conn !== undefined) connections.trimOne(r.conn, why, 'explore') }
  })
  const tagging = new Tagging({
    clock,
    book: book,
    persist,
    explainDepth,
    valueChanged: (r) => { trimming.valueChanged(r); dialer.valueChanged(r) },
    peerChanged: peerChanged,
    scheduleTrimIfOver: () => { trimming.scheduleTrimIfOver() },
    notifyObservers: core.notifyObservers
  })
  knowledge = new PeerKnowledge({
    clock,
    book: book,
    topics,
    persist,
    dialer: dialer,
    hook: options.prioritise,
    explainDepth,
    peerChanged: peerChanged,
    prioritised: (peer, priority) => { events.emit('peer:priority', { peer, priority }) },
    banned: (entry) => { connections.close(entry, 'banned', 'the peer was banned') },
    connectedFrom: (address) => {
      for (const entry of connections.entries()) if (entry.conn.address === address) return entry.conn.peer
      return undefined
    },
    forgotten: (r) => {
      decayer.forget(r)
      tagging.forget(r)
    },
    enforceBudget: () => { budget.enforce() },
    absorbed: (into, from) => {
      tagging.absorb(into, from)
      decayer.forget(from)
    },
    hookFailed: (hook, peer, error) => { events.emit('hook:error', { hook, peer, error }) },
    compactAllowed: book.keepsCompact ? (id) => denyList.empty && !budget.active && id !== options.localPeer : undefined
  })
  connections = new Connections({
    clock,
    random,
    localPeer: options.localPeer,
    opts,
    events,
    book: book,
    knowledge: knowledge,
    trimming: trimming,
    dialer: dialer,
    topics,
    rotation: rotation,
    allowList,
    denyList: denyList,
    persist,
    strangers,
    closed: core.closed,
    running: core.running,
    notifyObservers: core.notifyObservers,
    accepted: options.accepted
  })
  // Both lists at run time: the transport's reading of an entry, their rows beside the peers'.
  const lists = {
    entry,
    connections: () => connections.entries(),
    ...(persist === undefined ? {} : { put: (row: StoredPeer) => { persist.put(row) }, remove: (key: string) => { persist.remove(key) } })
  }
  const denyControl = new DenyControl({ ...lists, denyList, close: (e, reason, why) => { connections.close(e, reason, why) }, changed: () => { dialer.requestPass() } })
  const allowControl = new AllowControl({ ...lists, allowList, peerChanged })
  const restore = async (): Promise<void> => {
    let stored: StoredPeer[]
    try {
      stored = await persist!.store.load()
    } catch (err) {
      core.storeFailed(err as Error)
      return
    }
    if (core.closed()) return
    const skipped = knowledge.restore(allowControl.restore(denyControl.restore(Array.isArray(stored) ? stored : [])))
    if (skipped.length > 0) {
      core.storeFailed(new PeerwardenError('ERR_STORE_ROWS', `the store returned ${skipped.length} peer(s) that could not be restored, skipped: ${skipped.slice(0, 10).join('; ')}`))
    }
    budget.enforce()
    core.notifyObservers()
  }
  const initialSync = new InitialSync({
    assertOpen: core.assertOpen,
    resolveOrCreate: (peer) => knowledge.resolveOrCreate(peer),
    connections: () => connections.entries(),
    close: (entry, why) => { connections.close(entry, 'initial-sync', why) },
    dialer: dialer
  })
  return { book, budget, denyList, denyControl, allowList, allowControl, persist, trimming, rotation, exploration, decayer, dialer, tagging, knowledge, connections, initialSync, peerChanged, restore }
}
