import { createConnectionManager } from '../manager/manager.js'
import type { ConnectionManager, ConnectionManagerOptions, PeerStore } from '../manager/types.js'
import { memoryStore } from '../store/memory-store.js'
import { ManualClock } from './manual-clock.js'
import { MemoryNetwork, type MemoryNode } from './memory-network.js'

/** The options of `new Simulation(options)`. */
export interface SimulationOptions {
  /** Number of nodes, bootstrap nodes included. */
  nodes: number
  /** How many of them are bootstrap nodes (the first ones). Default 3. */
  bootstrap?: number
  /** Manager options for every node (dial, clock, localPeer and store are set by the simulation). */
  manager?: Partial<ConnectionManagerOptions>
  /** Dial latency in ms. Default 20. */
  latency?: number
  /** Peers each side of a new connection tells the other about (peer exchange). Default 8. 0 = none. */
  exchange?: number
  /**
   * Peers a node that refuses a connection (it is full) refers the dialer to, as the real node does.
   * Default 0 = none: the nodes then learn peers from the bootstrap nodes and peer exchange only.
   */
  referrals?: number
  /** Deterministic randomness (a seeded generator). Default: a fixed-seed xorshift. */
  random?: () => number
  clock?: ManualClock
  /** Called with every manager the simulation builds (at the start and on each restart), before it starts: for observers. */
  onManager?: (node: SimNode) => void
}

/** One node of a `Simulation`: its manager, in-memory transport and store. */
export interface SimNode {
  readonly id: string
  readonly transport: MemoryNode
  manager: ConnectionManager
  readonly store: PeerStore
  readonly bootstrap: boolean
  /** The highest connection count the manager ever reported (sampled on every accepted connection). */
  peak: number
  /** Inbound dials this node received (accepted or not). */
  inboundDials: number
}

/**
 * Many managers on one in-memory network and one ManualClock: the scale tests and the simulation
 * benchmark run on this.
 *
 * Rules:
 * - Node `i` is 'n<i>'; the first `bootstrap` nodes are bootstrap nodes; every other node starts
 *   knowing only them (as `bootstrap: true` peers).
 * - Each node has its own `memoryStore()`, which survives `restart()`.
 * - Peer exchange: when a connection is accepted, each side adds up to `exchange` peers it knows
 *   (not bootstrap ones, picked at random) to the other's manager — the simplest discovery there is.
 * - Referrals (`referrals` > 0): a node that refuses a connection adds up to that many peers it knows
 *   to the dialer's manager, as the real node's refusals carry referrals.
 */
export class Simulation {
  readonly clock: ManualClock
  readonly network: MemoryNetwork
  readonly nodes: SimNode[] = []
  private readonly byId = new Map<string, SimNode>()
  /**
   * What each node knows besides the bootstrap nodes, as the simulation told it (peer exchange,
   * referrals) or it met them (connections, refused ones included): what it can pass on. Kept here
   * rather than read from `listPeers()`, which builds every peer's info — too slow for a bootstrap
   * node that knows them all. It survives restarts, as the node's store does.
   */
  private readonly known = new Map<string, { list: string[]; set: Set<string> }>()
  private readonly random: () => number

  constructor (private readonly options: SimulationOptions) {
    this.clock = options.clock ?? new ManualClock()
    this.random = options.random ?? xorshift(0x9e3779b9)
    this.network = new MemoryNetwork({ clock: this.clock, latency: options.latency ?? 20 })
    const nb = options.bootstrap ?? 3
    for (let i = 0; i < options.nodes; i++) {
      const transport = this.network.addNode(`n${i}`)
      const node: SimNode = { id: transport.id, transport, manager: undefined as unknown as ConnectionManager, store: memoryStore(), bootstrap: i < nb, peak: 0, inboundDials: 0 }
      this.nodes.push(node)
      this.byId.set(node.id, node)
      this.network.onDial(transport.address, () => { node.inboundDials++ })
      this.build(node)
    }
  }

  get bootstrapNodes (): SimNode[] { return this.nodes.filter((n) => n.bootstrap) }

  /** The node with this id (`n<i>`); undefined when none. */
  node (id: string): SimNode | undefined { return this.byId.get(id) }

  /** Starts every node's manager (or the given ones). */
  start (nodes: SimNode[] = this.nodes): void {
    for (const n of nodes) {
      n.manager.start()
      n.transport.goOnline()
    }
  }

