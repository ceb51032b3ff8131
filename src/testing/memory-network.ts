import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { LIGHT_SIGNAL } from '../manager/dial-addresses.js'
import type { Clock, Connection, ConnectionManager, DialFn, PeerId } from '../manager/types.js'

/** How a node answers dials: accept, refuse at once, or never answer (until the dial is aborted). */
export type DialBehaviour = 'accept' | 'refuse' | 'hang'

/** The options of `new MemoryNetwork(options)`. */
export interface MemoryNetworkOptions {
  /** Default: the system clock. Use a ManualClock for virtual time. */
  clock?: Clock
  /** Dial latency in ms, fixed or per link. Default 0 (the dial resolves on the next microtask). */
  latency?: number | ((from: PeerId, to: PeerId) => number)
}

/**
 * An in-memory network: nodes dial each other by address ('mem://<id>') without sockets.
 *
 * Rules:
 * - A dial creates a pair of connections: the dialler's is outbound, the listener's inbound.
 * - The listener's manager (when bound) is told of its inbound end with `connected()`; if it refuses,
 *   the dial fails with `ERR_DIAL_FAILED` and the reason. The dialler's manager is not told: the
 *   manager that dialled reports its own connections (as a transport under `connectNow` would).
 * - Closing either end closes both, and each bound manager hears `disconnected()` for its end.
 *   The far end records the reason in `remoteCloseReason`.
 * - An offline node refuses every dial and is unreachable; going offline closes its connections.
 */
export class MemoryNetwork {
  readonly clock: Clock
  private readonly nodes = new Map<string, MemoryNode>()
  private readonly latency: (from: PeerId, to: PeerId) => number
  private nextId = 0
  private readonly dialHooks = new Map<string, () => void>()

  constructor (options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock
    const l = options.latency ?? 0
    this.latency = typeof l === 'function' ? l : () => l
  }

  /** Adds a node listening at 'mem://<id>'. */
  addNode (id: PeerId): MemoryNode {
    if (this.nodes.has(`mem://${id}`)) throw PeerwardenError.invalid(`node ${id} already exists`)
    const node = new MemoryNode(this, id)
    this.nodes.set(node.address, node)
    return node
  }

  /** The node at an address (`mem://<id>`) or with an id; undefined when none. */
  node (address: string): MemoryNode | undefined {
    return this.nodes.get(address) ?? this.nodes.get(`mem://${address}`)
  }

  /** Every open connection pair, once. */
  links (): Array<[MemoryConnection, MemoryConnection]> {
    const out: Array<[MemoryConnection, MemoryConnection]> = []
    for (const n of this.nodes.values()) {
      for (const c of n.connections()) if (c.direction === 'outbound') out.push([c, c.remote])
    }
    return out
  }

  /** Calls `fn` whenever someone dials `address` (counting load on bootstrap nodes, say). */
  onDial (address: string, fn: () => void): void {
    this.dialHooks.set(address, fn)
  }

  /** @internal */
  connectionId (): string { return `mc${this.nextId++}` }

  /**
   * @internal A dial of `address` by `from`: after the link's latency (a `Delivery`), or at once
   * when it has none. Not an async function: a large simulation holds tens of thousands of dials in
   * flight, and each frame, promise and closure of theirs outlives a few young-generation collections.
   */
  deliver (from: MemoryNode, address: string, signal: AbortSignal): Promise<MemoryConnection> {
    const target = this.nodes.get(address)
    const delay = target === undefined ? 0 : this.latency(from.id, target.id)
    if (delay > 0) {
      const promise = new Promise<MemoryConnection>(capture)
      // eslint-disable-next-line no-new
      new Delivery(this, from, address, signal, captured.resolve!, captured.reject!, delay)
      captured.resolve = captured.reject = undefined
      return promise
    }
    try {
      return Promise.resolve(this.arrive(from, address, signal))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * @internal The dial reaches `address` (its latency over): the connection pair, or the error the
   * dialler gets (thrown). A node that hangs answers with a promise that fails when the dial is aborted.
   */
  arrive (from: MemoryNode, address: string, signal: AbortSignal): MemoryConnection | Promise<MemoryConnection> {
    signal.throwIfAborted()
    this.dialHooks.get(address)?.()
    const target = this.nodes.get(address)
    if (target === undefined || !target.online) {
      throw quietError('ERR_DIAL_FAILED', `no node listens at ${address}`)
    }
    if (target.behaviour === 'refuse') throw quietError('ERR_DIAL_FAILED', `${address} refused the connection`)
    if (target.behaviour === 'hang') {
      return new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true }) })
    }
    const out = new MemoryConnection(this.connectionId(), from, target.id, 'outbound', target.address)
    const inb = new MemoryConnection(this.connectionId(), target, from.id, 'inbound', from.address)
    out.remote = inb
    inb.remote = out
    from.add(out)
    target.add(inb)
    const accepted = target.manager?.connected(inb) ?? true
    if (!accepted || !inb.open) throw quietError('ERR_DIAL_FAILED', target.refusal(inb.closeReason ?? 'closed'))
    return out
  }
}

/**
 * One dial on its way over a link with latency: its timer, and its listener on the dial's signal
 * (the object itself, `handleEvent`). Either ends it: the timer makes it arrive, the signal fails it
 * with the signal's reason.
 */
