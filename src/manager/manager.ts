import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { AccessList } from './access-list.js'
import { admit } from './admission.js'
import { Decayer } from './decaying-tags.js'
import { compareCandidates } from './candidates.js'
import { Dialer } from './dialer.js'
import { keepIncoming } from './duplicates.js'
import { ErrorStream } from './error-stream.js'
import { ManagerEventTarget } from './events.js'
import { mergeStored, Persistence } from './persistence.js'
import { PeerBook } from './peer-book.js'
import { PeerRecord, type ConnEntry } from './peer-record.js'
import { describeRank } from './rank.js'
import { Rotation } from './rotation.js'
import { TopicCounts } from './topics.js'
import { Trimming } from './trimming.js'
import type {
  BumpFn, Clock, Connection, StoredPeer, ConnectionInfo, ConnectionManager, ConnectionManagerOptions, DecayFn, DecayingTag,
  Decision, DialFailure, ManagerStats, PeerId, PeerInfo, PeerInput, Priority, TagInfo
} from './types.js'
import * as check from './validate.js'

const STRANGERS = 1024

/**
 * The connection manager: wiring and policy. Each rule lives in its own part — admission
 * (`admission.ts`), trim order (`rank.ts`, `trim-index.ts`, `trimmer.ts`), duplicates
 * (`duplicates.ts`), decay (`decaying-tags.ts`) — and this class applies their decisions.
 *
 * The bound: while running, every `connected()` that would cross `highWater` either evicts the
 * lowest-ranked trimmable peer at once or is refused, so the count never exceeds `highWater` except
 * for connections the application forced (allow-listed, protected, permanent, `connectNow`), which a
 * background trim (at most once per `silencePeriod`) brings back down once they become trimmable.
 */
export class Manager implements ConnectionManager {
  readonly events = new ManagerEventTarget()
  readonly initialSync: ConnectionManager['initialSync']

  private readonly clock: Clock
  private readonly dialFn: ConnectionManagerOptions['dial']
  private readonly localPeer: PeerId | undefined
  private readonly hook: ConnectionManagerOptions['prioritise']
  private readonly opts: check.ResolvedOptions
  private readonly book = new PeerBook()
  private readonly conns = new Map<string, ConnEntry>()
  private readonly trimming: Trimming
  private readonly rotation: Rotation
  private readonly allowList: AccessList
  private readonly denyList: AccessList
  private readonly decayer: Decayer
  private readonly topics = new TopicCounts()
  private readonly failures = new ErrorStream()
  private readonly observers = new Set<(peers: readonly PeerInfo[]) => void>()
  private readonly strangers = new Map<PeerId, Decision[]>()
  private readonly forcing = new Set<string>()
  private readonly dialer: Dialer
  private readonly random: () => number
  private inbound = 0
  private outbound = 0
  private bannedCount = 0
  private protectedCount = 0
  private isRunning = false
  private closed = false
  private notifyPending = false
  private syncActive = false
  private readonly persist: Persistence | undefined
  private loaded: Promise<void> | undefined

