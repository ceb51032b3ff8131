import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { AccessList } from './access-list.js'
import type { Connections } from './connections.js'
import type { Decayer } from './decaying-tags.js'
import type { DialScheduler } from './dial-scheduler.js'
import { ErrorStream } from './error-stream.js'
import { ManagerEventTarget } from './events.js'
import type { InitialSync } from './initial-sync.js'
import { PeerObservers } from './observers.js'
import type { PeerBook } from './peer-book.js'
import type { PeerBudget } from './peer-budget.js'
import type { PeerKnowledge } from './peer-knowledge.js'
import type { Persistence } from './persistence.js'
import type { Exploration } from './exploration.js'
import type { Rotation } from './rotation.js'
import { StrangerLog } from './stranger-log.js'
import type { Tagging } from './tagging.js'
import { TopicCounts } from './topics.js'
import type { TrimScheduler } from './trim-scheduler.js'
import type {
  BumpFn, Clock, Connection, ConnectionInfo, ConnectionManager, ConnectionManagerOptions, DecayFn, DecayingTag,
  Decision, DialFailure, ManagerStats, PeerId, PeerInfo, PeerInput, Priority, TagInfo
} from './types.js'
import * as check from './validate.js'
import { wireParts } from './wiring.js'

const STRANGERS = 1024

/**
 * The connection manager: the public API over the parts, each of which owns one piece of policy —
 * connections.ts the accounting (admission.ts, duplicates.ts), trim-scheduler.ts trimming,
 * dial-scheduler.ts dialing, backoff.ts every wait, peer-knowledge.ts what is known of peers,
 * tagging.ts tags and protection, and so on. wiring.ts builds them and is the map of who calls whom.
 *
 * Rules:
 * - The bound, from creation (started or not): every `connected()` that would cross `highWater`
 *   either evicts the lowest-ranked trimmable peer at once or is refused, so the count never exceeds
 *   `highWater` except for connections the application forced (allow-listed, protected, permanent,
 *   `connectNow`), which a background trim (at most once per `silencePeriod`) brings back down once
 *   they become trimmable.
 * - One verb for "this peer changed": `peerChanged(record)` (wiring.ts, with the list of the other
 *   verbs and what each decides).
 * - Nothing here reads the wall clock or sets a timer of its own: time is the injected `Clock`.
 */
export class Manager implements ConnectionManager {
  readonly events = new ManagerEventTarget()
  readonly initialSync: InitialSync

  private readonly clock: Clock
  private readonly opts: check.ResolvedOptions
  private readonly topics = new TopicCounts(() => this.opts.highWater)
  private readonly failures = new ErrorStream()
  private readonly observers = new PeerObservers(() => this.listPeers())
  private readonly strangers = new StrangerLog(STRANGERS)
  private readonly book: PeerBook
  private readonly budget: PeerBudget
  private readonly denyList: AccessList
  private readonly persist: Persistence | undefined
  private readonly connections: Connections
  private readonly trimming: TrimScheduler
  private readonly rotation: Rotation
  private readonly exploration: Exploration
  private readonly decayer: Decayer
  private readonly dialer: DialScheduler
  private readonly tagging: Tagging
  private readonly knowledge: PeerKnowledge
  /** Brings back the peers the store remembers (their history orders the first dials). */
  private readonly restore: () => Promise<void>
  private isRunning = false
  private closed = false
  private loaded: Promise<void> | undefined

