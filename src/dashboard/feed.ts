import type { ConnectionManager } from '../manager/types.js'
import { History, Ring, type HistoryOptions, type LoggedEvent } from './history.js'
import { meshView, networkView, type MeshSource, type MeshTotals, type NetworkNode, type NetworkSource } from './sources.js'

/** The manager events the page's log shows (dial:started is left out: one per dial is noise there). */
const LOGGED = ['peer:connected', 'peer:disconnected', 'connection:refused', 'connection:closed', 'dial:failed', 'trim', 'peer:priority', 'store:error'] as const

/** How each logged event is counted in the samples. */
const KIND: Record<(typeof LOGGED)[number], string> = {
  'peer:connected': 'connected',
  'peer:disconnected': 'disconnected',
  'connection:refused': 'refused',
  'connection:closed': 'closed',
  'dial:failed': 'failed',
  trim: 'trimmed',
  'peer:priority': 'priority',
  'store:error': 'storeErrors'
}

/** How the network's events are counted in the samples (summed over its nodes). */
const NETWORK_KIND: Partial<Record<(typeof LOGGED)[number], string>> = {
  'peer:connected': 'netConnected',
  'peer:disconnected': 'netDisconnected',
  'connection:refused': 'netRefused',
  trim: 'netTrimmed'
}

/** Network events one interval passes on to the page (the graph's highlights); the rest are counted. */
const MAX_ACTIVITY = 300

/** What a `Feed` needs. */
export interface FeedOptions {
  interval: number
  maxPeers: number
  network?: NetworkSource
  mesh?: MeshSource
  history?: HistoryOptions
}

/** A message for the pages: an SSE event name and its data. */
export type Emit = (event: string, data: () => unknown) => void

/**
 * What the dashboard collects, from the moment it starts (so a page opened late has the last minutes):
 * every `interval` a snapshot of the manager, of the network and of the mesh when given, recorded in
 * the `History` and emitted; and the manager's events, logged, counted and emitted as they come.
 *
 * Rules:
 * - The timer is unref'd; `close()` stops it and every listener. Listening changes nothing in the
 *   managers.
 * - The network's managers are listened to while the source lists them (re-read every interval: a
 *   restarted node's new manager is picked up, a gone one dropped). Their connections, closes,
 *   refusals and trims are passed on (at most 300 an interval; the rest are counted in `dropped`) and
 *   remembered (500 at most).
 * - A source that throws shows nothing for that interval; the dashboard keeps running.
 * - Emitted data is built only when a page listens (`emit` takes a function).
 */
export class Feed {
  readonly history: History
  /** The network's recent events, for a page opened late. */
  readonly activity = new Ring<LoggedEvent>(500)
  private timer: NodeJS.Timeout | undefined
  private readonly stops: Array<() => void> = []
  private readonly watched = new Map<ConnectionManager, () => void>()
  private pending: LoggedEvent[] = []
  private dropped = 0
  private readonly meshTotals: MeshTotals = new Map()
  private last: { network?: unknown; mesh?: unknown } = {}

  constructor (private readonly manager: ConnectionManager, private readonly opts: FeedOptions, private readonly emit: Emit) {
    this.history = new History(opts.history)
  }

  /** Listens to the manager and starts the timer (one tick at once). */
  start (): void {
    for (const type of LOGGED) {
      const fn = (e: Event): void => {
        const event = describe(type, (e as CustomEvent<Record<string, unknown>>).detail)
        // A trim counts the connections it closed; any other event counts once.
        this.history.count(KIND[type], type === 'trim' && typeof event.closed === 'number' ? event.closed : 1)
        this.history.log(event)
        this.emit('manager', () => event)
      }
      this.manager.events.addEventListener(type, fn)
      this.stops.push(() => { this.manager.events.removeEventListener(type, fn) })
    }
    this.tick()
    this.timer = setInterval(() => { this.tick() }, this.opts.interval)
    this.timer.unref()
  }

  /** What a page gets when it opens: the settings, the history, and the last network and mesh views. */
  hello (): Record<string, unknown> {
    let topicNames: Record<string, string> = {}
    try { topicNames = this.opts.network?.topicNames?.() ?? {} } catch {}
    return {
      interval: this.opts.interval,
      views: { network: this.opts.network !== undefined, mesh: this.opts.mesh !== undefined },
      topicNames,
      ...this.history.dump(),
      activity: this.activity.toArray(),
      network: this.last.network ?? null,
      mesh: this.last.mesh ?? null
    }
  }

  /** The manager now: { at, stats, connections } (at most `maxPeers`, highest value first). */
  snapshot (at = Date.now()): { at: number; stats: ReturnType<ConnectionManager['stats']>; connections: ReturnType<ConnectionManager['listConnections']> } {
    const connections = this.manager.listConnections()
    if (connections.length > this.opts.maxPeers) connections.sort((a, b) => b.value - a.value).length = this.opts.maxPeers
    return { at, stats: this.manager.stats(), connections }
  }

