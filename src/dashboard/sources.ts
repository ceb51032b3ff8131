import type { ConnectionManager } from '../manager/types.js'

/**
 * What a dashboard can see beyond its own manager, as the caller gives it (the dashboard imports only
 * the core: `npm start`, the simulator or an application pass their nodes and mesh in), and the pure
 * functions that turn those into what the page draws.
 */

/** One node a network view can see. */
export interface NetworkNode {
  /** The node's peer id, as its peers know it. */
  id: string
  /** Its manager: live figures, its connections (the graph's edges) and `explain()`. */
  manager: ConnectionManager
  /** A short name for the graph. Default: the id's first 8 characters. */
  label?: string
  /** Drawn as a bootstrap node. Default false. */
  bootstrap?: boolean
}

/**
 * The nodes of a network view, asked every interval: `npm start`'s local nodes, a `Simulation`'s, a
 * mesh's. A peer that one of them is connected to but that is not listed is drawn as an outside point.
 */
export interface NetworkSource {
  /** The nodes now (asked every interval and on a click: keep it cheap). */
  nodes: () => Iterable<NetworkNode>
  /** Topic names by discovery key (what the nodes joined), so the page names topics instead of showing hashes. */
  topicNames?: () => Record<string, string>
}

/**
 * One instance of a mesh, as `createMeshNode()` returns it (`id`, `role`, `variant`, `stats()`). The
 * view shows what `stats()` has: numbers as figures, `commands` (per command counters: calls, errors…
 * since start) as rates per second, `breakers` (per peer or role: 'closed' | 'open' | 'half-open') as
 * counts by state. Anything missing is left out.
 */
export interface MeshInstance {
  /** The instance's node id. */
  id: string
  /** Its role in the schema. */
  role: string
  /** Its instance name. */
  variant?: string
  /** Its figures now (the mesh node's `stats()`). */
  stats: () => object
}

/** The instances of a mesh view, asked every interval. */
export interface MeshSource {
  /** The instances now (a `MeshNode` fits as it is). */
  instances: () => Iterable<MeshInstance>
}

/** A node of the network graph. `outside`: seen only as another node's peer. */
export interface GraphNode {
  id: string
  label: string
  bootstrap: boolean
  outside: boolean
  connections: number
  inbound: number
  outbound: number
  lowWater: number
  highWater: number
}

/** A connection of the graph, drawn from the dialer (`from`) to the node dialled (`to`). */
export interface GraphEdge { from: string; to: string; protected: boolean }

/** The network as the page draws it. `dropped`: listed nodes and connections left out past the budgets. */
export interface NetworkView { nodes: GraphNode[]; edges: GraphEdge[]; dropped: number }

/**
 * The graph of `nodes` now: every listed node, every peer they are connected to (as outside points),
 * one edge per connection, seen from either end (the dialer's side says the direction; protected if
 * either end protects it).
 *
 * Rules: at most `maxNodes` nodes (listed ones first) and `maxEdges` edges; a listed node past the
 * budget, or a connection whose peer is past it or past the edge budget, counts once in `dropped`.
 */
export function networkView (nodes: Iterable<NetworkNode>, maxNodes = 1000, maxEdges = 5000): NetworkView {
  const byId = new Map<string, GraphNode>()
  const edges = new Map<string, GraphEdge>()
  let dropped = 0
  const listed: NetworkNode[] = []
  for (const n of nodes) {
    if (byId.has(n.id)) continue
    if (byId.size >= maxNodes) { dropped++; continue }
    const s = n.manager.stats()
    byId.set(n.id, { id: n.id, label: n.label ?? n.id.slice(0, 8), bootstrap: n.bootstrap === true, outside: false, connections: s.connections, inbound: s.inbound, outbound: s.outbound, lowWater: s.lowWater, highWater: s.highWater })
    listed.push(n)
  }
  for (const n of listed) {
    for (const c of n.manager.listConnections()) {
      if (!byId.has(c.peer)) {
        if (byId.size >= maxNodes) { dropped++; continue }
        byId.set(c.peer, { id: c.peer, label: c.peer.slice(0, 8), bootstrap: false, outside: true, connections: 0, inbound: 0, outbound: 0, lowWater: 0, highWater: 0 })
      }
      const from = c.direction === 'outbound' ? n.id : c.peer
      const to = from === n.id ? c.peer : n.id
      const key = from + '>' + to
      const seen = edges.get(key)
      if (seen !== undefined) { seen.protected ||= c.protected; continue }
      if (edges.size >= maxEdges) { dropped++; continue }
      edges.set(key, { from, to, protected: c.protected })
    }
  }
  for (const e of edges.values()) {
    // An outside point's count is what the listed nodes see of it.
    for (const end of [e.from, e.to]) {
      const g = byId.get(end)!
      if (!g.outside) continue
      g.connections++
      if (end === e.from) g.outbound++
      else g.inbound++
    }
  }
  return { nodes: [...byId.values()], edges: [...edges.values()], dropped }
}

