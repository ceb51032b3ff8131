/**
 * A corestore's networking over a peerwarden node (`createNode`: TCP + Noise, topics found through
 * the node's rendezvous and peer exchange, no DHT) — the same API as the Hyperswarm networker.
 *
 * Rules:
 * - Every connection the node keeps, those it held before the networker was made included,
 *   replicates the whole corestore on the connection's protomux, beside the node's own channels.
 *   One connection per peer (the node's manager deduplicates by peer id), however many keys.
 * - Discovery keys are the node's topics. `join` resolves once the key is announced and looked up
 *   and every peer found for it has been tried (`flushed`), or after `flushTimeout` (a found peer the
 *   manager will not dial, say a banned one, must not hold the join forever; `flushed` stays false).
 * - `leave` stops the key's replication on every connection at once (./corestore-replication.ts)
 *   and resolves once the key is unannounced; `joined` is false from the call on.
 * - `close()` stops replicating and closes the node (which unannounces every topic first).
 */
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { checkCorestore, checkKey, Replication, type CorestoreLike, type ReplicationStats } from './corestore-replication.js'

/** The name under which the node serves the replication (`node.protocol`). */
const PROTOCOL = 'peerwarden/corestore'

/** What a join waits for its flush at most, by default. */
const DEFAULT_FLUSH_TIMEOUT = 10_000

/** The manager events after which `flushed` may have changed. */
const DIAL_OUTCOMES = ['peer:connected', 'dial:failed', 'connection:refused', 'connection:closed'] as const

/** The part of a peerwarden node (`createNode`) the node networker uses, by shape. */
export interface NodeLike {
  /** The node's connection manager. */
  readonly manager: ConnectionManager
  /** The node's events: 'connection' for every connection it keeps. */
  readonly events: {
    /** Listens for the connections the node keeps. */
    addEventListener(type: 'connection', listener: (e: CustomEvent<{ connection: { mux: unknown } }>) => void): void
    /** Stops listening. */
    removeEventListener(type: 'connection', listener: (e: CustomEvent<{ connection: { mux: unknown } }>) => void): void
  }
  /** Serves a protocol on every connection the node keeps, now and later (preferred to the 'connection' event when present). */
  protocol?(name: string, open: (connection: { mux: unknown }) => void): void
  /** Joins a topic (announce and/or look up). */
  join(topic: Uint8Array, opts?: { announce?: boolean; lookup?: boolean }): Promise<void>
  /** Leaves a topic. */
  leave(topic: Uint8Array): Promise<void>
  /** Whether the topic is joined. */
  joined(topic: Uint8Array): boolean
  /** Whether the peers found for the topic were tried. */
  flushed(topic: Uint8Array): boolean
  /** Closes the node. */
  close(): Promise<void>
}

/** Options of a node networker. */
export interface NodeNetworkerOptions {
  /** How long a `join` waits at most for every peer found to be tried (ms). Default 10_000. */
  flushTimeout?: number
  /** Hypercore channels (cores replicating) at once on one connection, whichever side asks; more are refused (`replicationStats().overBudgetChannels`). Default 1024; `Infinity` for none. */
  maxCoresPerConnection?: number
}

/**
 * Replicates `corestore` over a peerwarden node (see the module's rules); the same as
 * `new NodeNetworker(corestore, node, options)`.
 */
export function createNodeNetworker (corestore: CorestoreLike, node: NodeLike, options: NodeNetworkerOptions = {}): NodeNetworker {
  return new NodeNetworker(corestore, node, options)
}

/** A corestore's networking over a peerwarden node: the `Networker` API without `swarm` (see the module's rules). */
export class NodeNetworker {
  /** The node's manager, which keeps the connections in bounds. */
  readonly manager: ConnectionManager
  private readonly replication: Replication
  private readonly flushTimeout: number
  private closed = false
  /** Joins waiting for their flush, woken by the manager's dial outcomes. */
  private readonly flushWaiters = new Set<() => void>()
  private readonly onConnection = (e: CustomEvent<{ connection: { mux: unknown } }>): void => { this.open(e.detail.connection) }
  private readonly wakeFlushWaiters = (): void => { for (const w of [...this.flushWaiters]) w() }