  /** One interval: the snapshots, the sample, the messages. */
  tick (at = Date.now()): void {
    const snap = this.snapshot(at)
    const s = snap.stats
    const figures: Record<string, number> = { connections: s.connections, inbound: s.inbound, outbound: s.outbound, dialing: s.dialing, known: s.known, lowWater: s.lowWater, highWater: s.highWater }
    this.emit('snapshot', () => snap)
    if (this.opts.network !== undefined) {
      try {
        const listed = [...this.opts.network.nodes()]
        this.watch(listed)
        const view = networkView(listed)
        const counts = view.nodes.filter((n) => !n.outside).map((n) => n.connections)
        figures.netNodes = counts.length
        figures.netEdges = view.edges.length
        figures.netMin = counts.reduce((a, b) => Math.min(a, b), counts.length === 0 ? 0 : Infinity)
        figures.netAvg = counts.length === 0 ? 0 : +(counts.reduce((a, b) => a + b, 0) / counts.length).toFixed(2)
        figures.netMax = counts.reduce((a, b) => Math.max(a, b), 0)
        const message = { at, ...view, activity: this.pending, activityDropped: this.dropped }
        this.pending = []
        this.dropped = 0
        this.last.network = message
        this.emit('network', () => message)
      } catch {}
    }
    if (this.opts.mesh !== undefined) {
      try {
        const instances = meshView(this.opts.mesh.instances(), this.meshTotals, at)
        figures.meshInstances = instances.length
        figures.meshCallsPerSecond = +instances.reduce((a, r) => a + (r.rates.calls ?? 0), 0).toFixed(2)
        figures.meshErrorsPerSecond = +instances.reduce((a, r) => a + (r.rates.errors ?? 0), 0).toFixed(2)
        figures.meshInFlight = instances.reduce((a, r) => a + (r.figures.calls ?? 0), 0)
        figures.meshOpenBreakers = instances.reduce((a, r) => a + (r.breakers.open ?? 0), 0)
        const message = { at, instances }
        this.last.mesh = message
        this.emit('mesh', () => message)
      } catch {}
    }
    const sample = this.history.record(at, figures)
    this.emit('sample', () => sample)
  }

  /** Stops the timer and every listener. Idempotent. */
  close (): void {
    clearInterval(this.timer)
    this.timer = undefined
    for (const stop of this.stops.splice(0)) stop()
    for (const stop of this.watched.values()) stop()
    this.watched.clear()
  }

  /** Listens to the managers of `nodes` and to no other. */
  private watch (nodes: NetworkNode[]): void {
    const now = new Map(nodes.map((n) => [n.manager, n.id]))
    for (const [manager, stop] of this.watched) {
      if (!now.has(manager)) { stop(); this.watched.delete(manager) }
    }
    for (const [manager, id] of now) {
      if (this.watched.has(manager)) continue
      const types = ['peer:connected', 'peer:disconnected', 'connection:refused', 'connection:closed', 'trim'] as const
      const fns = types.map((type) => {
        const fn = (e: Event): void => { this.network(id, type, (e as CustomEvent<Record<string, unknown>>).detail) }
        manager.events.addEventListener(type, fn)
        return () => { manager.events.removeEventListener(type, fn) }
      })
      this.watched.set(manager, () => { for (const f of fns) f() })
    }
  }

  private network (node: string, type: (typeof LOGGED)[number], detail: Record<string, unknown>): void {
    const event: LoggedEvent = { ...describe(type, detail), node }
    const kind = NETWORK_KIND[type]
    if (kind !== undefined) this.history.count(kind, type === 'trim' && typeof event.closed === 'number' ? event.closed : 1)
    this.activity.push(event)
    if (this.pending.length < MAX_ACTIVITY) this.pending.push(event)
    else this.dropped++
  }
}

/** A manager event as the page shows it: plain fields, no connection objects. */
export function describe (type: string, d: Record<string, unknown>): LoggedEvent {
  const conn = d.connection as { peer?: string; direction?: string; address?: string } | undefined
  const out: LoggedEvent = { at: Date.now(), type }
  const peer = (d.peer as string | undefined) ?? conn?.peer
  if (peer !== undefined) out.peer = peer
  if (conn?.direction !== undefined) out.direction = conn.direction
  if (conn?.address !== undefined) out.address = conn.address
  if (typeof d.reason === 'string') out.reason = d.reason
  if (typeof d.closed === 'number') out.closed = d.closed
  if (typeof d.priority === 'string') out.priority = d.priority
  if (typeof d.address === 'string') out.address = d.address
  if (d.error instanceof Error) out.error = d.error.message
  return out
}
