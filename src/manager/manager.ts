import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { AccessList } from './access-list.js'
import { admit, type Admission } from './admission.js'
import { Decayer } from './decaying-tags.js'
import { DEFAULT_BACKOFF } from './backoff.js'
import { DialScheduler } from './dial-scheduler.js'
import { keepIncoming } from './duplicates.js'
import { mergePriority } from './merge.js'
import { ErrorStream } from './error-stream.js'
import { InitialSync } from './initial-sync.js'
import { ManagerEventTarget } from './events.js'
import { PeerKnowledge } from './peer-knowledge.js'
import { Persistence } from './persistence.js'
import { PeerBook } from './peer-book.js'
import { PeerBudget, evictable } from './peer-budget.js'
import type { ConnEntry, PeerRecord } from './peer-record.js'
import { describeRank } from './rank.js'
import { Rotation } from './rotation.js'
import { StrangerLog } from './stranger-log.js'
import { Tagging } from './tagging.js'
import { TopicCounts } from './topics.js'
import { TrimScheduler } from './trim-scheduler.js'
import type {
  BumpFn, Clock, Connection, StoredPeer, ConnectionInfo, ConnectionManager, ConnectionManagerOptions, DecayFn, DecayingTag,
  Decision, DialFailure, ManagerStats, PeerId, PeerInfo, PeerInput, Priority, TagInfo
} from './types.js'
import * as check from './validate.js'

const STRANGERS = 1024

/**
 * The connection manager: wiring and policy. Each rule lives in its own part — admission
 * (`admission.ts`), trim order and timing (`rank.ts`, `trim-index.ts`, `trimmer.ts`, `trimming.ts`),
 * dialing (`dialer.ts`), duplicates (`duplicates.ts`), what is known of peers (`peer-knowledge.ts`),
 * tags and protection (`tagging.ts`), decay (`decaying-tags.ts`), lifetime (`rotation.ts`), initial
 * sync (`initial-sync.ts`), the store (`persistence.ts`) — and this class keeps the connection
 * accounting and applies their decisions.
 *
 * The bound, from creation (started or not): every `connected()` that would cross `highWater` either evicts the
 * lowest-ranked trimmable peer at once or is refused, so the count never exceeds `highWater` except
 * for connections the application forced (allow-listed, protected, permanent, `connectNow`), which a
 * background trim (at most once per `silencePeriod`) brings back down once they become trimmable.
 */
export class Manager implements ConnectionManager {
  readonly events = new ManagerEventTarget()
  readonly initialSync: InitialSync

  private readonly clock: Clock
  private readonly localPeer: PeerId | undefined
  private readonly opts: check.ResolvedOptions
  private readonly book: PeerBook
  private readonly budget: PeerBudget
  private readonly conns = new Map<string, ConnEntry>()
  /** Connections to peers that were bootstrap peers when they connected (see `releaseBootstraps`). */
  private readonly bootstrapConns = new Set<ConnEntry>()
  private readonly trimming: TrimScheduler
  private readonly rotation: Rotation
  private readonly allowList: AccessList
  private readonly denyList: AccessList
  private readonly decayer: Decayer
  private readonly topics = new TopicCounts(() => this.opts.highWater)
  private readonly failures = new ErrorStream()
  private readonly observers = new Set<(peers: readonly PeerInfo[]) => void>()
  private readonly strangers = new StrangerLog(STRANGERS)
  private readonly tagging: Tagging
  private readonly knowledge: PeerKnowledge
  private readonly forcing = new Set<string>()
  private readonly dialer: DialScheduler
  private readonly random: () => number
  private hookErrors = 0
  private inbound = 0
  private outbound = 0
  private isRunning = false
  private closed = false
  private notifyPending = false
  private readonly persist: Persistence | undefined
  private loaded: Promise<void> | undefined

