/**
 * `peerwarden/corestore`: the networking of a replicated store — a Corestore replicated over a
 * Hyperswarm whose connections the manager keeps in bounds.
 *
 * Rules:
 * - Every connection replicates the whole corestore (all-to-all: whatever cores both sides hold are
 *   replicated), one connection per peer however many discovery keys it shares with us
 *   (Hyperswarm's dedup by Noise key pair).
 * - `join(discoveryKey, { announce, lookup })` resolves once the key is announced (when `announce`)
 *   and the peers found for it so far have been tried (when `lookup`); from then on
 *   `flushed(discoveryKey)` is true. `leave` resolves once the key is unannounced; `close()` leaves
 *   every key, closes the manager and destroys the swarm (the corestore stays open: it is the
 *   application's).
 * - The manager's bound holds on every connection, in both directions (see `manageSwarm`).
 */
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager } from '../manager/types.js'
import { requireOptional } from '../optional-dependency.js'
import { manageSwarm, type HyperswarmConnection, type HyperswarmLike, type ManagedSwarm, type ManageSwarmOptions } from './hyperswarm.js'

/** The part of a Corestore used here: replication over a connection. */
export interface CorestoreLike {
  /** Replicates every core of the store over a Noise stream (all-to-all). */
  replicate(stream: unknown): unknown
}

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
  /** Stops announcing and looking up the key; resolves once unannounced (connections stay). */
  leave(discoveryKey: Uint8Array): Promise<void>
  /** Whether the key is joined now. */
  joined(discoveryKey: Uint8Array): boolean
  /** True once a `join` of the key resolved (every peer found for it then had been tried). */
  flushed(discoveryKey: Uint8Array): boolean
  /** Leaves every key, closes the manager and destroys the swarm the networker made (the corestore stays open). */
  close(): Promise<void>
}

interface Discovery { flushed(): Promise<unknown> }
/** Hyperswarm's `flush()`: resolves once every peer found so far was tried. */
interface Flushable { flush?(): Promise<unknown> }

/** Replicates `corestore` over a managed Hyperswarm (see the module's rules). */
export function createNetworker (corestore: CorestoreLike, options: NetworkerOptions = {}): Networker {
  checkCorestore(corestore)
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('createNetworker options must be an object')
  return new CorestoreNetworker(corestore, options)
}

class CorestoreNetworker implements Networker {
  readonly swarm: HyperswarmLike
  readonly manager: ConnectionManager
  private readonly managed: ManagedSwarm
  private readonly ownSwarm: boolean
  /** hex discovery key → flushed yet. */
  private readonly keys = new Map<string, boolean>()
  private closed = false
  private readonly onConnection = (conn: HyperswarmConnection): void => {
    // A stream error is the stream's: Hyperswarm closes it; the replication ends with it.
    conn.on('error', () => {})
    this.corestore.replicate(conn)
  }

  constructor (private readonly corestore: CorestoreLike, options: NetworkerOptions) {
    const { keyPair, swarm, bootstrap, dht, ...managerOptions } = options
    if (swarm !== undefined) {
      this.swarm = swarm
      this.ownSwarm = false
    } else {
      const Hyperswarm = requireOptional<new (opts: object) => HyperswarmLike>('hyperswarm', 'peerwarden/corestore')
      this.swarm = new Hyperswarm({ ...(keyPair !== undefined ? { keyPair } : {}), ...(bootstrap !== undefined ? { bootstrap } : {}), ...(dht !== undefined ? { dht } : {}) })
      this.ownSwarm = true
    }
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
    const discovery = this.swarm.join(Buffer.from(discoveryKey), { server: announce, client: lookup }) as Discovery
    await discovery.flushed()
    if (lookup) await (this.swarm as HyperswarmLike & Flushable).flush?.()
    if (this.keys.has(key)) this.keys.set(key, true)
  }

  async leave (discoveryKey: Uint8Array): Promise<void> {
    const key = checkKey(discoveryKey)
    if (!this.keys.delete(key)) return
    await this.swarm.leave(Buffer.from(discoveryKey))
  }

  joined (discoveryKey: Uint8Array): boolean { return this.keys.has(checkKey(discoveryKey)) }

  flushed (discoveryKey: Uint8Array): boolean { return this.keys.get(checkKey(discoveryKey)) === true }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.swarm.removeListener('connection', this.onConnection)
    await Promise.all([...this.keys.keys()].map(async (key) => { await this.swarm.leave(Buffer.from(key, 'hex')) }))
    this.keys.clear()
    await this.managed.close()
    if (this.ownSwarm) await this.swarm.destroy?.()
  }
}

function checkCorestore (corestore: CorestoreLike): void {
  if (corestore == null || typeof corestore.replicate !== 'function') throw PeerwardenError.invalid('corestore must be a Corestore (with replicate())')
}

function checkKey (key: unknown): string {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw PeerwardenError.invalid('discoveryKey must be 32 bytes')
  return Buffer.from(key).toString('hex')
}

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
  /** Joins a topic (announce and/or look up). */
  join(topic: Uint8Array, opts?: JoinOptions): Promise<void>
  /** Leaves a topic. */
  leave(topic: Uint8Array): Promise<void>
  /** Whether the topic is joined. */
  joined(topic: Uint8Array): boolean
  /** Whether the peers found for the topic were tried. */
  flushed(topic: Uint8Array): boolean
  /** Closes the node. */
  close(): Promise<void>
}

/** A corestore's networking over a peerwarden node (TCP + Noise, no DHT): the `Networker` API without `swarm`. */
export interface NodeNetworker extends Omit<Networker, 'swarm'> {
  /** The node the corestore replicates over. */
  readonly node: NodeLike
}

/**
 * Replicates `corestore` over a peerwarden node (`createNode`): every connection the node keeps
 * replicates the whole store on its protomux, beside the node's own channels; discovery keys are
 * the node's topics (join, leave, joined, flushed as the node has them). `close()` stops replicating
 * new connections and closes the node.
 */
export function createNodeNetworker (corestore: CorestoreLike, node: NodeLike): NodeNetworker {
  checkCorestore(corestore)
  if (node == null || typeof node.join !== 'function' || node.events == null) throw PeerwardenError.invalid('node must be a peerwarden node (createNode)')
  const onConnection = (e: CustomEvent<{ connection: { mux: unknown } }>): void => { corestore.replicate(e.detail.connection.mux) }
  node.events.addEventListener('connection', onConnection)
  let closed = false
  return {
    node,
    manager: node.manager,
    join: async (discoveryKey, opts) => { checkKey(discoveryKey); await node.join(discoveryKey, opts) },
    leave: async (discoveryKey) => { checkKey(discoveryKey); await node.leave(discoveryKey) },
    joined: (discoveryKey) => { checkKey(discoveryKey); return node.joined(discoveryKey) },
    flushed: (discoveryKey) => { checkKey(discoveryKey); return node.flushed(discoveryKey) },
    close: async () => {
      if (closed) return
      closed = true
      node.events.removeEventListener('connection', onConnection)
      await node.close()
    }
  }
}
