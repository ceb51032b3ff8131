/**
 * The adapters under pressure, side by side with the stacks' own limits:
 * - libp2p: js-libp2p's pruning scenarios (bound 20, 40 peers) with libp2p's
 *   own connection manager (`maxConnections: 20`) and with `peerwarden/libp2p` (`highWater: 20`).
 * - Hyperswarm: 11 swarms dial one target on a topic; the target's `maxPeers: 4` alone vs
 *   `manageSwarm(target, { highWater: 4 })`.
 * Counted on the target: the peak of open connections (sampled on every open and close event), the
 * time spent above the bound, the connections it closed, and the dials refused.
 */
import './peers/polyfill.js'
import { randomBytes } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { peerwarden, type PeerwardenService } from '../src/adapters/libp2p.js'
import { manageSwarm, type HyperswarmLike } from '../src/adapters/hyperswarm.js'
import { median, nowMs, rotated, sleep } from './peers/common.js'
import type { Figure } from './manager.bench.js'

type Node = Awaited<ReturnType<typeof createLibp2p>>
interface Conn { status: string }
const LOOPBACK = { inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1_000 }

/** What one run of one scenario measured on the target. */
interface LimitRun { peak: number; aboveMs: number; closed: number; refused: number; settled: number }

/** Tracks the open-connection count of the target: peak, and time above `bound` (from `from` on). */
class BoundWatch {
  peak = 0
  aboveMs = 0
  closed = 0
  private since: number | undefined
  bound: number
  constructor (bound: number, private readonly count: () => number) { this.bound = bound }
  sample (): void {
    const c = this.count()
    this.peak = Math.max(this.peak, c)
    const t = nowMs()
    if (c > this.bound && this.since === undefined) this.since = t
    if (c <= this.bound && this.since !== undefined) { this.aboveMs += t - this.since; this.since = undefined }
  }

  finish (): void { if (this.since !== undefined) { this.aboveMs += nowMs() - this.since; this.since = undefined } }
}

async function settle (count: () => number, quietMs = 600, maxMs = 8_000): Promise<void> {
  const end = nowMs() + maxMs
  let last = -1
  let stableSince = nowMs()
  while (nowMs() - stableSince < quietMs && nowMs() < end) {
    const c = count()
    if (c !== last) { last = c; stableSince = nowMs() }
    await sleep(20)
  }
}

async function libp2pNode (connectionManager: Record<string, unknown>, services: Record<string, unknown> = {}): Promise<Node> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { ...LOOPBACK, ...connectionManager },
    services: services as any
  })
}

type Scenario = 'inbound' | 'outbound' | 'lowered'
type Contestant = 'libp2p' | 'peerwarden'

async function libp2pRun (scenario: Scenario, who: Contestant, bound: number, peers: number): Promise<LimitRun> {
  const start = scenario === 'lowered' ? 100 : bound
  const t = who === 'libp2p'
    ? await libp2pNode({ maxConnections: start })
    : await libp2pNode({}, { warden: peerwarden({ lowWater: Math.min(start, bound), highWater: start }) })
  const others = await Promise.all(Array.from({ length: peers }, async () => await libp2pNode({})))
  const open = (): number => (t.getConnections() as unknown as Conn[]).filter((c) => c.status === 'open').length
  const watch = new BoundWatch(scenario === 'lowered' ? Infinity : bound, open)
  t.addEventListener('connection:open', () => { watch.sample() })
  t.addEventListener('connection:close', () => { watch.closed++; watch.sample() })
  let refused = 0
  try {
    const target = t.getMultiaddrs()[0]!
    if (scenario === 'outbound') {
      await Promise.all(others.map(async (o) => { await t.dial(o.getMultiaddrs()[0]!).catch(() => { refused++ }) }))
    } else {
      await Promise.all(others.map(async (o) => { await o.dial(target).catch(() => { refused++ }) }))
    }
    if (scenario === 'lowered') {
      await settle(open, 300)
      watch.closed = 0
      watch.bound = bound
      if (who === 'libp2p') (t as unknown as { components: { connectionManager: { setMaxConnections: (n: number) => void } } }).components.connectionManager.setMaxConnections(bound)
      else (t.services as unknown as { warden: PeerwardenService }).warden.manager.setMaxConnections(bound)
      watch.sample()
    }
    await settle(open)
    watch.finish()
    return { peak: watch.peak, aboveMs: watch.aboveMs, closed: watch.closed, refused, settled: open() }
  } finally {
    await Promise.race([Promise.allSettled([t, ...others].map(async (n) => { await n.stop() })), sleep(10_000)])
  }
}

function describeRuns (rs: LimitRun[]): string {
  const m = (f: (r: LimitRun) => number): number => +median(rs.map(f)).toFixed(1)
  return `peak ${m((r) => r.peak)}, above the bound ${m((r) => r.aboveMs)} ms, closed ${m((r) => r.closed)}, dials refused ${m((r) => r.refused)}, held at the end ${m((r) => r.settled)} (medians; peaks per run ${rs.map((r) => r.peak).join('/')})`
}

export interface LimitOptions { runs?: number; bound?: number; peers?: number }