  constructor (options: ConnectionManagerOptions) {
    this.opts = check.resolveOptions(options)
    this.clock = options.clock ?? systemClock
    this.budget = new PeerBudget({
      max: () => this.opts.maxPeers,
      known: () => this.book.size,
      evict: (r) => {
        // explain() still answers for a forgotten peer, from the bounded log of strangers.
        const why = `known peers above maxPeers ${this.opts.maxPeers}: ${r.hint ? 'known only from hints' : 'never connected'}, ${r.failures} failed dials in a row, the least useful`
        this.strangers.add(r.id ?? r.addresses[0] ?? r.key, { at: this.clock.now(), action: 'evict', reason: why }, this.opts.explainDepth)
        this.knowledge.forgetRecord(r)
      },
      records: () => this.book.values()
    })
    this.book = new PeerBook({
      created: (r) => { this.budget.track(r) },
      // A hint-only peer whose last address a connection proved to be another peer's: the claim was false.
      orphaned: (r) => { if (evictable(r, true)) this.knowledge.forgetRecord(r) }
    })
    this.localPeer = options.localPeer
    this.allowList = new AccessList('allow', this.opts.allow)
    this.denyList = new AccessList('deny', this.opts.deny)
    this.trimming = new TrimScheduler({
      clock: this.clock,
      topics: this.topics,
      running: () => this.isRunning,
      limits: () => this.opts,
      connections: () => this.conns.size,
      trimmable: (r) => this.trimmable(r),
      close: (r, why) => { if (r.conn !== undefined) this.closeEntry(r.conn, 'trimmed', why) },
      trimmed: (closed, reason) => { this.events.emit('trim', { closed, reason }) }
    })
    this.rotation = new Rotation({
      clock: this.clock,
      running: () => this.isRunning,
      lifetime: () => this.opts.lifetime,
      connections: () => this.conns.values(),
      rotate: (entry, why) => { this.closeEntry(entry, 'lifetime', why) }
    })
    this.decayer = new Decayer({
      clock: this.clock,
      record: (peer) => this.knowledge.record(peer),
      find: (peer) => this.book.get(peer),
      valueChanged: (r) => { r.recomputeValue(); this.reindex(r); this.changed(); this.budget.enforce() }
    })
    this.random = options.random ?? Math.random
    this.persist = options.store === undefined
      ? undefined
      : new Persistence(options.store, this.clock, this.opts.storeFlushInterval, (err) => { this.storeFailed(err) })
    this.dialer = new DialScheduler({
      clock: this.clock,
      random: this.random,
      dial: options.dial,
      localPeer: this.localPeer,
      limits: () => this.opts,
      records: () => this.book.values(),
      connections: () => this.conns.size,
      releasableBootstraps: () => this.releasableBootstraps().length,
      connectionTo: (peer) => this.book.get(peer)?.conn?.conn,
      denied: (r) => this.isDenied(r),
      needed: (r, planned) => this.topics.needs(r, planned),
      topicsShort: () => this.topics.short(),
      dialing: (topics, delta) => { this.topics.dialing(topics, delta) },
      accept: (conn, _record, forced) => this.conns.has(conn.id) || this.admitConnection(conn, forced),
      dialStarted: (r, address) => { this.events.emit('dial:started', { peer: r.id, address }) },
      addressFailed: (r, address, error) => { this.dialFailed(r, address, error) },
      decide: (r, action, reason) => {
        r.decide(this.clock.now(), action, reason, this.opts.explainDepth)
        this.persist?.touch(r)
      },
      dialEnded: (r) => { if (r.successes === 0 && !r.forgotten) this.budget.track(r) }
    })
    this.tagging = new Tagging({
      clock: this.clock,
      book: this.book,
      persist: this.persist,
      explainDepth: () => this.opts.explainDepth,
      rerank: (r) => {
        if (r.heapIndex !== -1) this.trimming.index.refresh(r, this.clock.now())
        if (r.candIndex !== -1) this.dialer.update(r)
      },
      reindex: (r) => { this.reindex(r) },
      checkBound: () => { this.trimming.checkBound() },
      changed: () => { this.changed() }
    })
    this.knowledge = new PeerKnowledge({
      clock: this.clock,
      book: this.book,
      topics: this.topics,
      persist: this.persist,
      dialer: this.dialer,
      hook: options.prioritise,
      explainDepth: () => this.opts.explainDepth,
      reindex: (r) => { this.reindex(r) },
      prioritised: (peer, priority) => { this.events.emit('peer:priority', { peer, priority }) },
      banned: (entry) => { this.closeEntry(entry, 'banned', 'the peer was banned') },
      forgotten: (r) => {
        this.decayer.forget(r)
        this.tagging.forget(r)
      },
      enforceBudget: () => { this.budget.enforce() },
      absorbed: (into, from) => {
        this.tagging.absorb(into, from)
        this.decayer.forget(from)
      },
      hookFailed: (hook, peer, error) => {
        this.hookErrors++
        this.events.emit('hook:error', { hook, peer, error })
      }
    })
    this.initialSync = new InitialSync({
      assertOpen: () => { this.assertOpen() },
      resolveOrCreate: (peer) => this.knowledge.resolveOrCreate(peer),
      connections: () => this.conns.values(),
      close: (entry, why) => { this.closeEntry(entry, 'initial-sync', why) },
      dialer: this.dialer
    })
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
    this.dialer.stop()
    for (const entry of [...this.conns.values()]) this.closeEntry(entry, 'stopped', 'the manager stopped')
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
    this.changed()
    this.dialer.kick()
  }

