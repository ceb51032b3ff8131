import { PeerwardenError } from '../errors.js'
import { AccessList } from './access-list.js'
import { Connections } from './connections.js'
import { Decayer } from './decaying-tags.js'
import { DialScheduler } from './dial-scheduler.js'
import type { ManagerEventTarget } from './events.js'
import { InitialSync } from './initial-sync.js'
import { PeerBook } from './peer-book.js'
import { PeerBudget, evictable } from './peer-budget.js'
import { PeerKnowledge } from './peer-knowledge.js'
import type { PeerRecord } from './peer-record.js'
import { Persistence } from './persistence.js'
import { Rotation } from './rotation.js'
import type { StrangerLog } from './stranger-log.js'
import { Tagging } from './tagging.js'
import type { TopicCounts } from './topics.js'
import { TrimScheduler } from './trim-scheduler.js'
import type { Clock, ConnectionManagerOptions, DialFailure, PeerId, StoredPeer } from './types.js'
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
  readonly persist: Persistence | undefined
  readonly trimming: TrimScheduler
  readonly rotation: Rotation
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
  // Filled in below, in order; the closures read it only once every part exists.
  const p = {} as { -readonly [K in keyof Parts]: Parts[K] }
  p.peerChanged = (r) => {
    p.trimming.peerChanged(r)
    p.dialer.peerChanged(r)
  }
  p.budget = new PeerBudget({
    max: () => opts.maxPeers,
    known: () => p.book.size,
    evict: (r) => {
      // explain() still answers for a forgotten peer, from the bounded log of strangers.
      const why = `known peers above maxPeers ${opts.maxPeers}: ${r.hint ? 'known only from hints' : 'never connected'}, ${r.failures} failed dials in a row, the least useful`
      strangers.add(r.id ?? r.addresses[0] ?? r.key, { at: clock.now(), action: 'evict', reason: why }, opts.explainDepth)
      p.knowledge.forgetRecord(r)
    },
    records: () => p.book.values()
  })
  p.book = new PeerBook({
    created: (r) => { p.budget.track(r) },
    // A hint-only peer whose last address a connection proved to be another peer's: the claim was false.
    orphaned: (r) => { if (evictable(r, true)) p.knowledge.forgetRecord(r) }
  })
  const allowList = new AccessList('allow', opts.allow)
  p.denyList = new AccessList('deny', opts.deny)
  p.trimming = new TrimScheduler({
    clock,
    topics,
    running: core.running,
    limits: () => opts,
    connections: () => p.connections.size,
    trimmable: (r) => !r.isProtected && !r.allowed && !r.permanent && r.priority !== 'banned',
    close: (r, why) => { if (r.conn !== undefined) p.connections.close(r.conn, 'trimmed', why) },
    trimmed: (closed, reason) => { events.emit('trim', { closed, reason }) }
  })
  p.rotation = new Rotation({
    clock,
    running: core.running,
    lifetime: () => opts.lifetime,
    connections: () => p.connections.entries(),
    rotate: (entry, why) => { p.connections.close(entry, 'lifetime', why) }
  })
  p.decayer = new Decayer({
    clock,
    record: (peer) => p.knowledge.record(peer),
    find: (peer) => p.book.get(peer),
    tagsChanged: (r) => { r.recomputeValue(); p.peerChanged(r); core.notifyObservers(); p.budget.enforce() }
  })
  const persist = p.persist = options.store === undefined
    ? undefined
    : new Persistence(options.store, clock, opts.storeFlushInterval, core.storeFailed)
  p.dialer = new DialScheduler({
    clock,
    random,
    dial: options.dial,
    localPeer: options.localPeer,
    limits: () => opts,
    records: () => p.book.values(),
    connections: () => p.connections.size,
    releasableBootstraps: () => p.connections.releasableBootstraps().length,
    connectionTo: (peer) => p.book.get(peer)?.conn?.conn,
    denied: (r) => p.denyList.deniesPeer(r),
    needed: (r, planned) => topics.needs(r, planned),
    topicsShort: () => topics.short(),
    dialing: (list, delta) => { topics.dialing(list, delta) },
    accept: (conn, _record, forced) => p.connections.has(conn) || p.connections.accept(conn, forced),
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
    dialEnded: (r) => { if (r.successes === 0 && !r.forgotten) p.budget.track(r) }
  })
  p.tagging = new Tagging({
    clock,
    book: p.book,
    persist,
    explainDepth,
    valueChanged: (r) => { p.trimming.valueChanged(r); p.dialer.valueChanged(r) },
    peerChanged: p.peerChanged,
    scheduleTrimIfOver: () => { p.trimming.scheduleTrimIfOver() },
    notifyObservers: core.notifyObservers
  })
  p.knowledge = new PeerKnowledge({
    clock,
    book: p.book,
    topics,
    persist,
    dialer: p.dialer,
    hook: options.prioritise,
    explainDepth,
    peerChanged: p.peerChanged,
    prioritised: (peer, priority) => { events.emit('peer:priority', { peer, priority }) },
    banned: (entry) => { p.connections.close(entry, 'banned', 'the peer was banned') },
    forgotten: (r) => {
      p.decayer.forget(r)
      p.tagging.forget(r)
    },
    enforceBudget: () => { p.budget.enforce() },
    absorbed: (into, from) => {
      p.tagging.absorb(into, from)
      p.decayer.forget(from)
    },
    hookFailed: (hook, peer, error) => { events.emit('hook:error', { hook, peer, error }) }
  })
  p.connections = new Connections({
    clock,
    random,
    localPeer: options.localPeer,
    opts,
    events,
    book: p.book,
    knowledge: p.knowledge,
    trimming: p.trimming,
    dialer: p.dialer,
    topics,
    rotation: p.rotation,
    allowList,
    denyList: p.denyList,
    persist,
    strangers,
    closed: core.closed,
    running: core.running,
    notifyObservers: core.notifyObservers
  })
  p.restore = async () => {
    let stored: StoredPeer[]
    try {
      stored = await persist!.store.load()
    } catch (err) {
      core.storeFailed(err as Error)
      return
    }
    if (core.closed()) return
    const skipped = p.knowledge.restore(Array.isArray(stored) ? stored : [])
    if (skipped.length > 0) {
      core.storeFailed(new PeerwardenError('ERR_STORE_ROWS', `the store returned ${skipped.length} peer(s) that could not be restored, skipped: ${skipped.slice(0, 10).join('; ')}`))
    }
    p.budget.enforce()
    core.notifyObservers()
  }
  p.initialSync = new InitialSync({
    assertOpen: core.assertOpen,
    resolveOrCreate: (peer) => p.knowledge.resolveOrCreate(peer),
    connections: () => p.connections.entries(),
    close: (entry, why) => { p.connections.close(entry, 'initial-sync', why) },
    dialer: p.dialer
  })
  return p
}
