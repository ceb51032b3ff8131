/**
 * `peerwarden/corestore`: the networking of a replicated store — a Corestore replicated over a
 * Hyperswarm whose connections the manager keeps in bounds (`createNetworker`, or the class form
 * `new CorestoreNetworker(corestore, options)`), or over a peerwarden node (`createNodeNetworker`).
 *
 * Rules:
 * - Every connection replicates the whole corestore (all-to-all: whatever cores both sides hold are
 *   replicated), one connection per peer however many discovery keys it shares with us
 *   (Hyperswarm's dedup by Noise key pair; the node's by peer id).
 * - `join(discoveryKey, { announce, lookup })` resolves once the key is announced (when `announce`)
 *   and the peers found for it so far have been tried (when `lookup`); from then on
 *   `flushed(discoveryKey)` is true. A key joined again after a `leave` replicates again.
 * - `leave(discoveryKey)` stops the key's replication on every connection at once and keeps it
 *   stopped (./corestore-replication.ts), while other cores go on replicating on the same
 *   connections; it resolves once the key is unannounced; `joined` is false from the call on.
 * - `close()` leaves every key, closes the manager and destroys the swarm the networker made (the
 *   corestore stays open: it is the application's).
 * - The manager's bound holds on every connection, in both directions (see `manageSwarm`).
 */
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager } from '../manager/types.js'
import { requireOptional } from '../optional-dependency.js'
import { checkCorestore, checkKey, Replication, type CorestoreLike, type ReplicationStats } from './corestore-replication.js'
import { SWARM_CONSTRUCTOR_OPTIONS } from './hyperswarm/checks.js'
import { manageSwarm, type HyperswarmConnection, type HyperswarmLike, type ManagedSwarm, type ManageSwarmOptions } from './hyperswarm.js'

export type { CorestoreLike, ReplicationStats } from './corestore-replication.js'
export { createNodeNetworker, NodeNetworker, type NodeLike } from './corestore-node.js'

/** A Noise key pair (ed25519), as Hyperswarm takes it. */
export interface NoiseKeyPair {
  /** 32 bytes. */
  publicKey: Uint8Array
  /** 64 bytes (libsodium layout). */
  secretKey: Uint8Array
}

/** The manager's options (see `manageSwarm`), plus how the swarm is made. */
export interface NetworkerOptions extends ManageSwarmOptions {
  /** The Noise key pair every connection uses. Default: the swarm's (a new one when the networker makes the swarm). */
  keyPair?: NoiseKeyPair
  /** A Hyperswarm of the application's; else the networker makes one (with `keyPair` and `bootstrap`). */
  swarm?: HyperswarmLike
  /** The DHT bootstrap nodes of a swarm the networker makes (say a local testnet's); default the public DHT. */
  bootstrap?: Array<{ host: string; port: number }>
  /** The HyperDHT node of a swarm the networker makes (say one bound to 127.0.0.1); default a new one. */
  dht?: unknown
  /**
   * The other options of `new Hyperswarm()` (`seed`, `firewall`, `backoffs`, `jitter`, `maxParallel`,
   * `relayThrough`, the DHT's `port`, `nodes`…) go to the swarm the networker makes, as they are;
   * with `swarm` they are refused (give them to your swarm). `maxClientConnections` and
   * `maxServerConnections` are refused either way: `highWater` bounds both directions. `maxPeers`
   * is the manager's (peers remembered), as under `manageSwarm`.
   */
  seed?: Uint8Array
  /** Hyperswarm's firewall: return true to refuse the connection of `remotePublicKey` (as `new Hyperswarm({ firewall })`). */
  firewall?: (remotePublicKey: Uint8Array, payload?: unknown) => boolean
  backoffs?: number[]
  jitter?: number
  maxParallel?: number
  relayThrough?: unknown
  /** Hypercore channels (cores replicating) at once on one connection, whichever side asks; more are refused (`replicationStats().overBudgetChannels`). Default 1024; `Infinity` for none. */
  maxCoresPerConnection?: number
}

/** Joins a discovery key: announce it, look it up, or both (the default). */
export interface JoinOptions {
  /** Announce the key (be found by it). Default true. */
  announce?: boolean
  /** Look the key up (find and connect to those who announce it). Default true. */
  lookup?: boolean
}

/** A corestore's networking (see the module's rules). */
export interface Networker {
  /** The swarm the corestore replicates over. */
  readonly swarm: HyperswarmLike
  /** The manager that keeps the swarm's connections in bounds. */
  readonly manager: ConnectionManager
  /** Announces and/or looks up a discovery key; resolves once announced and the peers found so far were tried. */
  join(discoveryKey: Uint8Array, opts?: JoinOptions): Promise<void>
  /** Stops the key's replication on every connection, and announcing and looking it up; resolves once unannounced (connections stay). */
  leave(discoveryKey: Uint8Array): Promise<void>
  /** Whether the key is joined now. */
  joined(discoveryKey: Uint8Array): boolean
  /** True once every peer found announcing the key, up to the end of its last `join`, had been tried. */
  flushed(discoveryKey: Uint8Array): boolean
  /** Connections replicating, keys left, channels refused for a left key (see `ReplicationStats`). */
  replicationStats(): ReplicationStats
  /** Leaves every key, closes the manager and destroys the swarm the networker made (the corestore stays open). */
  close(): Promise<void>
}