  constructor (options: ConnectionManagerOptions) {
    this.opts = check.resolveOptions(options)
    this.clock = options.clock ?? systemClock
    const parts = wireParts({
      clock: this.clock,
      // eslint-disable-next-line no-restricted-properties -- the default of the injected `random`
      random: options.random ?? Math.random,
      opts: this.opts,
      events: this.events,
      topics: this.topics,
      strangers: this.strangers,
      failures: this.failures,
      running: () => this.isRunning,
      closed: () => this.closed,
      assertOpen: () => { this.assertOpen() },
      notifyObservers: this.observers.notify,
      storeFailed: (err) => { this.storeFailed(err) }
    }, options)
    ;({
      book: this.book, budget: this.budget, denyList: this.denyList, persist: this.persist, connections: this.connections,
      trimming: this.trimming, rotation: this.rotation, exploration: this.exploration, decayer: this.decayer, dialer: this.dialer, tagging: this.tagging,
      knowledge: this.knowledge, initialSync: this.initialSync, restore: this.restore
    } = parts)
  }

  get running (): boolean { return this.isRunning }

  // ── lifecycle ────────────────────────────────────────────────────────────

  start (): void {
    this.assertOpen()
    if (this.isRunning) return
    this.isRunning = true
    // Connections accounted while stopped may exceed the bound: enforce it now.
    this.trimming.start()
    this.rotation.schedule()
    this.exploration.schedule()
    // Peers the store remembers come back before the first dial, so the previous topology wins.
    if (this.persist !== undefined && this.loaded === undefined) this.loaded = this.restore()
    if (this.loaded === undefined) this.dialer.start()
    else void this.loaded.then(() => { if (this.isRunning) this.dialer.start() })
  }

  /** Resolves once the store's peers are known (at once without a store). Loading starts with start(). */
  async ready (): Promise<void> {
    if (this.persist !== undefined && this.loaded === undefined) this.loaded = this.restore()
    await this.loaded
  }

  async stop (): Promise<void> {
    this.isRunning = false
    this.trimming.stop()
    this.rotation.reset()
    this.exploration.reset()
    this.dialer.stop()
    this.connections.closeAll('stopped', 'the manager stopped')
    await this.persist?.flush()
  }

  async close (): Promise<void> {
    if (this.closed) return
    await this.stop()
    this.closed = true
    if (this.persist !== undefined) {
      this.persist.cancel()
      await this.persist.store.close().catch((err) => { this.storeFailed(err as Error) })
    }
    this.decayer.closeAll()
    this.failures.end()
    this.observers.clear()
  }

  // ── knowledge of peers ──────────────────────────────────────────────────

  addPeers (peers: PeerInput[]): void {
    this.assertOpen()
    this.knowledge.add(peers)
    // A flag lifted or a priority lowered may make a parked peer evictable again.
    if (peers.some((p) => p?.hint !== true && (p?.longTerm === false || p?.bootstrap === false || p?.priority !== undefined))) this.budget.reconsider()
    this.observers.notify()
    this.dialer.requestPass()
  }

  setPriority (updates: Array<{ peer: PeerId | string; priority: Priority }>): void {
    this.assertOpen()
    this.knowledge.setPriority(updates)
    this.budget.reconsider()
    this.budget.enforce()
    this.observers.notify()
    this.dialer.requestPass()
  }

  setLongTerm (peer: PeerId, longTerm: boolean): void {
    this.assertOpen()
    this.knowledge.setLongTerm(peer, longTerm)
    this.budget.reconsider()
    this.budget.enforce()
    this.observers.notify()
    this.rotation.schedule()
    this.dialer.requestPass()
  }

  forgetPeer (peer: PeerId): void {
    if (this.closed) return // releasing: quiet after close
    if (this.knowledge.forget(peer)) this.observers.notify()
  }

  getPeer (peer: PeerId): PeerInfo | undefined {
    check.nonEmptyString('peer', peer)
    return this.book.resolve(peer)?.info()
  }

  listPeers (): PeerInfo[] {
    const out: PeerInfo[] = []
    for (const r of this.book.values()) out.push(r.info())
    return out
  }

  observePeers (listener: (peers: readonly PeerInfo[]) => void): () => void {
    check.fn('listener', listener)
    return this.observers.add(listener)
  }

  // ── connections (connections.ts) ────────────────────────────────────────