  setPriority (updates: Array<{ peer: PeerId | string; priority: Priority }>): void {
    this.assertOpen()
    this.knowledge.setPriority(updates)
    this.budget.reconsider()
    this.budget.enforce()
    this.changed()
    this.dialer.kick()
  }

  setLongTerm (peer: PeerId, longTerm: boolean): void {
    this.assertOpen()
    this.knowledge.setLongTerm(peer, longTerm)
    this.budget.reconsider()
    this.budget.enforce()
    this.changed()
    this.rotation.schedule()
    this.dialer.kick()
  }

  forgetPeer (peer: PeerId): void {
    if (this.closed) return // releasing: quiet after close
    if (this.knowledge.forget(peer)) this.changed()
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
    this.observers.add(listener)
    listener(this.listPeers())
    return () => { this.observers.delete(listener) }
  }

  // ── connection accounting ───────────────────────────────────────────────

  connected (conn: Connection): boolean {
    check.connection(conn)
    if (this.conns.has(conn.id)) return true // a repeated notification
    const accepted = this.admitConnection(conn, false)
    this.budget.enforce() // a refused stranger is known now too
    return accepted
  }

  /** `connected()` after validation; `forcedDial` = our own connectNow / permanent dial. */
  private admitConnection (conn: Connection, forcedDial: boolean): boolean {
    const now = this.clock.now()
    const denied = this.denyList.matches(conn.peer, conn.address)
    if (this.closed || denied) {
      const close = this.closed ? 'stopped' : 'denied'
      return this.refuse(conn, this.book.get(conn.peer), close, this.closed ? 'the manager is closed' : 'peer or address is on the deny list')
    }
    const record = this.knowledge.forConnection(conn, now)
    const existing = record.conn
    if (existing !== undefined && record.priority !== 'banned') {
      if (!keepIncoming(existing.conn, conn, this.localPeer)) {
        return this.refuse(conn, record, 'duplicate', `already connected (${existing.conn.direction}); the tie-break keeps the existing connection`)
      }
      // The peer never stops being connected: no peer:disconnected / peer:connected for the swap.
      this.closeEntry(existing, 'duplicate', `replaced by a new ${conn.direction} connection: the tie-break keeps the one initiated by the larger id`, true)
      this.attach(conn, record, now, 'accept', `replaces a duplicate ${existing.conn.direction} connection`, true)
      this.events.emit('connection:replaced', { peer: conn.peer, connection: conn, replaced: existing.conn })
      return true
    }
    const decision = this.admission(record, conn.peer, conn.address, forcedDial)
    if (!decision.accept) return this.refuse(conn, record, decision.close, decision.reason)
    if (decision.evict?.conn !== undefined) {
      this.closeEntry(decision.evict.conn, 'trimmed', `evicted to make room for ${conn.peer} at highWater ${this.opts.highWater}: lowest-ranked trimmable peer (${describeRank(decision.evict)})`)
      this.events.emit('trim', { closed: 1, reason: 'admission' })
    }
    this.attach(conn, record, now, 'accept', `${conn.direction} connection accepted: ${decision.reason}`)
    this.trimming.checkBound()
    return true
  }