class Delivery {
  private readonly timer: unknown
  private readonly due: () => void

  constructor (
    private readonly network: MemoryNetwork,
    private readonly from: MemoryNode,
    private readonly address: string,
    private readonly signal: AbortSignal,
    private readonly resolve: (conn: MemoryConnection | Promise<MemoryConnection>) => void,
    private readonly reject: (err: unknown) => void,
    delay: number
  ) {
    this.due = () => { this.arrive() }
    this.timer = network.clock.setTimeout(this.due, delay)
    signal.addEventListener('abort', this, { once: true })
  }

  /** The signal aborted before the latency was over. */
  handleEvent (): void {
    this.network.clock.clearTimeout(this.timer)
    this.reject(this.signal.reason)
  }

  private arrive (): void {
    this.signal.removeEventListener('abort', this)
    try {
      this.resolve(this.network.arrive(this.from, this.address, this.signal))
    } catch (err) {
      this.reject(err)
    }
  }
}

/** The resolvers of the promise `capture` was last the executor of (read at once, then cleared). */
const captured: { resolve: ((conn: MemoryConnection | Promise<MemoryConnection>) => void) | undefined; reject: ((err: unknown) => void) | undefined } = { resolve: undefined, reject: undefined }

/** A promise executor that keeps its resolvers in `captured`: no closure per promise. */
function capture (resolve: (conn: MemoryConnection | Promise<MemoryConnection>) => void, reject: (err: unknown) => void): void {
  captured.resolve = resolve
  captured.reject = reject
}

/** One node of a MemoryNetwork. Pass `node.dial` to `createConnectionManager`, then `node.bind(manager)`. */
export class MemoryNode {
  readonly address: string
  manager: ConnectionManager | undefined
  behaviour: DialBehaviour = 'accept'
  online = true
  /** Dials started by this node. */
  dialCount = 0
  private readonly open = new Set<MemoryConnection>()

  constructor (private readonly network: MemoryNetwork, readonly id: PeerId) {
    this.address = `mem://${id}`
  }

  /**
   * The transport's dial function, for `createConnectionManager({ dial })`. Of its signal it reads
   * `aborted`, `reason`, `throwIfAborted()` and 'abort' listeners only: the manager may pass its
   * lighter switch (`LIGHT_SIGNAL`).
   */
  readonly dial: DialFn = Object.assign((address: string, opts: { peer?: PeerId; signal: AbortSignal }): Promise<Connection> => {
    this.dialCount++
    // Not an async function: the delivery is the dial's one frame (a simulation holds tens of thousands in flight).
    if (!this.online) return Promise.reject(new PeerwardenError('ERR_DIAL_FAILED', 'this node is offline'))
    return this.network.deliver(this, address, opts.signal)
  }, { [LIGHT_SIGNAL]: true })

  /** Reports inbound connections to `manager` from now on. */
  bind (manager: ConnectionManager): this {
    this.manager = manager
    return this
  }

  /** The open connections as the transport sees them. */
  connections (): MemoryConnection[] { return [...this.open] }

  /** The open connections, not copied: to be read before any of them opens or closes. */
  openConnections (): ReadonlySet<MemoryConnection> { return this.open }

  /** Disconnects everything and refuses dials until `goOnline()`. */
  goOffline (): void {
    this.online = false
    for (const c of [...this.open]) c.close('offline')
  }

  /** Back online: dials to the node are answered again. */
  goOnline (): void { this.online = true }

  /** The last refusal's reason and message: most refusals of a node give the same reason ('over-limit'). */
  private refused: { reason: string; message: string } | undefined = undefined

  /** @internal The message of a dial this node refused for `reason` (one string per reason in a row, not one per dial). */
  refusal (reason: string): string {
    const last = this.refused
    if (last !== undefined && last.reason === reason) return last.message
    const message = `${this.address} refused the connection: ${reason}`
    this.refused = { reason, message }
    return message
  }

  /** @internal */
  add (c: MemoryConnection): void { this.open.add(c) }
  /** @internal */
  drop (c: MemoryConnection): void { this.open.delete(c) }
}

/** One end of an in-memory connection. */
export class MemoryConnection implements Connection {
  remote!: MemoryConnection
  open = true
  closeReason: string | undefined
  remoteCloseReason: string | undefined
  /** Set it to simulate open streams (0 = idle). */
  streams = 0

  constructor (
    readonly id: string,
    readonly owner: MemoryNode,
    readonly peer: PeerId,
    readonly direction: 'inbound' | 'outbound',
    readonly address: string
  ) {}

  close (reason?: string): void {
    if (!this.open) return
    this.open = false
    this.closeReason = reason
    this.owner.drop(this)
    const remote = this.remote
    if (remote.open) {
      remote.open = false
      remote.remoteCloseReason = reason
      remote.owner.drop(remote)
      remote.owner.manager?.disconnected(remote)
    }
    this.owner.manager?.disconnected(this)
  }
}

/**
 * A dial error without a stack trace: a simulation refuses tens of thousands of dials a virtual
 * minute, and building each one with its stack took a few per cent of the run time. The code and message
 * are those of any other error; where it came from is the in-memory network.
 */
function quietError (code: 'ERR_DIAL_FAILED', message: string): PeerwardenError {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new PeerwardenError(code, message)
  } finally {
    Error.stackTraceLimit = limit
  }
}
