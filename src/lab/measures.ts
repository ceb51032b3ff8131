import type { LabEvent, LabResult, Measures, NodeSample, PartitionMeasure, RestartMeasure } from './types.js'

type Input = Omit<LabResult, 'measures'>

/**
 * The measures of a run, from its samples and events (pure). A node's state is its latest sample;
 * a kill clears it until the node's next sample. Counters that restart with a process (dials) are
 * summed over its lives.
 */
export function measure (r: Input): Measures {
  const target = Math.min(r.scenario.lowWater, r.scenario.nodes - 1)
  const readyAt = r.events.find((e) => e.kind === 'ready')?.t ?? 0
  const idToNode = new Map(r.nodes.map((n) => [n.id, n.index]))
  const bootstrap = new Set(r.nodes.filter((n) => n.bootstrap).map((n) => n.index))
  const timeline = mergeTimeline(r.samples, r.events)
  const state = new Map<number, NodeSample>()
  let convergedAt: number | null = null
  const partitions: PartitionMeasure[] = []
  let open: PartitionMeasure | undefined
  const dead = new Set<number>()
  // Bootstrap nodes aside: the others let their bootstrap connections go once they have peers of their own.
  // A node counts with a sample taken after every node started (one from before may be long stale).
  const atTarget = (n: number): boolean => { const s = state.get(n); return s !== undefined && s.t >= readyAt && s.connections >= target }
  const allAtTarget = (): boolean => r.nodes.every((n) => n.bootstrap || dead.has(n.index) || atTarget(n.index))
  const crossing = (members: Set<number>): number => {
    let n = 0
    for (const [node, s] of state) {
      for (const p of s.peers) {
        const other = idToNode.get(p)
        if (other !== undefined && members.has(node) !== members.has(other)) n++
      }
    }
    return n
  }
  for (const item of timeline) {
    if ('kind' in item) {
      const e = item
      if (e.kind === 'kill') for (const n of e.nodes ?? []) { state.delete(n); dead.add(n) }
      if (e.kind === 'restart') for (const n of e.nodes ?? []) dead.delete(n)
      if (e.kind === 'partition') {
        open = { at: e.t, hosts: e.hosts ?? [], nodes: e.nodes ?? [], detectedAfter: null, healedAt: null, healedAfter: null }
        partitions.push(open)
      }
      if (e.kind === 'heal' && open !== undefined) open.healedAt = e.t
      continue
    }
    state.set(item.node, item)
    if (convergedAt === null && item.t >= readyAt && allAtTarget()) convergedAt = item.t
    if (open !== undefined) {
      const members = new Set(open.nodes)
      const cross = crossing(members)
      if (open.detectedAfter === null && open.healedAt === null && cross === 0) open.detectedAfter = item.t - open.at
      const bothSides = open.nodes.length > 0 && open.nodes.length < state.size
      if (open.healedAt !== null && open.healedAfter === null && (!bothSides || cross > 0) && allAtTarget()) {
        open.healedAfter = item.t - open.healedAt
        open = undefined
      }
    }
  }
  let dials = 0
  let dialsFailed = 0
  let refusedPerIp = 0
  let bootstrapPeak = 0
  const byNode = new Map<number, NodeSample[]>()
  for (const s of r.samples) {
    const list = byNode.get(s.node) ?? []
    list.push(s)
    byNode.set(s.node, list)
    if (bootstrap.has(s.node)) bootstrapPeak = Math.max(bootstrapPeak, s.connections)
  }
  for (const list of byNode.values()) {
    let prev: NodeSample | undefined
    for (const s of list) {
      // A new life starts its counters at 0: add what the previous life ended with.
      if (prev !== undefined && s.dials < prev.dials) { dials += prev.dials; dialsFailed += prev.dialsFailed; refusedPerIp += prev.refusedRate + prev.refusedPerIp }
      prev = s
    }
    if (prev !== undefined) { dials += prev.dials; dialsFailed += prev.dialsFailed; refusedPerIp += prev.refusedRate + prev.refusedPerIp }
  }
  const bytes = new Map<number, { host: number; rx: number; tx: number }>()
  for (const s of r.samples) {
    const host = r.nodes[s.node]?.host ?? 0
    const b = bytes.get(host) ?? { host, rx: 0, tx: 0 }
    b.rx = Math.max(b.rx, s.rx)
    b.tx = Math.max(b.tx, s.tx)
    bytes.set(host, b)
  }
  return {
    target,
    readyAt,
    convergedAt,
    convergedAfter: convergedAt === null ? null : convergedAt - readyAt,
    maxConnections: r.samples.reduce((m, s) => Math.max(m, s.connections), 0),
    aboveHighWater: r.samples.filter((s) => s.connections > r.scenario.highWater).length,
    dials,
    dialsFailed,
    refusedPerIp,
    bootstrapPeak,
    partitions,
    restarts: restarts(r, idToNode, bootstrap),
    nat: natReach(r),
    bytes: [...bytes.values()].sort((a, b) => a.host - b.host)
  }
}

/** Samples and events in time order (an event before a sample of the same ms). */
function mergeTimeline (samples: NodeSample[], events: LabEvent[]): Array<NodeSample | LabEvent> {
  const all: Array<NodeSample | LabEvent> = [...events, ...samples]
  return all.sort((a, b) => a.t - b.t || ('kind' in a ? -1 : 0) - ('kind' in b ? -1 : 0))
}

function natReach (r: Input): Measures['nat'] {
  const hostOf = new Map(r.nodes.map((n) => [n.id, n.host]))
  const natted = new Set(r.nodes.filter((n) => r.hosts[n.host]?.nat !== undefined).map((n) => n.index))
  const reached = new Set<number>()
  const dialledOut = new Set<number>()
  for (const s of r.samples) {
    if (!natted.has(s.node)) continue
    const own = r.nodes[s.node].host
    if (s.inboundPeers.some((p) => hostOf.get(p) !== undefined && hostOf.get(p) !== own)) reached.add(s.node)
    if (s.peers.length > s.inboundPeers.length) dialledOut.add(s.node)
  }
  return { nodes: natted.size, reached: reached.size, dialledOut: dialledOut.size }
}

function restarts (r: Input, idToNode: Map<string, number>, bootstrap: Set<number>): RestartMeasure[] {
  const out: RestartMeasure[] = []
  const peersOf = (s: NodeSample): number[] => s.peers.map((p) => idToNode.get(p)).filter((x): x is number => x !== undefined).sort((a, b) => a - b)
  for (const e of r.events) {
    if (e.kind !== 'restart') continue
    for (const node of e.nodes ?? []) {
      const kill = [...r.events].reverse().find((k) => k.kind === 'kill' && k.t <= e.t && (k.nodes ?? []).includes(node))
      const mine = r.samples.filter((s) => s.node === node)
      const last = [...mine].reverse().find((s) => s.t <= (kill?.t ?? e.t))
      const later = mine.filter((s) => s.t >= e.t)
      const firstSample = later.find((s) => s.connections > 0)
      const before = last === undefined ? [] : peersOf(last)
      const first = firstSample === undefined ? [] : peersOf(firstSample)
      // The window starts when the process reports (starting many at once on a busy machine takes seconds).
      const back = later[0]?.t ?? e.t
      const after = [...new Set(later.filter((s) => s.t <= back + 10_000).flatMap(peersOf))].sort((a, b) => a - b)
      out.push({ node, at: e.t, before, first, after, returned: after.filter((p) => before.includes(p)).length, firstBootstrap: first.filter((p) => bootstrap.has(p)).length })
    }
  }
  return out
}