interface Discovery { flushed(): Promise<unknown> }
/** Hyperswarm's `flush()`: resolves once every peer found so far was tried. */
interface Flushable { flush?(): Promise<unknown> }

/** Replicates `corestore` over a managed Hyperswarm (see the module's rules); the same as `new CorestoreNetworker(corestore, options)`. */
export function createNetworker (corestore: CorestoreLike, options: NetworkerOptions = {}): Networker {
  return new CorestoreNetworker(corestore, options)
}

/** A corestore's networking over a managed Hyperswarm: the class form of `createNetworker` (see the module's rules). */
export class CorestoreNetworker implements Networker {
  readonly swarm: HyperswarmLike
  readonly manager: ConnectionManager
  private readonly managed: ManagedSwarm
  private readonly ownSwarm: boolean
  private readonly replication: Replication
  /** hex discovery key → flushed yet. */
  private readonly keys = new Map<string, boolean>()
  private closed = false
  private readonly onConnection = (conn: HyperswarmConnection): void => {
    // A stream error is the stream's: Hyperswarm closes it; the replication ends with it.
    conn.on('error', () => {})
    this.replication.add(conn)
  }

  /** Makes the swarm (unless `options.swarm`), puts it under a manager and replicates `corestore` on its connections. */
  constructor (corestore: CorestoreLike, options: NetworkerOptions = {}) {
    checkCorestore(corestore)
    if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('createNetworker options must be an object')
    if ((options as { id?: unknown }).id !== undefined) {
      throw PeerwardenError.invalid('createNetworker options: there is no "id": the swarm\'s key pair is the identity (pass keyPair, or a swarm made with one)')
    }
    const { swarm, maxCoresPerConnection, ...rest } = options
    // The options of new Hyperswarm() go to the swarm the networker makes; the rest are the manager's.
    const swarmOptions: Record<string, unknown> = {}
    const managerOptions: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(rest)) {
      if (value === undefined) continue // says nothing
      if (SWARM_CONSTRUCTOR_OPTIONS.includes(name)) swarmOptions[name] = value
      else managerOptions[name] = value
    }
    if (swarm !== undefined) {
      const given = Object.keys(swarmOptions)[0]
      if (given !== undefined) {
        throw PeerwardenError.invalid(`createNetworker options: ${JSON.stringify(given)} is an option of new Hyperswarm(): with a swarm of your own, give it to your own swarm`)
      }
      this.swarm = swarm
      this.ownSwarm = false
    } else {
      const Hyperswarm = requireOptional<new (opts: object) => HyperswarmLike>('hyperswarm', 'peerwarden/corestore')
      this.swarm = new Hyperswarm(swarmOptions)
      this.ownSwarm = true
    }
    this.replication = new Replication(corestore, maxCoresPerConnection)
    this.managed = manageSwarm(this.swarm, managerOptions)
    this.manager = this.managed.manager
    this.swarm.on('connection', this.onConnection)
  }

  async join (discoveryKey: Uint8Array, opts: JoinOptions = {}): Promise<void> {
    const key = checkKey(discoveryKey)
    if (this.closed) throw new PeerwardenError('ERR_CLOSED', 'the networker is closed')
    const announce = opts.announce !== false
    const lookup = opts.lookup !== false
    if (!this.keys.has(key)) this.keys.set(key, false)
    this.replication.resume(discoveryKey)
    const discovery = this.swarm.join(Buffer.from(discoveryKey), { server: announce, client: lookup }) as Discovery
    await discovery.flushed()
    if (lookup) await (this.swarm as HyperswarmLike & Flushable).flush?.()
    if (this.keys.has(key)) this.keys.set(key, true)
  }

  async leave (discoveryKey: Uint8Array): Promise<void> {
    const key = checkKey(discoveryKey)
    if (!this.keys.delete(key)) return
    this.replication.stop(discoveryKey)
    await this.swarm.leave(Buffer.from(discoveryKey))
  }

  joined (discoveryKey: Uint8Array): boolean { return this.keys.has(checkKey(discoveryKey)) }

  flushed (discoveryKey: Uint8Array): boolean { return this.keys.get(checkKey(discoveryKey)) === true }

  replicationStats (): ReplicationStats { return this.replication.stats() }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.swarm.removeListener('connection', this.onConnection)
    await Promise.all([...this.keys.keys()].map(async (key) => { await this.swarm.leave(Buffer.from(key, 'hex')) }))
    this.keys.clear()
    this.replication.clear()
    await this.managed.close()
    if (this.ownSwarm) await this.swarm.destroy?.()
  }
}

/** The class form under the name basestore-swarm-networking gives it: `new SwarmNetworker(corestore, options)` is `new CorestoreNetworker(corestore, options)`. */
export const SwarmNetworker = CorestoreNetworker