/** prune.mjs's scenarios with libp2p's own limit and with peerwarden/libp2p. */
export async function libp2pLimits (opts: LimitOptions = {}): Promise<Figure[]> {
  const runs = opts.runs ?? 3
  const bound = opts.bound ?? 20
  const peers = opts.peers ?? 40
  const out: Figure[] = []
  const label: Record<Scenario, string> = {
    inbound: `${peers} peers dial in at once`,
    outbound: `the node dials ${peers} peers at once`,
    lowered: `the limit lowered from 100 to ${bound} with ${peers} connected`
  }
  for (const scenario of ['inbound', 'outbound', 'lowered'] as Scenario[]) {
    const results: Record<Contestant, LimitRun[]> = { libp2p: [], peerwarden: [] }
    for (let r = 0; r < runs; r++) {
      for (const who of rotated<Contestant>(['libp2p', 'peerwarden'], r)) results[who].push(await libp2pRun(scenario, who, bound, peers))
    }
    const pwPeak = Math.max(...results.peerwarden.map((x) => x.peak))
    const needed = scenario === 'lowered' ? peers - bound : 0
    if (scenario === 'lowered') {
      // The peak is the 40 held before the limit changed; what counts is how fast and how cleanly
      // the new bound is restored.
      const above = +median(results.peerwarden.map((x) => x.aboveMs)).toFixed(1)
      const closedOk = results.peerwarden.every((x) => x.closed === needed && x.settled <= bound)
      out.push({
        name: `libp2p limit, ${label[scenario]}: time above the new bound with peerwarden`,
        value: above,
        unit: 'ms',
        target: `back to ${bound} closing exactly ${needed}`,
        runs,
        note: `peerwarden: ${describeRuns(results.peerwarden)}; libp2p's own connection manager: ${describeRuns(results.libp2p)}; ${closedOk ? 'target met' : 'target NOT met'}`
      })
      continue
    }
    out.push({
      name: `libp2p limit, ${label[scenario]}: peak with peerwarden (bound ${bound})`,
      value: pwPeak,
      unit: 'connections',
      target: `<= ${bound}`,
      runs,
      note: `peerwarden: ${describeRuns(results.peerwarden)}; libp2p's own connection manager (maxConnections ${bound}): ${describeRuns(results.libp2p)}; closes needed: ${needed}; ${pwPeak <= bound ? 'target met' : 'target NOT met'}`
    })
  }
  return out
}

// ── Hyperswarm ──────────────────────────────────────────────────────────────

async function hyperswarmRun (who: 'hyperswarm' | 'peerwarden', bound: number, dialers: number): Promise<LimitRun> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const target = new Hyperswarm({ dht: testnet.createNode(), maxPeers: who === 'hyperswarm' ? bound : 64 })
  const managed = who === 'peerwarden' ? manageSwarm(target as unknown as HyperswarmLike, { lowWater: Math.max(1, bound / 2), highWater: bound }) : undefined
  const others = Array.from({ length: dialers }, () => new Hyperswarm({ dht: testnet.createNode(), maxPeers: 64 }))
  /** Connections not already being destroyed (a refusal destroys in the tick it is announced). */
  const open = (): number => [...target.connections].filter((c) => (c as { destroying?: boolean }).destroying !== true).length
  const watch = new BoundWatch(bound, open)
  target.on('connection', (conn: { on: (e: string, f: (...a: unknown[]) => void) => void }) => {
    conn.on('error', () => {})
    conn.on('close', () => { watch.closed++; watch.sample() })
    watch.sample()
  })
  for (const o of others) o.on('connection', (conn: { on: (e: string, f: (...a: unknown[]) => void) => void }) => { conn.on('error', () => {}) })
  try {
    const topic = randomBytes(32)
    await target.join(topic, { server: true, client: true }).flushed()
    await Promise.all(others.map(async (o) => { await o.join(topic, { server: false, client: true }).flushed() }))
    await Promise.all(others.map(async (o) => { await o.flush() }))
    await settle(open, 800, 10_000)
    watch.finish()
    return { peak: watch.peak, aboveMs: watch.aboveMs, closed: watch.closed, refused: 0, settled: open() }
  } finally {
    await managed?.close()
    await Promise.race([Promise.allSettled([target, ...others].map(async (s) => { await s.destroy() })), sleep(8_000)])
    await Promise.race([testnet.destroy(), sleep(5_000)])
  }
}

/** 11 swarms dial one target: Hyperswarm's maxPeers (outbound only) vs the manager's highWater. */
export async function hyperswarmLimits (opts: LimitOptions = {}): Promise<Figure[]> {
  const runs = opts.runs ?? 3
  const bound = opts.bound ?? 4
  const dialers = opts.peers ?? 11
  const results: Record<'hyperswarm' | 'peerwarden', LimitRun[]> = { hyperswarm: [], peerwarden: [] }
  for (let r = 0; r < runs; r++) {
    for (const who of rotated<'hyperswarm' | 'peerwarden'>(['hyperswarm', 'peerwarden'], r)) results[who].push(await hyperswarmRun(who, bound, dialers))
  }
  const pwPeak = Math.max(...results.peerwarden.map((x) => x.peak))
  return [{
    name: `Hyperswarm inbound pressure, ${dialers} swarms dial one: peak with peerwarden (highWater ${bound})`,
    value: pwPeak,
    unit: 'connections',
    target: `<= ${bound}`,
    runs,
    note: `peerwarden: ${describeRuns(results.peerwarden)}; Hyperswarm alone (maxPeers ${bound}): ${describeRuns(results.hyperswarm)}; ${pwPeak <= bound ? 'target met' : 'target NOT met'}`
  }]
}