  /** Closes the managers of `nodes` (default all) and takes them offline. */
  async stop (nodes: SimNode[] = this.nodes): Promise<void> {
    for (const n of nodes) {
      n.transport.goOffline()
      await n.manager.close()
    }
  }

  /** Closes and rebuilds the managers of `nodes` (default all) with their stores, then starts them. */
  async restart (nodes: SimNode[] = this.nodes): Promise<void> {
    await this.stop(nodes)
    for (const n of nodes) this.build(n)
    this.start(nodes)
  }

  /** Advances the virtual clock by `ms`, in steps of `step` ms. */
  async run (ms: number, step = 1000): Promise<void> {
    for (let t = 0; t < ms; t += step) await this.clock.advance(Math.min(step, ms - t))
  }

  /** Connection counts per node, as each manager sees them. */
  counts (): number[] { return this.nodes.map((n) => n.manager.stats().connections) }

  /** True when every node that is online can reach every other online node. */
  connectedGraph (): boolean {
    const online = this.nodes.filter((n) => n.transport.online)
    if (online.length === 0) return true
    const seen = new Set<string>([online[0].id])
    const queue = [online[0]]
    while (queue.length > 0) {
      const n = queue.pop()!
      for (const c of n.transport.connections()) {
        if (!seen.has(c.peer)) {
          seen.add(c.peer)
          queue.push(this.node(c.peer)!)
        }
      }
    }
    return online.every((n) => seen.has(n.id))
  }

  private build (node: SimNode): void {
    const manager = createConnectionManager({
      ...this.options.manager,
      dial: node.transport.dial,
      localPeer: node.id,
      clock: this.clock,
      random: this.random,
      store: node.store
    })
    node.manager = manager
    node.transport.bind(manager)
    this.options.onManager?.(node)
    const boot = this.nodes.filter((n) => n.bootstrap && n !== node).map((n) => ({ id: n.id, address: n.transport.address, bootstrap: true }))
    if (boot.length > 0) manager.addPeers(boot)
    const exchange = this.options.exchange ?? 8
    const referrals = this.options.referrals ?? 0
    manager.events.addEventListener('connection:refused', (e) => {
      const other = this.node(e.detail.connection.peer)
      if (other === undefined || other === node) return
      if (referrals > 0 && other.manager !== undefined) this.tell(other, this.sampleKnown(node, referrals, other.id))
      // The refusing manager keeps the dialer in its peer book: it passes it on from now on.
      this.learn(node, other.id)
    })
    manager.events.addEventListener('peer:connected', (e) => {
      node.peak = Math.max(node.peak, manager.stats().connections)
      const other = this.node(e.detail.peer)
      if (other === undefined) return
      this.learn(node, other.id)
      if (exchange === 0 || other.manager === undefined) return
      const mine = this.sampleKnown(node, exchange, other.id)
      const theirs = this.sampleKnown(other, exchange, node.id)
      this.tell(other, mine)
      this.tell(node, theirs)
    })
  }

  private learn (node: SimNode, id: string): void {
    if (id === node.id || this.byId.get(id)?.bootstrap === true) return
    let k = this.known.get(node.id)
    if (k === undefined) this.known.set(node.id, k = { list: [], set: new Set() })
    if (k.set.has(id)) return
    k.set.add(id)
    k.list.push(id)
  }

  /** Adds `ids` to the node's manager, with their in-memory addresses, as an identify exchange would. */
  private tell (node: SimNode, ids: string[]): void {
    if (ids.length === 0) return
    for (const id of ids) this.learn(node, id)
    node.manager.addPeers(ids.map((id) => ({ id, addresses: [`mem://${id}`] })))
  }

  /** Up to `k` peers the node knows, at random, other than `except`. */
  private sampleKnown (node: SimNode, k: number, except: string): string[] {
    const known = this.known.get(node.id)
    if (known === undefined) return []
    const list = known.list
    if (list.length - (known.set.has(except) ? 1 : 0) <= k) return list.filter((id) => id !== except)
    const out: string[] = []
    const taken = new Set<number>()
    while (out.length < k) {
      const i = Math.floor(this.random() * list.length)
      if (taken.has(i) || list[i] === except) continue
      taken.add(i)
      out.push(list[i])
    }
    return out
  }
}

/** A small deterministic generator in [0, 1), for reproducible simulations. */
export function xorshift (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}