  accepts (address: string): boolean {
    return !this.closed && !this.denyList.matches(undefined, address)
  }

  admits (peer: PeerId | string, address?: string): boolean {
    if (this.closed || typeof peer !== 'string' || this.denyList.matches(peer, address)) return false
    // The record connected() would use (the same lookup): one known by this address only, merged into
    // the peer's own when both exist — previewed here without merging.
    const { byAddress, own } = this.knowledge.lookup(peer, address)
    const record = byAddress !== undefined && own !== undefined ? previewMerge(own, byAddress) : byAddress ?? own
    if (record?.priority === 'banned') return false
    if (record?.conn !== undefined) return true // the duplicate rule decides in connected()
    return this.admission(record, peer, address, false).accept
  }

  /**
   * The admission decision (admission.ts) for a peer not connected now, past the deny list: forced
   * when the application dials it or it is protected or permanent; at the bound, the victim is the
   * lowest-ranked trimmable peer other than itself.
   */
  private admission (record: PeerRecord | undefined, peer: PeerId, address: string | undefined, forcedDial: boolean): Admission {
    const forced = forcedDial || (address !== undefined && this.forcing.has(address)) ||
      (record !== undefined && (record.isProtected || record.permanent || this.forcing.has(record.key)))
    const count = this.conns.size
    const priority = record?.priority ?? 'medium'
    const allowed = this.allowList.matches(peer, address)
    // The bound holds from creation: admission applies whether or not the manager runs.
    const atBound = count >= this.opts.highWater
    return admit({
      priority,
      allowed,
      forced,
      count,
      highWater: this.opts.highWater,
      // What the application wants may take anyone's place; a stranger only that of a peer it outranks or equals.
      victim: atBound ? this.trimming.lowest(record, allowed || forced ? undefined : priority) : undefined,
      trimmable: atBound ? this.trimming.index.size : 0
    })
  }

  disconnected (conn: Connection): void {
    check.connectionRef(conn)
    const entry = this.conns.get(conn.id)
    if (entry === undefined) return // unknown or already closed by us: harmless
    const { record } = entry
    const now = this.clock.now()
    // A peer that dropped us is not redialled at once (unless long-term or permanent): if it dropped
    // us because it is full, an immediate redial would only make it evict someone else.
    if (!record.longTerm && !record.permanent) record.nextDialAt = now + this.jitter(DEFAULT_BACKOFF.afterDisconnect)
    this.detach(entry)
    record.decide(now, 'disconnected', 'the transport reported the connection closed', this.opts.explainDepth)
  }

  listConnections (): ConnectionInfo[] {
    const out: ConnectionInfo[] = []
    for (const { conn, record, openedAt } of this.conns.values()) {
      out.push({ id: conn.id, peer: conn.peer, direction: conn.direction, address: conn.address, openedAt, value: record.value, protected: record.isProtected || record.permanent })
    }
    return out
  }

  async connectNow (peer: PeerId | string, opts: { permanent?: boolean; signal?: AbortSignal } = {}): Promise<Connection> {
    this.assertOpen()
    check.nonEmptyString('peer', peer)
    const record = this.knowledge.resolveOrCreate(peer)
    if (record.priority === 'banned') throw new PeerwardenError('ERR_BANNED', `peer ${peer} is banned`)
    if (this.isDenied(record)) {
      throw new PeerwardenError('ERR_DENIED', `peer ${peer} is on the deny list`)
    }
    if (opts.permanent === true && !record.permanent) {
      record.permanent = true
      this.persist?.touch(record)
      this.reindex(record)
      this.changed()
    }
    if (record.conn !== undefined) return record.conn.conn
    // While we dial, the transport may report the connection before dial() resolves: it is forced too.
    const keys = [record.key, ...record.addresses]
    keys.forEach((k) => this.forcing.add(k))
    try {
      const dialing = this.dialer.dialRecord(record, true, opts.signal)
      this.budget.enforce() // the record dials now: it stays
      return await dialing
    } finally {
      keys.forEach((k) => this.forcing.delete(k))
    }
  }

