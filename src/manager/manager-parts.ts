import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { AccessList } from './access-list.js'
import type { Connections } from './connections.js'
import type { Decayer } from './decaying-tags.js'
import type { AllowControl } from './allow-control.js'
import type { DenyControl } from './deny-control.js'
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
import type { Clock, ConnectionManagerOptions, Decision, DialFailure, ManagerStats, PeerId, PeerInfo } from './types.js'
import * as check from './validate.js'
import { wireParts } from './wiring.js'

const STRANGERS = 1024

/**
 * The manager's parts and what holds them together, under the public API (manager.ts): wiring.ts
 * builds the parts; here they start and stop, and report (`explain`, `stats`, the peer list). The
 * verbs that change what the parts hold are the manager's (manager.ts).
 *
 * Rules:
 * - A closed manager stays closed (`close()` is idempotent); a verb that needs an open manager calls
 *   `assertOpen()` (`ERR_CLOSED`), one that only releases something is quiet after close.
 */
export class ManagerParts {
  readonly events = new ManagerEventTarget()
  readonly initialSync: InitialSync

  protected readonly clock: Clock
  protected readonly opts: check.ResolvedOptions
  protected readonly topics = new TopicCounts(() => this.opts.highWater)
  protected readonly failures = new ErrorStream()
  protected readonly observers = new PeerObservers(() => this.listPeers())
  protected readonly strangers = new StrangerLog(STRANGERS)
  protected readonly book: PeerBook
  protected readonly budget: PeerBudget
  protected readonly denyList: AccessList
  protected readonly denyControl: DenyControl
  protected readonly allowList: AccessList
  protected readonly allowControl: AllowControl
  protected readonly persist: Persistence | undefined
  protected readonly connections: Connections
  protected readonly trimming: TrimScheduler
  protected readonly rotation: Rotation
  protected readonly exploration: Exploration
  protected readonly decayer: Decayer
  protected readonly dialer: DialScheduler
  protected readonly tagging: Tagging
  protected readonly knowledge: PeerKnowledge
  /** Brings back the peers the store remembers (their history orders the first dials). */
  protected readonly restore: () => Promise<void>
  protected isRunning = false
  protected closed = false
  protected loaded: Promise<void> | undefined

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
      book: this.book, budget: this.budget, denyList: this.denyList, denyControl: this.denyControl, allowList: this.allowList, allowControl: this.allowControl, persist: this.persist, connections: this.connections,
      trimming: this.trimming, rotation: this.rotation, exploration: this.exploration, decayer: this.decayer, dialer: this.dialer, tagging: this.tagging,
      knowledge: this.knowledge, initialSync: this.initialSync, restore: this.restore
    } = parts)
    // The store is read from creation (a microtask later, so a load that fails at once reaches the
    // 'store:error' listeners added after creation): the bans it holds gate connections accounted
    // before start(), as every other ban does.
    if (this.persist !== undefined) this.loaded = Promise.resolve().then(this.restore)
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
    if (this.loaded === undefined) this.dialer.start()
    else void this.loaded.then(() => { if (this.isRunning) this.dialer.start() })
  }

  /** Resolves once the store's peers are known (at once without a store). Loading starts at creation. */
  async ready (): Promise<void> {
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

  // ── peers and observation ───────────────────────────────────────────────

  listPeers (): PeerInfo[] {
    const out: PeerInfo[] = []
    for (const r of this.book.values()) out.push(r.info())
    return out
  }

  observePeers (listener: (peers: readonly PeerInfo[]) => void): () => void {
    check.fn('listener', listener)
    return this.observers.add(listener)
  }

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
      denyEntries: this.denyList.size,
      allowEntries: this.allowList.size,
      refused: this.connections.refusedBy.snapshot(),
      closed: this.connections.closedBy.snapshot(),
      lowWater: this.opts.lowWater,
      highWater: this.opts.highWater,
      maxPeers: this.opts.maxPeers,
      evicted: this.budget.evicted,
      addressWaits: this.dialer.addressWaits.size,
      hookErrors: this.knowledge.hookErrors,
      connectionLimitRefusals: this.connections.limitRefusals,
      decisions: this.book.decisions.size,
      topics: this.topics.list()
    }
  }

  // ── internals ───────────────────────────────────────────────────────────

  protected storeFailed (err: Error): void {
    // The store is a cache of what we learnt: losing a write must not take the manager down.
    this.events.emit('store:error', { error: err })
  }

  protected assertOpen (): void {
    if (this.closed) throw PeerwardenError.closed('the connection manager')
  }
}