  connected (conn: Connection): boolean {
    check.connection(conn)
    if (this.connections.has(conn)) return true // a repeated notification
    const accepted = this.connections.accept(conn, false)
    this.budget.enforce() // a refused stranger is known now too
    return accepted
  }

  accepts (address: string): boolean {
    return !this.closed && !this.denyList.matches(undefined, address)
  }

  admits (peer: PeerId | string, address?: string): boolean {
    if (typeof peer !== 'string') return false
    return this.connections.admits(peer, address)
  }

  disconnected (conn: Connection): void {
    check.connectionRef(conn)
    const entry = this.connections.get(conn)
    if (entry === undefined) return // unknown or already closed by us: harmless
    this.connections.dropped(entry)
  }

  streamsChanged (conn: Connection): void {
    check.connectionRef(conn)
    const entry = this.connections.get(conn)
    if (entry !== undefined) this.trimming.streamsChanged(entry.record, entry.conn)
  }

  listConnections (): ConnectionInfo[] { return this.connections.list() }

  async connectNow (peer: PeerId | string, opts: { permanent?: boolean; signal?: AbortSignal } = {}): Promise<Connection> {
    this.assertOpen()
    check.nonEmptyString('peer', peer)
    const record = this.knowledge.resolveOrCreate(peer)
    if (record.priority === 'banned') throw new PeerwardenError('ERR_BANNED', `peer ${peer} is banned`)
    if (this.denyList.deniesPeer(record)) {
      throw new PeerwardenError('ERR_DENIED', `peer ${peer} is on the deny list`)
    }
    if (opts.permanent === true && !record.permanent) {
      record.permanent = true
      this.persist?.touch(record)
      this.trimming.peerChanged(record)
      this.dialer.peerChanged(record)
      this.observers.notify()
    }
    if (record.conn !== undefined) return record.conn.conn
    return await this.connections.forcedWhile(record, () => {
      const dialing = this.dialer.dialRecord(record, true, opts.signal)
      this.budget.enforce() // the record dials now: it stays
      return dialing
    })
  }

  resetBackoff (peer?: PeerId | string): void {
    this.assertOpen()
    if (peer !== undefined) check.nonEmptyString('peer', peer)
    const targets = peer !== undefined ? [this.book.resolve(peer)].filter((r) => r !== undefined) : [...this.book.values()].filter((r) => r.bootstrap)
    for (const r of targets) {
      r.nextDialAt = undefined
      r.decide(this.clock.now(), 'backoff', 'backoff reset by the application', this.opts.explainDepth)
      this.dialer.peerChanged(r)
    }
    this.dialer.requestPass()
  }

  /**
   * Closes the peer's connection with the reason 'stopped'. Like a trimmed peer, the peer then rests
   * (`restAfterClose`: 'disconnect') before the dialer would dial it again; `resetBackoff` or a dial
   * of the application's own (`connectNow`) bring it back sooner.
   */
  async disconnect (peer: PeerId): Promise<void> {
    check.nonEmptyString('peer', peer)
    if (this.closed) return // nothing is connected any more
    const entry = this.book.resolve(peer)?.conn
    if (entry === undefined) return
    this.connections.close(entry, 'stopped', 'disconnect() was called', 'disconnect')
  }

  // ── limits ──────────────────────────────────────────────────────────────

  setMaxConnections (max: number): void {
    check.int('max', max, 1)
    this.setWatermarks(Math.min(this.opts.lowWater, max), max)
  }

  setWatermarks (low: number, high: number): void {
    this.assertOpen()
    check.watermarks(low, high, 'low', 'high')
    this.opts.lowWater = low
    this.opts.highWater = high
    // The bound holds from creation: a lowered limit trims at once, started or not.
    if (this.connections.size > high) this.trimming.trim('limit', 'limit lowered')
    this.dialer.requestPass()
  }

