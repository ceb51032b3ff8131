import { Cells } from '../manager/cells.js'
import type { RowNumbering } from '../manager/compact-row.js'
import { observe } from '../manager/events.js'
import { createConnectionManager } from '../manager/manager.js'
import { ADDRESS_SCHEME, type AddressScheme } from '../manager/peer-book.js'
import type { ConnectionManager, ConnectionManagerOptions, PeerInput, PeerStore } from '../manager/types.js'
import { CompactStore, type KeyIndex } from './compact-store.js'
import { KnownNodes } from './known-nodes.js'
import { ManualClock } from './manual-clock.js'
import { MemoryNetwork, type MemoryNode } from './memory-network.js'
import { MEMORY_N, numberAt } from './node-number.js'

import { xorshift } from './xorshift.js'

export { xorshift }

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
  /**
   * Whether the peer books keep a peer they are told of by its id and address only as a number, a
   * record only once something happens to it (default true): the same figures, a fraction of the
   * memory. False: a record for every known peer, as outside a simulation.
   */
  compactPeers?: boolean
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
  /**
   * What each node knows besides the bootstrap nodes (by node index), as the simulation told it
   * (peer exchange, referrals) or it met them (connections, refused ones included): what it can
   * pass on. Kept here rather than read from `listPeers()`, which builds every peer's info — too
   * slow for a bootstrap node that knows them all. It survives restarts, as the node's store does.
   */
  private readonly known: Array<KnownNodes | undefined> = []
  private readonly random: () => number
  /**
   * Node ids as numbers, for the stores: the numbering of the peer books' compact peers too, so
   * that a store files their rows by number.
   */
  private readonly keyIndex: KeyIndex

  /** The typed arrays of every node's store, book and known nodes: views into shared slabs (cells.ts). */
  readonly cells = new Cells()

  /** Per node, the one list of its address that every peer book shares. */
  private readonly addressLists: string[][] = []
  /** Per node, what `tell` gives a manager for it (made on first use; a manager keeps no input object). */
  private readonly inputs: Array<PeerInput | undefined> = []
  /**
   * Each node's own address is its: the peer books index it by the id, and share its list; and the
   * node's index numbers it, so that a book keeps a peer it was told of by id and address only as
   * that number (peer-book.ts, "compact peers").
   */
  private readonly addressScheme: AddressScheme

  constructor (private readonly options: SimulationOptions) {
    this.addressScheme = {
      idOf: (address) => {
        const i = this.indexOfAddress(address)
        return i < 0 ? undefined : this.nodes[i].id
      },
      list: (address) => {
        const i = this.indexOfAddress(address)
        return i < 0 ? [address] : this.addressLists[i]
      },
      ...(options.compactPeers === false
        ? {}
        : {
            indexOf: (id: string) => this.indexOfId(id),
            idAt: (i: number) => this.nodes[i].id,
            listAt: (i: number) => this.addressLists[i],
            cells: this.cells
          })
    }
    const scheme = this.addressScheme
    this.keyIndex = {
      of: (key) => this.indexOfId(key),
      key: (i) => this.nodes[i].id,
      rows: scheme.idAt !== undefined ? scheme as RowNumbering : undefined
    }
    this.clock = options.clock ?? new ManualClock()
    this.random = options.random ?? xorshift(0x9e3779b9)
    this.network = new MemoryNetwork({ clock: this.clock, latency: options.latency ?? 20 })
    const nb = options.bootstrap ?? 3
    for (let i = 0; i < options.nodes; i++) {
      const transport = this.network.addNode(`n${i}`)
      const node: SimNode = { id: transport.id, transport, manager: undefined as unknown as ConnectionManager, store: new CompactStore(this.keyIndex, this.cells), bootstrap: i < nb, peak: 0, inboundDials: 0 }
      this.nodes.push(node)
      this.addressLists.push([transport.address])
      this.network.onDial(transport.address, () => { node.inboundDials++ })
      this.build(node)
    }
  }

  get bootstrapNodes (): SimNode[] { return this.nodes.filter((n) => n.bootstrap) }

  /** The node with this id (`n<i>`); undefined when none. */
  node (id: string): SimNode | undefined {
    const i = this.indexOfId(id)
    return i < 0 ? undefined : this.nodes[i]
  }

  /** Starts every node's manager (or the given ones). */
  start (nodes: SimNode[] = this.nodes): void {
    for (const n of nodes) {
      n.manager.start()
      n.transport.goOnline()
    }
  }

  /**
   * Closes the managers of `nodes` (default all) and takes them offline. A node going offline makes
   * its neighbours redial: for some nodes (a restart) that is what is watched, so they go one at a
   * time, each neighbour dialling as it would. For every node, all go offline and every manager
   * stops before any of them runs a dial pass: a network of 10,000 nodes does not dial 10,000
   * times over on its way down.
   */
  async stop (nodes: SimNode[] = this.nodes): Promise<void> {
    if (nodes !== this.nodes) { await this.stopEach(nodes); return }
    for (const n of nodes) n.transport.goOffline()
    // close() stops the manager before its first await; the passes the disconnections asked for run
    // on a later microtask, when no manager is running any more.
    const closing = nodes.map(async (n) => { await n.manager.close() })
    for (const c of closing) await c
  }

  /** Closes and rebuilds the managers of `nodes` (default all) with their stores, then starts them. */
  async restart (nodes: SimNode[] = this.nodes): Promise<void> {
    // One at a time even for all: what the neighbours do meanwhile ends up in their stores.
    await this.stopEach(nodes)
    for (const n of nodes) this.build(n)
    this.start(nodes)
  }

  private async stopEach (nodes: SimNode[]): Promise<void> {
    for (const n of nodes) {
      n.transport.goOffline()
      await n.manager.close()
    }
  }

  /** Advances the virtual clock by `ms`, in steps of `step` ms. */
  async run (ms: number, step = 1000): Promise<void> {
    for (let t = 0; t < ms; t += step) await this.clock.advance(Math.min(step, ms - t))
  }

  /** Connection counts per node, as each manager sees them. */
  counts (): number[] { return this.nodes.map((n) => n.manager.stats().connections) }

  /** True when every node that is online can reach every other online node. */
  connectedGraph (): boolean {
    // By node index, over each transport's open connections in place: a walk of 100,000 nodes
    // builds no set of ids and no list of connections per node.
    const nodes = this.nodes
    const start = nodes.findIndex((n) => n.transport.online)
    if (start < 0) return true
    const seen = new Uint8Array(nodes.length)
    seen[start] = 1
    const queue = [start]
    while (queue.length > 0) {
      for (const c of nodes[queue.pop()!].transport.openConnections()) {
        const i = this.indexOfId(c.peer)
        if (i >= 0 && seen[i] === 0) {
          seen[i] = 1
          queue.push(i)
        }
      }
    }
    for (let i = 0; i < nodes.length; i++) if (seen[i] === 0 && nodes[i].transport.online) return false
    return true
  }

  /**
   * The index of the node with this id, or -1: read from the id ('n<i>', checked against the node's
   * own), no map — the peer books ask for millions of them.
   */
  private indexOfId (id: string): number {
    const i = numberAt(id, 1)
    return i >= 0 && i < this.nodes.length && id.charCodeAt(0) === 110 /* n */ && this.nodes[i].id === id ? i : -1
  }

  /** The index of the node listening at this address ('mem://n<i>'), or -1. */
  private indexOfAddress (address: string): number {
    const i = numberAt(address, MEMORY_N.length)
    return i >= 0 && i < this.nodes.length && this.nodes[i].transport.address === address ? i : -1
  }

  private build (node: SimNode): void {
    const self = this.indexOfId(node.id)
    const options: ConnectionManagerOptions & { [ADDRESS_SCHEME]: AddressScheme } = {
      ...this.options.manager,
      dial: node.transport.dial,
      localPeer: node.id,
      clock: this.clock,
      random: this.random,
      store: node.store,
      [ADDRESS_SCHEME]: this.addressScheme
    }
    const manager = createConnectionManager(options)
    node.manager = manager
    node.transport.bind(manager)
    this.options.onManager?.(node)
    // The bootstrap nodes are the first ones (not a filter of every node: 100,000 builds would read 5·10⁹ nodes).
    const boot: PeerInput[] = []
    for (let i = 0; i < this.nodes.length && this.nodes[i].bootstrap; i++) {
      const n = this.nodes[i]
      if (n !== node) boot.push({ id: n.id, address: n.transport.address, bootstrap: true })
    }
    if (boot.length > 0) manager.addPeers(boot)
    const exchange = this.options.exchange ?? 8
    const referrals = this.options.referrals ?? 0
    // Observed directly (no event objects): a large simulation refuses and connects millions of times.
    observe(manager.events, 'connection:refused', (d) => {
      const o = this.indexOfId(d.connection.peer)
      if (o < 0 || o === self) return
      const other = this.nodes[o]
      if (referrals > 0 && other.manager !== undefined) this.tell(o, this.sampleKnown(self, referrals, o))
      // The refusing manager keeps the dialer in its peer book: it passes it on from now on.
      this.learn(self, o)
    })
    // The manager's connection count, kept from its events instead of read from stats(), which
    // builds its every figure: each peer:connected is one more, each peer:disconnected one less (a
    // duplicate replaced is neither, and changes no count).
    let count = 0
    observe(manager.events, 'peer:disconnected', () => { count-- })
    observe(manager.events, 'peer:connected', (d) => {
      node.peak = Math.max(node.peak, ++count)
      const o = this.indexOfId(d.peer)
      if (o < 0) return
      this.learn(self, o)
      if (exchange === 0 || this.nodes[o].manager === undefined) return
      const mine = this.sampleKnown(self, exchange, o)
      const theirs = this.sampleKnown(o, exchange, self)
      this.tell(o, mine)
      this.tell(self, theirs)
    })
  }

  private learn (node: number, other: number): void {
    if (other === node || this.nodes[other].bootstrap) return
    (this.known[node] ??= new KnownNodes(this.cells)).add(other)
  }

  /** Adds the nodes `ids` to the node's manager, with their in-memory addresses, as an identify exchange would. */
  private tell (node: number, ids: number[]): void {
    if (ids.length === 0) return
    for (const id of ids) this.learn(node, id)
    // Each node's one input (its own id and address strings: a peer book that knows 100,000 peers
    // holds no copies), not an object per peer told: two connections of a large simulation told 16.
    const inputs = this.inputs
    const told: PeerInput[] = new Array(ids.length)
    for (let j = 0; j < ids.length; j++) told[j] = inputs[ids[j]] ??= { id: this.nodes[ids[j]].id, address: this.nodes[ids[j]].transport.address }
    this.nodes[node].manager.addPeers(told)
  }

  /** Up to `k` nodes the node knows, at random, other than `except`. */
  private sampleKnown (node: number, k: number, except: number): number[] {
    const list = this.known[node]
    if (list === undefined) return []
    if (list.length - (list.has(except) ? 1 : 0) <= k) return list.without(except)
    // The positions taken are the nodes picked (a node is listed once): `out` answers for them, no
    // Set per call (two per connection: ~5 % of what a large simulation allocated).
    const out: number[] = []
    while (out.length < k) {
      const x = list.at(Math.floor(this.random() * list.length))
      if (x === except || out.includes(x)) continue
      out.push(x)
    }
    return out
  }
}