/** One instance in the mesh view. */
export interface MeshRow {
  id: string
  role: string
  variant: string
  /** The numbers of `stats()` as they are (calls in flight, running, queued…). */
  figures: Record<string, number>
  /** Per second since the previous view, from the `commands` counters summed over commands (e.g. calls, errors). */
  rates: Record<string, number>
  /** Per command: its counters' rates per second. */
  commands: Record<string, Record<string, number>>
  /** Breakers by state ('closed', 'open', 'half-open'). */
  breakers: Record<string, number>
}

/** The counters of the previous mesh view, to make rates: instance id -> { at, command -> counter -> value }. */
export type MeshTotals = Map<string, { at: number; commands: Record<string, Record<string, number>> }>

/**
 * The mesh now, with rates per second from the `commands` counters against `previous` (updated in
 * place). Rules: a `stats()` that throws or is not an object shows no figures; counters that went
 * down (a restart) count from 0; at most `maxInstances` rows and 50 commands per instance.
 */
export function meshView (instances: Iterable<MeshInstance>, previous: MeshTotals, at: number, maxInstances = 500): MeshRow[] {
  const rows: MeshRow[] = []
  const seen = new Set<string>()
  for (const inst of instances) {
    if (rows.length >= maxInstances) break
    seen.add(inst.id)
    let stats: Record<string, unknown> = {}
    try {
      const s = inst.stats()
      if (s !== null && typeof s === 'object') stats = s as Record<string, unknown>
    } catch {}
    const figures: Record<string, number> = {}
    for (const [k, v] of Object.entries(stats)) if (typeof v === 'number' && Number.isFinite(v)) figures[k] = v
    const totals = commandTotals(stats.commands)
    const before = previous.get(inst.id)
    const seconds = before === undefined ? 0 : (at - before.at) / 1000
    const rates: Record<string, number> = {}
    const commands: Record<string, Record<string, number>> = {}
    for (const [name, counters] of Object.entries(totals)) {
      commands[name] = {}
      for (const [k, v] of Object.entries(counters)) {
        const was = before?.commands[name]?.[k] ?? 0
        const rate = seconds > 0 ? Math.max(0, v >= was ? v - was : v) / seconds : 0
        commands[name][k] = rate
        rates[k] = (rates[k] ?? 0) + rate
      }
    }
    previous.set(inst.id, { at, commands: totals })
    rows.push({ id: inst.id, role: inst.role, variant: inst.variant ?? '', figures, rates, commands, breakers: breakerCounts(stats.breakers) })
  }
  for (const id of previous.keys()) if (!seen.has(id)) previous.delete(id)
  return rows
}

/** `commands` as { name: { counter: number } }, whatever else it holds left out. */
function commandTotals (commands: unknown): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  if (commands === null || typeof commands !== 'object') return out
  if (Array.isArray(commands)) return figureTotals(commands)
  const entries = commands instanceof Map ? [...commands.entries()] : Object.entries(commands)
  for (const [name, counters] of entries.slice(0, 50)) {
    if (counters === null || typeof counters !== 'object') continue
    const c: Record<string, number> = {}
    for (const [k, v] of Object.entries(counters as object)) if (typeof v === 'number' && Number.isFinite(v)) c[k] = v
    out[String(name)] = c
  }
  return out
}

/**
 * The mesh's own shape: one entry per command and instance called (`{ role, command, calls,
 * outcomes: { OK | code: n }, inFlight }`), summed per `Role.command`: calls, errors (every outcome
 * but 'OK'), inFlight.
 */
function figureTotals (figures: unknown[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  for (const f of figures.slice(0, 5000)) {
    if (f === null || typeof f !== 'object') continue
    const { role, command, calls, outcomes, inFlight } = f as { role?: unknown; command?: unknown; calls?: unknown; outcomes?: unknown; inFlight?: unknown }
    if (typeof role !== 'string' || typeof command !== 'string') continue
    const name = `${role}.${command}`.slice(0, 100)
    if (!(name in out) && Object.keys(out).length >= 50) continue
    const c = out[name] ??= { calls: 0, errors: 0, inFlight: 0 }
    if (typeof calls === 'number' && Number.isFinite(calls)) c.calls! += calls
    if (typeof inFlight === 'number' && Number.isFinite(inFlight)) c.inFlight! += inFlight
    if (outcomes !== null && typeof outcomes === 'object') {
      for (const [code, n] of Object.entries(outcomes)) if (code !== 'OK' && typeof n === 'number' && Number.isFinite(n)) c.errors! += n
    }
  }
  return out
}

/** `breakers` (a record or array of states, or of objects with a `state`) as counts by state. */
function breakerCounts (breakers: unknown): Record<string, number> {
  const out: Record<string, number> = {}
  if (breakers === null || typeof breakers !== 'object') return out
  const values = breakers instanceof Map ? [...breakers.values()] : Object.values(breakers)
  for (const b of values) {
    const state = typeof b === 'string' ? b : (b !== null && typeof b === 'object' && typeof (b as { state?: unknown }).state === 'string') ? (b as { state: string }).state : undefined
    if (state !== undefined) out[state.slice(0, 20)] = (out[state.slice(0, 20)] ?? 0) + 1
  }
  return out
}