  constructor (options: ConnectionManagerOptions) {
    this.opts = check.resolveOptions(options)
    this.clock = options.clock ?? systemClock
    this.dialFn = options.dial
    this.localPeer = options.localPeer
    this.hook = options.prioritise
    this.allowList = new AccessList('allow', this.opts.allow)
    this.denyList = new AccessList('deny', this.opts.deny)
    this.trimming = new Trimming({
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
      record: (peer) => this.recordFor(peer),
      find: (peer) => this.book.get(peer),
      valueChanged: (r) => { r.recomputeValue(); this.reindex(r); this.changed() }
    })
    this.random = options.random ?? Math.random
    this.persist = options.store === undefined
      ? undefined
      : new Persistence(options.store, this.clock, this.opts.storeFlushInterval, (err) => { this.storeFailed(err) })
    this.dialer = new Dialer({
      clock: this.clock,
      random: this.random,
      dial: this.dialFn,
      localPeer: this.localPeer,
      limits: () => this.opts,
      records: () => this.book.values(),
      connections: () => this.conns.size,
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
      }
    })
    const self = this
    this.initialSync = {
      start (peer?: PeerId | string) { self.startInitialSync(peer) },
      stop () {
        if (!self.syncActive) return
        self.syncActive = false
        self.dialer.stopSync()
      },
      get active () { return self.syncActive }
    }
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
    if (!Array.isArray(peers)) throw PeerwardenError.invalid('peers must be an array')
    peers.forEach((p, i) => check.peerInput(p, `peers[${i}]`))
    const now = this.clock.now()
    for (const input of peers) {
      const addresses = [...(input.address !== undefined ? [input.address] : []), ...(input.addresses ?? [])]
      let record: PeerRecord
      let created = false
      if (input.id !== undefined) {
        ({ record, created } = this.book.getOrCreate(input.id, now))
        for (const a of addresses) {
          const owner = this.book.byAddress(a)
          if (owner !== undefined && owner.id === undefined && owner !== record) record = this.assignId(owner, input.id)
        }
      } else {
        const known = addresses.map((a) => this.book.byAddress(a)).find((r) => r !== undefined)
        created = known === undefined
        record = known ?? this.book.createForAddress(addresses[0], now)
      }
      for (const a of addresses) this.book.addAddress(record, a)
      if (input.topics !== undefined) this.setTopics(record, input.topics)
      if (input.longTerm !== undefined) record.longTerm = input.longTerm
      if (input.bootstrap !== undefined) record.bootstrap = input.bootstrap
      if (input.priority !== undefined) this.applyPriority(record, input.priority, 'given by addPeers')
      if (created) this.consultHook(record, 'added')
      this.reindex(record)
      this.persist?.touch(record)
    }
    this.changed()
    this.dialer.kick()
  }

  setPriority (updates: Array<{ peer: PeerId | string; priority: Priority }>): void {
    this.assertOpen()
    if (!Array.isArray(updates)) throw PeerwardenError.invalid('updates must be an array')
    updates.forEach((u, i) => {
      check.nonEmptyString(`updates[${i}].peer`, u?.peer)
      check.priority(`updates[${i}].priority`, u.priority)
    })
    for (const { peer, priority } of updates) this.applyPriority(this.resolveOrCreate(peer), priority, 'set by setPriority')
    this.changed()
    this.dialer.kick()
  }

  setLongTerm (peer: PeerId, longTerm: boolean): void {
    this.assertOpen()
    check.nonEmptyString('peer', peer)
    if (typeof longTerm !== 'boolean') throw PeerwardenError.invalid('longTerm must be a boolean')
    const record = this.resolveOrCreate(peer)
    record.longTerm = longTerm
    this.persist?.touch(record)
    this.reindex(record)
    this.changed()
    this.rotation.schedule()
    this.dialer.kick()
  }

  forgetPeer (peer: PeerId): void {
    check.nonEmptyString('peer', peer)
    const record = this.book.resolve(peer)
    if (record === undefined) return
    this.decayer.forget(record)
    if (record.isProtected) this.protectedCount--
    if (record.priority === 'banned') this.bannedCount--
    if (record.conn !== undefined) {
      // The live connection stays accounted; only what we knew about the peer goes.
      record.tags = record.decaying = record.protections = undefined
      record.value = 0
      record.priority = 'medium'
      record.longTerm = record.permanent = record.bootstrap = false
      this.setTopics(record, [])
      this.reindex(record)
    } else {
      this.setTopics(record, [])
      this.book.delete(record)
      this.persist?.remove(record.key, record)
      this.dialer.remove(record)
      return this.changed()
    }
    this.persist?.touch(record)
    this.changed()
  }

  getPeer (peer: PeerId): PeerInfo | undefined {
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
    return this.admitConnection(conn, false)
  }

  /** `connected()` after validation; `forcedDial` = our own connectNow / permanent dial. */
  private admitConnection (conn: Connection, forcedDial: boolean): boolean {
    const now = this.clock.now()
    const denied = this.denyList.matches(conn.peer, conn.address)
    if (this.closed || denied) {
      const close = this.closed ? 'stopped' : 'denied'
      return this.refuse(conn, this.book.get(conn.peer), close, this.closed ? 'the manager is closed' : 'peer or address is on the deny list')
    }
    const record = this.recordForConnection(conn, now)
    this.consultHook(record, 'connected')
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
    const forced = forcedDial || record.isProtected || record.permanent || this.forcing.has(record.key) ||
      (conn.address !== undefined && this.forcing.has(conn.address))
    const needVictim = this.isRunning && this.conns.size >= this.opts.highWater
    const decision = admit({
      closed: false,
      running: this.isRunning,
      priority: record.priority,
      denied: false,
      allowed: this.allowList.matches(conn.peer, conn.address),
      forced,
      count: this.conns.size,
      highWater: this.opts.highWater,
      victim: needVictim ? this.trimming.lowest(record) : undefined
    })
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
    // The record connected() would use: one known by this address only, else the peer's own.
    const owner = address !== undefined ? this.book.byAddress(address) : undefined
    const record = owner !== undefined && owner.id === undefined ? owner : this.book.get(peer)
    const priority = record?.priority ?? 'medium'
    if (priority === 'banned') return false
    if (record?.conn !== undefined) return true // the duplicate rule decides in connected()
    const forced = record !== undefined && (record.isProtected || record.permanent || this.forcing.has(record.key))
    const count = this.conns.size
    const needVictim = this.isRunning && count >= this.opts.highWater
    return admit({
      closed: false,
      running: this.isRunning,
      priority,
      denied: false,
      allowed: this.allowList.matches(peer, address),
      forced: forced || (address !== undefined && this.forcing.has(address)),
      count,
      highWater: this.opts.highWater,
      victim: needVictim ? this.trimming.lowest(record) : undefined
    }).accept
  }

  disconnected (conn: Connection): void {
    if (conn == null || typeof conn.id !== 'string') return
    const entry = this.conns.get(conn.id)
    if (entry === undefined) return // unknown or already closed by us: harmless
    const { record } = entry
    const now = this.clock.now()
    // A peer that dropped us is not redialled at once (unless long-term or permanent): if it dropped
    // us because it is full, an immediate redial would only make it evict someone else.
    if (!record.longTerm && !record.permanent) record.nextDialAt = now + this.jitter(this.dialer.policy.afterDisconnect)
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
    const record = this.resolveOrCreate(peer)
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
      return await this.dialer.dialRecord(record, true, opts.signal)
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
    const entry = this.book.resolve(peer)?.conn
    if (entry === undefined) return
    entry.record.nextDialAt = this.clock.now() + this.jitter(this.dialer.policy.afterTrim)
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
    if (this.isRunning && this.conns.size > high) this.trimming.trim('limit', 'limit lowered')
    this.dialer.kick()
  }

  setLifetime (ms: number | undefined): void {
    if (ms !== undefined) check.duration('lifetime', ms, 1)
    this.opts.lifetime = ms
    this.rotation.reset()
    this.rotation.schedule()
  }

  // ── tags and protection ─────────────────────────────────────────────────

  tagPeer (peer: PeerId, tag: string, value: number): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    check.finite('value', value)
    this.setTag(this.recordFor(peer), tag, value)
  }

  untagPeer (peer: PeerId, tag: string): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    const record = this.book.get(peer)
    const old = record?.tags?.get(tag)
    if (record === undefined || old === undefined) return
    record.tags!.delete(tag)
    this.persist?.touch(record)
    record.value -= old
    this.reindex(record)
    this.changed()
  }

  upsertTag (peer: PeerId, tag: string, upsert: (current: number) => number): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    check.fn('upsert', upsert)
    const record = this.recordFor(peer)
    this.setTag(record, tag, check.finite('upsert result', upsert(record.tags?.get(tag) ?? 0)))
  }

  getTagInfo (peer: PeerId): TagInfo | undefined {
    const record = this.book.get(peer)
    if (record === undefined) return undefined
    const tags: Record<string, number> = {}
    if (record.tags !== undefined) for (const [k, v] of record.tags) tags[k] = v
    if (record.decaying !== undefined) for (const [k, d] of record.decaying) tags[k] = d.value
    const conns: Record<string, number> = {}
    if (record.conn !== undefined) conns[record.conn.conn.id] = record.conn.openedAt
    return { firstSeen: record.firstSeen, value: record.value, tags, conns }
  }

  protect (peer: PeerId, tag: string): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    const record = this.recordFor(peer)
    if (record.protections?.has(tag) === true) return
    if (!record.isProtected) this.protectedCount++
    ;(record.protections ??= new Set()).add(tag)
    record.decide(this.clock.now(), 'protect', `protected under tag ${JSON.stringify(tag)}`, this.opts.explainDepth)
    this.reindex(record)
    this.changed()
  }

  unprotect (peer: PeerId, tag: string): boolean {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    const record = this.book.get(peer)
    if (record?.protections === undefined) return false
    if (record.protections.delete(tag)) {
      record.decide(this.clock.now(), 'unprotect', `protection ${JSON.stringify(tag)} removed; ${record.protections.size} left`, this.opts.explainDepth)
      if (!record.isProtected) {
        this.protectedCount--
        this.reindex(record)
        this.trimming.checkBound()
      }
      this.changed()
    }
    return record.isProtected
  }

  isProtected (peer: PeerId, tag?: string): boolean {
    const p = this.book.get(peer)?.protections
    if (p === undefined) return false
    return tag === undefined || tag === '' ? p.size > 0 : p.has(tag)
  }

  registerDecayingTag (name: string, interval: number, decay: DecayFn, bump: BumpFn): DecayingTag {
    this.assertOpen()
    return this.decayer.register(name, interval, decay, bump)
  }

  async trim (): Promise<void> {
    if (this.closed) return
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
    this.topics.setQuota(topic, quota)
    this.dialer.kick()
  }

  // ── observation ─────────────────────────────────────────────────────────

  errors (): AsyncIterable<DialFailure> { return this.failures.iterate() }

  explain (peer: PeerId): Decision[] {
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
      protected: this.protectedCount,
      banned: this.bannedCount,
      lowWater: this.opts.lowWater,
      highWater: this.opts.highWater
    }
  }

  // ── internals ───────────────────────────────────────────────────────────

  /** Files an address-only record under its id, and tells the store. */
  private assignId (record: PeerRecord, id: PeerId): PeerRecord {
    const oldKey = record.key
    const result = this.book.assignId(record, id)
    if (result !== record) {
      this.dialer.remove(record)
      this.dialer.update(result)
    }
    if (this.persist !== undefined && result.key !== oldKey) this.persist.rekeyed(oldKey, result)
    return result
  }

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
    for (const p of stored) {
      let record: PeerRecord
      if (p.id !== undefined) record = this.book.getOrCreate(p.id, p.firstSeen ?? this.clock.now()).record
      else if (p.addresses.length > 0) record = this.book.byAddress(p.addresses[0]) ?? this.book.createForAddress(p.addresses[0], p.firstSeen ?? this.clock.now())
      else continue
      for (const a of p.addresses) this.book.addAddress(record, a)
      if (record.conn === undefined) this.setTopics(record, p.topics ?? [])
      mergeStored(record, p)
      if (p.priority !== undefined && p.priority !== 'medium' && record.priority === 'medium') this.applyPriority(record, p.priority, 'restored from the store')
      this.consultHook(record, 'added')
      this.reindex(record)
    }
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

  /**
   * Initial sync: every outbound connection but one is closed ('initial-sync'), permanent ones
   * aside, and only that one peer is dialled until `stop()`. Inbound connections stay accounted.
   */
  private startInitialSync (peer?: PeerId | string): void {
    this.assertOpen()
    if (peer !== undefined) check.nonEmptyString('peer', peer)
    const given = peer === undefined ? undefined : this.resolveOrCreate(peer)
    const needed = (): boolean => false
    let keep = given
    if (keep === undefined) {
      for (const { record, conn } of this.conns.values()) {
        if (conn.direction !== 'outbound' || record.permanent) continue
        if (keep === undefined || compareCandidates(record, keep, needed) < 0) keep = record
      }
    }
    this.syncActive = true
    for (const entry of [...this.conns.values()]) {
      if (entry.conn.direction === 'outbound' && entry.record !== keep && !entry.record.permanent) {
        this.closeEntry(entry, 'initial-sync', `initial sync keeps one outbound connection (${keep?.id ?? keep?.key ?? 'to be chosen'})`)
      }
    }
    this.dialer.startSync(given, keep)
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

  private recordFor (peer: PeerId): PeerRecord {
    return this.book.getOrCreate(peer, this.clock.now()).record
  }

  private resolveOrCreate (peerOrAddress: string): PeerRecord {
    const found = this.book.resolve(peerOrAddress)
    if (found !== undefined) return found
    return isAddress(peerOrAddress) ? this.book.createForAddress(peerOrAddress, this.clock.now()) : this.recordFor(peerOrAddress)
  }

  private recordForConnection (conn: Connection, now: number): PeerRecord {
    // A peer we knew by address only (say, dialled by address) learns its id here; if a record with
    // that id appeared meanwhile (an inbound connection, peer exchange), the two become one.
    if (conn.address !== undefined) {
      const owner = this.book.byAddress(conn.address)
      if (owner !== undefined && owner.id === undefined) return this.assignId(owner, conn.peer)
    }
    return this.book.get(conn.peer) ?? this.book.getOrCreate(conn.peer, now).record
  }

  private consultHook (record: PeerRecord, when: 'added' | 'connected'): void {
    if (this.hook === undefined) return
    const answer = this.hook(record.info())
    if (answer === undefined) return
    this.applyPriority(record, check.priority('prioritise() result', answer), `prioritise() hook when ${when}`)
  }

  private applyPriority (record: PeerRecord, priority: Priority, why: string): void {
    if (record.priority === priority) return
    if (record.priority === 'banned') this.bannedCount--
    if (priority === 'banned') this.bannedCount++
    const now = this.clock.now()
    record.priority = priority
    this.persist?.touch(record)
    record.decide(now, priority === 'banned' ? 'ban' : 'priority', `priority ${priority}: ${why}`, this.opts.explainDepth)
    this.events.emit('peer:priority', { peer: record.id ?? record.key, priority })
    if (priority === 'banned' && record.conn !== undefined) this.closeEntry(record.conn, 'banned', 'the peer was banned')
    else this.reindex(record)
  }

  private setTag (record: PeerRecord, tag: string, value: number): void {
    const tags = record.tags ?? (record.tags = new Map())
    record.value += value - (tags.get(tag) ?? 0)
    tags.set(tag, value)
    this.persist?.touch(record)
    if (record.heapIndex !== -1) this.trimming.index.refresh(record, this.clock.now())
    if (record.candIndex !== -1) this.dialer.update(record)
    this.changed()
  }

  private setTopics (record: PeerRecord, topics: readonly string[]): void {
    if (record.conn !== undefined) this.topics.detach(record.topics)
    record.topics = [...new Set(topics)]
    if (record.conn !== undefined) this.topics.attach(record.topics)
  }

  private attach (conn: Connection, record: PeerRecord, now: number, action: string, reason: string, swap = false): void {
    const entry: ConnEntry = { conn, record, openedAt: now, forced: false }
    this.conns.set(conn.id, entry)
    record.conn = entry
    record.inbound = conn.direction === 'inbound'
    record.openedAt = now
    record.allowed = this.allowList.matches(conn.peer, conn.address)
    record.lastConnected = now
    record.successes++
    this.persist?.touch(record)
    if (record.inbound) this.inbound++
    else {
      this.outbound++
      if (conn.address !== undefined) this.book.addAddress(record, conn.address)
    }
    this.topics.attach(record.topics)
    this.trimming.opened(record, now)
    this.dialer.update(record)
    this.dialer.progress()
    this.rotation.schedule()
    record.decide(now, action, reason, this.opts.explainDepth)
    if (!swap) this.events.emit('peer:connected', { peer: conn.peer, connection: conn })
    this.changed()
  }

  /** Removes the connection from the accounting (the count drops at once). */
  private detach (entry: ConnEntry, swap = false): void {
    const { record, conn } = entry
    this.persist?.touch(record)
    this.conns.delete(conn.id)
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
    if (reason === 'trimmed' || reason === 'initial-sync') record.nextDialAt = this.clock.now() + this.jitter(this.dialer.policy.afterTrim)
    else if (reason === 'lifetime') record.nextDialAt = this.clock.now() + (this.opts.lifetime ?? 0)
    this.detach(entry, swap)
    entry.record.decide(this.clock.now(), reason === 'trimmed' ? 'trim' : 'close', `${reason}: ${why}`, this.opts.explainDepth)
    this.events.emit('connection:closed', { connection: entry.conn, reason })
    safeClose(entry.conn, reason)
  }

  private refuse (conn: Connection, record: PeerRecord | undefined, reason: string, why: string): false {
    const decision = { at: this.clock.now(), action: 'refuse', reason: `${reason}: ${why}` }
    if (record !== undefined) record.decide(decision.at, decision.action, decision.reason, this.opts.explainDepth)
    else this.rememberStranger(conn.peer, decision)
    this.events.emit('connection:refused', { connection: conn, reason })
    safeClose(conn, reason)
    return false
  }

  private rememberStranger (peer: PeerId, decision: Decision): void {
    const list = this.strangers.get(peer) ?? []
    this.strangers.delete(peer) // re-insert: the Map's order is the LRU order
    list.push(decision)
    if (list.length > this.opts.explainDepth) list.shift()
    this.strangers.set(peer, list)
    if (this.strangers.size > STRANGERS) this.strangers.delete(this.strangers.keys().next().value!)
  }

  private dialFailed (record: PeerRecord, address: string, error: Error): void {
    const failure: DialFailure = { peer: record.id, address, error, at: this.clock.now() }
    record.decide(failure.at, 'dial-failed', `${address}: ${error.message}`, this.opts.explainDepth)
    this.events.emit('dial:failed', failure)
    this.failures.publish(failure)
  }
}

function safeClose (conn: Connection, reason: string): void {
  try {
    const r = conn.close(reason)
    if (r !== undefined && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => {})
  } catch {
    // A transport that throws while closing has still lost the connection for us.
  }
}

/** Peer ids carry neither '/' nor ':'; addresses ('tcp://…', '/ip4/…', 'host:port') do. */
function isAddress (s: string): boolean {
  return s.includes('/') || s.includes(':')
}

/** Creates a connection manager. It is off until `start()`. */
export function createConnectionManager (options: ConnectionManagerOptions): ConnectionManager {
  return new Manager(options)
}