  resetBackoff (peer?: PeerId | string): void {
    this.assertOpen()
    if (peer !== undefined) check.nonEmptyString('peer', peer)
    const targets = peer !== undefined ? [this.book.resolve(peer)].filter((r) => r !== undefined) : [...this.book.values()].filter((r) => r.bootstrap)
    for (const r of targets) {
      r.nextDialAt = undefined
      r.decide(this.clock.now(), 'backoff', 'backoff reset by the application', this.opts.explainDepth)
      this.dialer.update(r)
    }
    this.dialer.kick()
  }

  /**
   * Closes the peer's connection with the reason 'stopped'. Like a trimmed peer, the peer then rests
   * (`backoff.afterTrim`) before the dialer would dial it again; `resetBackoff` or a dial of the
   * application's own (`connectNow`) bring it back sooner.
   */
  async disconnect (peer: PeerId): Promise<void> {
    check.nonEmptyString('peer', peer)
    if (this.closed) return // nothing is connected any more
    const entry = this.book.resolve(peer)?.conn
    if (entry === undefined) return
    entry.record.nextDialAt = this.clock.now() + this.jitter(DEFAULT_BACKOFF.afterTrim)
    this.closeEntry(entry, 'stopped', 'disconnect() was called')
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
    if (this.conns.size > high) this.trimming.trim('limit', 'limit lowered')
    this.dialer.kick()
  }

  setLifetime (ms: number | undefined): void {
    this.assertOpen()
    if (ms !== undefined) check.duration('lifetime', ms, 1)
    this.opts.lifetime = ms
    this.rotation.reset()
    this.rotation.schedule()
  }

