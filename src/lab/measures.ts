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
  const natOf = (host: number | undefined): string | undefined => host === undefined ? undefined : r.hosts[host]?.nat
  const natted = new Set(r.nodes.filter((n) => natOf(n.host) !== undefined).map((n) => n.index))
  const reached = new Set<number>()
  const dialledOut = new Set<number>()
  const relayed = new Set<number>()
  const natPeers = new Set<number>()
  const natDirect = new Set<number>()
  // Punch counters restart with the process: the most seen in each life, summed.
  const punches = new Map<number, { lives: Array<{ punches: number; direct: number }>; last: number }>()
  const lastSample = new Map<number, NodeSample>()
  for (const s of r.samples) {
    if (!natted.has(s.node)) continue
    lastSample.set(s.node, s)
    const own = r.nodes[s.node].host
    const elsewhere = (p: string): boolean => hostOf.get(p) !== undefined && hostOf.get(p) !== own
    if (s.inboundPeers.some(elsewhere)) reached.add(s.node)
    if (s.peers.length > s.inboundPeers.length) dialledOut.add(s.node)
    const viaRelay = new Set(s.reach?.relayedPeers ?? [])
    if ([...viaRelay].some(elsewhere)) relayed.add(s.node)
    for (const p of s.peers) {
      if (!elsewhere(p) || natOf(hostOf.get(p)) === undefined) continue
      natPeers.add(s.node)
      if (!viaRelay.has(p)) natDirect.add(s.node)
    }
    if (s.reach !== undefined) {
      const e = punches.get(s.node) ?? { lives: [], last: -1 }
      if (s.reach.punches < e.last || e.lives.length === 0) e.lives.push({ punches: 0, direct: 0 })
      const life = e.lives[e.lives.length - 1]!
      life.punches = Math.max(life.punches, s.reach.punches)
      life.direct = Math.max(life.direct, s.reach.punchesDirect)
      e.last = s.reach.punches
      punches.set(s.node, e)
    }
  }
  const kinds = new Map<string, { kind: string; nodes: number; punches: number; punchesDirect: number }>()
  for (const n of natted) {
    const kind = natOf(r.nodes[n].host)!
    const k = kinds.get(kind) ?? { kind, nodes: 0, punches: 0, punchesDirect: 0 }
    k.nodes++
    for (const life of punches.get(n)?.lives ?? []) { k.punches += life.punches; k.punchesDirect += life.direct }
    kinds.set(kind, k)
  }
  const connections = { relayed: 0, direct: 0 }
  for (const s of lastSample.values()) {
    const viaRelay = new Set(s.reach?.relayedPeers ?? [])
    for (const p of s.peers) if (viaRelay.has(p)) connections.relayed++; else connections.direct++
  }
  return {
    nodes: natted.size,
    reached: reached.size,
    dialledOut: dialledOut.size,
    relayed: relayed.size,
    natPeers: natPeers.size,
    natDirect: natDirect.size,
    kinds: [...kinds.values()].sort((a, b) => a.kind.localeCompare(b.kind)),
    connections
  }
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