  setLifetime (ms: number | undefined): void {
    this.assertOpen()
    if (ms !== undefined) check.duration('lifetime', ms, 1)
    this.opts.lifetime = ms
    this.rotation.reset()
    this.rotation.schedule()
  }

  // ── tags and protection (tagging.ts, decaying-tags.ts) ──────────────────

  tagPeer (peer: PeerId, tag: string, value: number): void {
    this.assertOpen()
    this.tagging.tag(peer, tag, value)
    this.budget.enforce()
  }

  untagPeer (peer: PeerId, tag: string): void {
    if (this.closed) return
    this.tagging.untag(peer, tag)
    this.budget.reconsider()
  }

  upsertTag (peer: PeerId, tag: string, upsert: (current: number) => number): void {
    this.assertOpen()
    this.tagging.upsert(peer, tag, upsert)
    this.budget.enforce()
  }

  getTagInfo (peer: PeerId): TagInfo | undefined { return this.tagging.info(peer) }

  protect (peer: PeerId, tag: string): void {
    this.assertOpen()
    this.tagging.protect(peer, tag)
    this.budget.enforce()
  }

  unprotect (peer: PeerId, tag: string): boolean {
    if (this.closed) return false
    const still = this.tagging.unprotect(peer, tag)
    if (!still) this.budget.reconsider()
    return still
  }

  isProtected (peer: PeerId, tag?: string): boolean { return this.tagging.isProtected(peer, tag) }

  registerDecayingTag (name: string, interval: number, decay: DecayFn, bump: BumpFn): DecayingTag {
    this.assertOpen()
    return this.decayer.register(name, interval, decay, bump)
  }

  async trim (): Promise<void> {
    this.assertOpen()
    this.trimming.trim('watermark', 'explicit')
  }

  setTopicQuota (topic: string, quota: { min: number; max?: number } | undefined): void {
    check.nonEmptyString('topic', topic)
    if (quota !== undefined) check.topicQuota(quota)
    if (quota === undefined && this.closed) return // releasing: quiet after close
    this.assertOpen()
    this.topics.setQuota(topic, quota)
    this.trimming.quotasChanged()
    this.dialer.requestPass()
    this.exploration.schedule()
  }

  // ── observation ─────────────────────────────────────────────────────────

  errors (): AsyncIterable<DialFailure> { return this.failures.iterate() }

  explain (peer: PeerId): Decision[] {
    check.nonEmptyString('peer', peer)
    const list = this.book.resolve(peer)?.decisions ?? this.strangers.get(peer) ?? []
    // A plain copy of each: a trim's decisions write their reason when it is read (explain.ts), so a spread would miss it.
    return list.map((d) => ({ at: d.at, action: d.action, reason: d.reason }))
  }

  stats (): ManagerStats {
    return {
      known: this.book.size,
      connections: this.connections.size,
      inbound: this.connections.inbound,
      outbound: this.connections.outbound,
      dialing: this.dialer.dialing,
      protected: this.tagging.protectedCount + this.dialer.permanentUnprotected(),
      banned: this.knowledge.bannedCount,
      lowWater: this.opts.lowWater,
      highWater: this.opts.highWater,
      maxPeers: this.opts.maxPeers,
      evicted: this.budget.evicted,
      addressWaits: this.dialer.addressWaits.size,
      hookErrors: this.knowledge.hookErrors,
      decisions: this.book.decisions.size,
      topics: this.topics.list()
    }
  }

  // ── internals ───────────────────────────────────────────────────────────

  private storeFailed (err: Error): void {
    // The store is a cache of what we learnt: losing a write must not take the manager down.
    this.events.emit('store:error', { error: err })
  }

  private assertOpen (): void {
    if (this.closed) throw PeerwardenError.closed('the connection manager')
  }
}

/** Creates a connection manager. It is off until `start()`. */
export function createConnectionManager (options: ConnectionManagerOptions): ConnectionManager {
  return new Manager(options)
}