  // ── tags and protection ─────────────────────────────────────────────────

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
    if (quota !== undefined) {
      check.int('quota.min', quota?.min, 0)
      if (quota.max !== undefined) {
        check.int('quota.max', quota.max, 0)
        if (quota.max < quota.min) throw check.invalidRange('quota.min', 'quota.max', quota.min, quota.max)
      }
    }
    if (quota === undefined && this.closed) return // releasing: quiet after close
    this.assertOpen()
    this.topics.setQuota(topic, quota)
    this.trimming.quotasChanged()
    this.dialer.kick()
  }

  // ── observation ─────────────────────────────────────────────────────────

  errors (): AsyncIterable<DialFailure> { return this.failures.iterate() }

  explain (peer: PeerId): Decision[] {
    check.nonEmptyString('peer', peer)
    const list = this.book.resolve(peer)?.decisions ?? this.strangers.get(peer) ?? []
    return list.map((d) => ({ ...d }))
  }

  stats (): ManagerStats {
    return {
      known: this.book.size,
      connections: this.conns.size,
      inbound: this.inbound,
      outbound: this.outbound,
      dialing: this.dialer.dialing,
      protected: this.tagging.protectedCount + this.dialer.permanentUnprotected(),
      banned: this.knowledge.bannedCount,
      lowWater: this.opts.lowWater,
      highWater: this.opts.highWater,
      maxPeers: this.opts.maxPeers,
      evicted: this.budget.evicted,
      addressWaits: this.dialer.addressWaits.size,
      hookErrors: this.hookErrors,
      topics: this.topics.list()
    }
  }

  // ── internals ───────────────────────────────────────────────────────────

  /** Brings back the peers the store remembers (their history orders the first dials). */
  private async restore (): Promise<void> {
    let stored: StoredPeer[]
    try {
      stored = await this.persist!.store.load()
    } catch (err) {
      this.storeFailed(err as Error)
      return
    }
    if (this.closed) return
    const skipped = this.knowledge.restore(Array.isArray(stored) ? stored : [])
    if (skipped.length > 0) {
      this.storeFailed(new PeerwardenError('ERR_STORE_ROWS', `the store returned ${skipped.length} peer(s) that could not be restored, skipped: ${skipped.slice(0, 10).join('; ')}`))
    }
    this.budget.enforce()
    this.changed()
  }

  private storeFailed (err: Error): void {
    // The store is a cache of what we learnt: losing a write must not take the manager down.
    this.events.emit('store:error', { error: err })
  }

  private isDenied (r: PeerRecord): boolean {
    if (this.denyList.empty) return false
    if (this.denyList.hasPeer(r.id)) return true
    return r.addresses.length > 0 && r.addresses.every((a) => this.denyList.matches(undefined, a))
  }

  private jitter (ms: number): number {
    return Math.round(ms * (0.75 + 0.5 * this.random()))
  }

  /** May trimming close this connected peer (grace aside)? */
  private trimmable (r: PeerRecord): boolean {
    return !r.isProtected && !r.allowed && !r.permanent && r.priority !== 'banned'
  }

  /** Re-ranks the peer wherever it is indexed (trimming, dialing) after anything about it changed. */
  private reindex (record: PeerRecord): void {
    this.trimming.refresh(record)
    this.dialer.update(record)
  }

  /** Tells observers, once per tick however many changes happened. */
  private changed (): void {
    if (this.observers.size === 0 || this.notifyPending) return
    this.notifyPending = true
    queueMicrotask(() => {
      this.notifyPending = false
      if (this.observers.size === 0) return
      const peers = this.listPeers()
      for (const l of this.observers) l(peers)
    })
  }

  private assertOpen (): void {
    if (this.closed) throw PeerwardenError.closed('the connection manager')
  }

  private attach (conn: Connection, record: PeerRecord, now: number, action: string, reason: string, swap = false): void {
    const entry: ConnEntry = { conn, record, openedAt: now }
    this.conns.set(conn.id, entry)
    record.conn = entry
    record.inbound = conn.direction === 'inbound'
    record.openedAt = now
    record.allowed = this.allowList.matches(conn.peer, conn.address)
    record.lastConnected = now
    record.successes++
    record.hint = false // the handshake proved the peer
    this.persist?.touch(record)
    if (record.inbound) this.inbound++
    else {
      this.outbound++
      if (conn.address !== undefined) {
        // The handshake proved the id at this address: it is the peer's, whoever claimed it.
        this.book.addAddress(record, conn.address)
        record.hinted?.delete(conn.address)
      }
    }
    this.topics.attach(record.topics)
    if (record.bootstrap) this.bootstrapConns.add(entry)
    this.trimming.opened(record, now)
    this.dialer.update(record)
    this.dialer.progress()
    this.rotation.schedule()
    record.decide(now, action, reason, this.opts.explainDepth)
    if (!swap) this.events.emit('peer:connected', { peer: conn.peer, connection: conn })
    this.changed()
    if (!record.bootstrap) this.releaseBootstraps()
  }

  /**
   * The bootstrap connections the manager will let go once the others reach lowWater: outbound (we
   * dialled it to get started; a bootstrap peer that dialled us chose to), not protected, permanent,
   * long-term nor allow-listed.
   */
  private releasableBootstraps (): ConnEntry[] {
    if (this.bootstrapConns.size === 0 || !this.opts.releaseBootstrap) return []
    const out: ConnEntry[] = []
    for (const e of this.bootstrapConns) {
      const r = e.record
      if (r.conn === e && r.bootstrap && e.conn.direction === 'outbound' && !r.isProtected && !r.permanent && !r.longTerm && !r.allowed) out.push(e)
    }
    return out
  }

  /**
   * Bootstrap peers are for getting started (they would otherwise stay occupied by every node that
   * ever joined through them): once the node holds lowWater connections besides them, it closes its
   * releasable bootstrap connections ('trimmed'), except one a topic quota still needs.
   */
  private releaseBootstraps (): void {
    if (!this.running || this.bootstrapConns.size === 0 || !this.opts.releaseBootstrap) return
    const releasable = this.releasableBootstraps()
    const others = this.conns.size - releasable.length
    if (releasable.length === 0 || others < this.opts.lowWater) return
    const taken: PeerRecord[] = []
    for (const e of releasable) {
      if (!this.topics.canClose(e.record, taken)) continue
      taken.push(e.record)
      this.closeEntry(e, 'trimmed', `released: ${others} other connections reach lowWater ${this.opts.lowWater}, and a bootstrap peer is for getting started`)
    }
  }

  /** Removes the connection from the accounting (the count drops at once). */
  private detach (entry: ConnEntry, swap = false): void {
    const { record, conn } = entry
    this.persist?.touch(record)
    this.conns.delete(conn.id)
    this.bootstrapConns.delete(entry)
    if (record.conn === entry) {
      record.conn = undefined
      record.allowed = false
      this.trimming.closed(record)
      this.dialer.update(record)
      this.topics.detach(record.topics)
    }
    if (conn.direction === 'inbound') this.inbound--
    else this.outbound--
    if (!swap) {
      this.events.emit('peer:disconnected', { peer: conn.peer })
      this.dialer.kick()
    }
    this.changed()
  }

  private closeEntry (entry: ConnEntry, reason: string, why: string, swap = false): void {
    const { record } = entry
    // A peer we trimmed or rotated out rests before we would dial it again (no trim/redial loops).
    if (reason === 'trimmed' || reason === 'initial-sync') record.nextDialAt = this.clock.now() + this.jitter(DEFAULT_BACKOFF.afterTrim)
    else if (reason === 'lifetime') record.nextDialAt = this.clock.now() + (this.opts.lifetime ?? 0)
    this.detach(entry, swap)
    entry.record.decide(this.clock.now(), reason === 'trimmed' ? 'trim' : 'close', `${reason}: ${why}`, this.opts.explainDepth)
    this.events.emit('connection:closed', { connection: entry.conn, reason })
    safeClose(entry.conn, reason)
  }

  private refuse (conn: Connection, record: PeerRecord | undefined, reason: string, why: string): false {
    const decision = { at: this.clock.now(), action: 'refuse', reason: `${reason}: ${why}` }
    if (record !== undefined) record.decide(decision.at, decision.action, decision.reason, this.opts.explainDepth)
    else this.strangers.add(conn.peer, decision, this.opts.explainDepth)
    this.events.emit('connection:refused', { connection: conn, reason })
    safeClose(conn, reason)
    return false
  }

  private dialFailed (record: PeerRecord, address: string, error: Error): void {
    const failure: DialFailure = { peer: record.id, address, error, at: this.clock.now() }
    record.decide(failure.at, 'dial-failed', `${address}: ${error.message}`, this.opts.explainDepth)
    this.events.emit('dial:failed', failure)
    this.failures.publish(failure)
  }
}

/**
 * What `connected()` would make of the peer's record once the record known by its address only is
 * merged into it (merge.ts), for `admits()`: a view that changes neither record.
 */
function previewMerge (own: PeerRecord, byAddress: PeerRecord): PeerRecord {
  const view = Object.create(own) as PeerRecord
  view.priority = mergePriority(own.priority, byAddress.priority)
  view.permanent = own.permanent || byAddress.permanent
  view.longTerm = own.longTerm || byAddress.longTerm
  if (byAddress.isProtected) view.protections = new Set([...(own.protections ?? []), ...byAddress.protections!])
  return view
}

function safeClose (conn: Connection, reason: string): void {
  try {
    const r = conn.close(reason)
    if (r !== undefined && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => {})
  } catch {
    // A transport that throws while closing has still lost the connection for us.
  }
}

/** Creates a connection manager. It is off until `start()`. */
export function createConnectionManager (options: ConnectionManagerOptions): ConnectionManager {
  return new Manager(options)
}