  /** Replicates `corestore` on every connection `node` keeps from now on, and on those it keeps already. */
  constructor (corestore: CorestoreLike, readonly node: NodeLike, options: NodeNetworkerOptions = {}) {
    checkCorestore(corestore)
    if (node == null || typeof node.join !== 'function' || node.events == null) throw PeerwardenError.invalid('node must be a peerwarden node (createNode)')
    if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('createNodeNetworker options must be an object')
    this.flushTimeout = options.flushTimeout === undefined ? DEFAULT_FLUSH_TIMEOUT : check.duration('flushTimeout', options.flushTimeout)
    this.manager = node.manager
    this.replication = new Replication(corestore, options.maxCoresPerConnection)
    if (typeof node.protocol === 'function') node.protocol(PROTOCOL, (connection) => { this.open(connection) })
    else node.events.addEventListener('connection', this.onConnection)
  }

  /** Announces and/or looks up a discovery key; resolves once announced, looked up and every peer found was tried (or `flushTimeout`). */
  async join (discoveryKey: Uint8Array, opts: { announce?: boolean; lookup?: boolean } = {}): Promise<void> {
    checkKey(discoveryKey)
    if (this.closed) throw new PeerwardenError('ERR_CLOSED', 'the networker is closed')
    this.replication.resume(discoveryKey)
    await this.node.join(discoveryKey, opts)
    if (opts.lookup !== false) await this.untilFlushed(discoveryKey)
  }

  /** Stops the key's replication on every connection, and announcing and looking it up; resolves once unannounced. */
  async leave (discoveryKey: Uint8Array): Promise<void> {
    checkKey(discoveryKey)
    if (!this.node.joined(discoveryKey)) return
    this.replication.stop(discoveryKey)
    const left = this.node.leave(discoveryKey)
    this.wakeFlushWaiters()
    await left
  }

  /** Whether the key is joined now. */
  joined (discoveryKey: Uint8Array): boolean { checkKey(discoveryKey); return this.node.joined(discoveryKey) }

  /** True once the key was looked up and every peer found for it was tried (or the manager holds lowWater connections). */
  flushed (discoveryKey: Uint8Array): boolean { checkKey(discoveryKey); return this.node.flushed(discoveryKey) }

  /** Connections replicating, keys left, channels refused for a left key (see `ReplicationStats`). */
  replicationStats (): ReplicationStats { return this.replication.stats() }

  /** Stops replicating and closes the node (which unannounces every topic first). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.node.events.removeEventListener('connection', this.onConnection)
    this.wakeFlushWaiters()
    this.replication.clear()
    await this.node.close()
  }

  private open (connection: { mux: unknown }): void {
    if (this.closed) return
    this.replication.add(connection.mux)
  }

  /** Resolves once the key is flushed, left, the networker closed, or `flushTimeout` passed. */
  private async untilFlushed (discoveryKey: Uint8Array): Promise<void> {
    const done = (): boolean => this.closed || !this.node.joined(discoveryKey) || this.node.flushed(discoveryKey)
    if (done()) return
    const events = this.manager.events
    await new Promise<void>((resolve) => {
      const check = (): void => { if (done()) finish() }
      const finish = (): void => {
        clearTimeout(timer)
        this.flushWaiters.delete(check)
        for (const type of DIAL_OUTCOMES) events.removeEventListener(type, check)
        resolve()
      }
      const timer = setTimeout(finish, this.flushTimeout)
      timer.unref?.()
      this.flushWaiters.add(check)
      for (const type of DIAL_OUTCOMES) events.addEventListener(type, check)
    })
  }
}
