/**
 * `peerwarden simulate`: many connection managers on one in-memory network, in virtual time (the
 * `Simulation` of peerwarden/testing), to see what a configuration does at a size no one machine
 * runs for real — how fast the nodes reach their watermarks, whether the bound holds, whether the
 * network is one piece, how much the bootstrap nodes are asked, and what a restart costs them.
 *
 * Rules:
 * - Deterministic: the same options and seed print the same figures.
 * - One line per virtual minute: connection counts (min/avg/max over the nodes), the highest count any
 *   node ever held (`peak`, never above highWater when the bound holds), whether every node can reach
 *   every other, and the dials, failed dials, trimmed connections and dials received by the bootstrap
 *   nodes during that minute.
 * - `restart` (a fraction of the non-bootstrap nodes) restarts those nodes with their peer stores after
 *   the last minute and runs one more: the restarted nodes should find their previous peers, not the
 *   bootstrap nodes.
 * - The virtual time runs in steps of `SAMPLE_MS` (the same timers fire as in one-minute steps): after
 *   each, with `report`, a sample is taken for the page (report.ts), written when the run ends. The
 *   progress (progress.ts) is updated after every virtual second and every 4,096 dials: the first
 *   virtual second holds nearly every dial of a large network, and 100,000 nodes take minutes over it.
 */
import { statSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { serveDashboard, type Dashboard } from '../dashboard/index.js'
import { parseListen } from '../dashboard/server.js'
import { PeerwardenError } from '../errors.js'
import { observe } from '../manager/events.js'
import { Simulation, xorshift, type SimNode } from '../testing/simulation.js'
import type { Progress } from './progress.js'
import { graphAtEnd, percentile, reportHtml, type ReportSample } from './report.js'

/** What `peerwarden simulate` runs: its flags, checked by `checkSimulateOptions`. */
export interface SimulateOptions {
  nodes: number
  bootstrap: number
  minutes: number
  lowWater: number
  highWater: number
  /** Dial latency, ms. */
  latency: number
  /** Peers each side of a new connection tells the other about. */
  exchange: number
  /** Peers a full node refers a refused dialer to (the real node does); 0 = none. */
  referrals: number
  seed: number
  /** Fraction of the non-bootstrap nodes restarted after the last minute (0 = none). */
  restart: number
  json: boolean
  /** Write the HTML report (charts over virtual time, the graph at the end) to this file. */
  report?: string
  /**
   * Serve a dashboard of the simulated network ('host:port', or true for 127.0.0.1 on a free port)
   * and pace the simulation at 10 virtual seconds per second so it can be watched. On a terminal the
   * dashboard stays up after the last minute until Ctrl-C.
   */
  dashboard?: string | true
}

/** Virtual ms between two progress updates (as `Simulation.run` steps), and per wall-clock 100 ms when a dashboard watches. */
const PACE = 1000

/** Virtual ms between two progress updates and two samples of the report. */
export const SAMPLE_MS = 10_000

/** One minute of the simulation, as printed. */
export interface MinuteReport {
  minute: number
  min: number
  avg: number
  max: number
  peak: number
  oneNetwork: boolean
  dials: number
  failed: number
  trimmed: number
  bootstrapDials: number
}

/** What a run of `runSimulation` reports: a line of figures per virtual minute, and more (below). */
export interface SimulateResult {
  minutes: MinuteReport[]
  /** With `restart`: how many nodes restarted, their dials in the minute after, and how many went to bootstrap nodes. */
  restart?: { nodes: number; dials: number; toBootstrap: number; atLowWater: number }
  wallMs: number
  /** With `report`: the samples the page charts. */
  samples?: ReportSample[]
}

/** Checks the options; throws PeerwardenError ERR_INVALID_ARGUMENT naming the flag that is wrong. */
export function checkSimulateOptions (o: SimulateOptions): void {
  const bad = (flag: string, rule: string, got: number): never => { throw new PeerwardenError('ERR_INVALID_ARGUMENT', `${flag} must be ${rule} (got ${got})`) }
  if (o.nodes < 2) bad('--nodes', '>= 2', o.nodes)
  if (o.bootstrap < 1 || o.bootstrap >= o.nodes) bad('--bootstrap', `between 1 and --nodes - 1 (${o.nodes - 1})`, o.bootstrap)
  if (o.lowWater > o.highWater) bad('--low-water', `<= --high-water (${o.highWater})`, o.lowWater)
  if (!(o.restart >= 0 && o.restart <= 1)) bad('--restart', 'a fraction between 0 and 1', o.restart)
  if (typeof o.dashboard === 'string') {
    try { parseListen(o.dashboard) } catch { throw PeerwardenError.invalid(`--dashboard must be host:port or a port (got ${JSON.stringify(o.dashboard)})`) }
  }
  // The page is written when the run ends: a directory that is not there is said now, not after the run.
  if (o.report !== undefined) {
    const dir = dirname(resolve(o.report))
    let isDir = false
    try { isDir = statSync(dir).isDirectory() } catch { /* missing: refused below */ }
    if (!isDir) throw PeerwardenError.invalid(`--report: ${JSON.stringify(dir)} is not a directory (the page would be written there once the run ends)`)
  }
}

/**
 * Runs the simulation, writing its lines to `out` and its progress to `progress` (when given). While
 * it runs, errors capture no stack trace (`Error.stackTraceLimit` is 0): the managers create one
 * for every failed dial — millions in a large network — and nobody reads their stacks.
 */
export async function runSimulation (o: SimulateOptions, out: (line: string) => void = (l) => { process.stdout.write(l + '\n') }, progress?: Progress): Promise<SimulateResult> {
  checkSimulateOptions(o)
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return await simulate(o, out, progress)
  } finally {
    Error.stackTraceLimit = limit
  }
}

async function simulate (o: SimulateOptions, out: (line: string) => void, progress?: Progress): Promise<SimulateResult> {
  const t0 = performance.now()
  // Counted since the start, over every manager the simulation builds (restarts build new ones);
  // minutes and samples take differences.
  let dials = 0
  let failed = 0
  let trimmed = 0
  let connected = 0
  const watching = new Set<string>()
  let watchedDials = 0
  let watchedToBootstrap = 0
  const watch = (node: SimNode): void => {
    // Observed directly (no event objects): millions of dials at 100,000 nodes.
    const events = node.manager.events
    const mine = watching.has(node.id)
    observe(events, 'dial:started', (d) => {
      dials++
      // Within the virtual second too: the first one holds nearly every dial (minutes at 100,000 nodes).
      if (progress !== undefined && (dials & 4095) === 0) progress.update(sim.clock.now(), totalMs, dials + failed + trimmed + connected)
      if (!mine) return
      watchedDials++
      const peer = d.peer
      if (peer !== undefined && sim.node(peer)?.bootstrap === true) watchedToBootstrap++
    })
    observe(events, 'dial:failed', () => { failed++ })
    observe(events, 'trim', (d) => { trimmed += d.closed })
    if (progress !== undefined) observe(events, 'peer:connected', () => { connected++ })
  }
  const random = xorshift(o.seed)
  const sim = new Simulation({
    nodes: o.nodes,
    bootstrap: o.bootstrap,
    latency: o.latency,
    exchange: o.exchange,
    referrals: o.referrals,
    random,
    manager: { lowWater: o.lowWater, highWater: o.highWater },
    onManager: watch
  })
  const boot = sim.bootstrapNodes
  let dashboard: Dashboard | undefined
  if (o.dashboard !== undefined) {
    // Node 0 is a bootstrap node, never restarted: its manager is the dashboard's own.
    dashboard = await serveDashboard(sim.nodes[0].manager, {
      listen: o.dashboard === true ? '127.0.0.1:0' : o.dashboard,
      title: `simulation of ${o.nodes} nodes`,
      network: { nodes: () => sim.nodes.filter((n) => n.transport.online).map((n) => ({ id: n.id, manager: n.manager, bootstrap: n.bootstrap, label: n.id })) }
    })
    // With --json, stdout stays JSON lines: the address goes to stderr.
    const say = o.json ? (line: string) => { process.stderr.write(line + '\n') } : out
    say(`dashboard at ${dashboard.url}#network (the simulation runs at 10 virtual seconds per second)`)
  }
  /** Runs `ms` of virtual time a second at a time (as `sim.run` steps), the progress updated after each. */
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += PACE) {
      await sim.run(Math.min(PACE, ms - t))
      progress?.update(doneMs + Math.min(t + PACE, ms), totalMs, dials + failed + trimmed + connected)
      if (dashboard !== undefined) await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const bootDials = (): number => boot.reduce((a, n) => a + n.inboundDials, 0)

  if (!o.json) {
    out(`simulating ${o.nodes} nodes (${o.bootstrap} bootstrap) in virtual time: lowWater ${o.lowWater}, highWater ${o.highWater}, dial latency ${o.latency} ms, peer exchange ${o.exchange}, referrals ${o.referrals}, seed ${o.seed}`)
    out(' minute  connections min/avg/max   peak  one network  dials (failed)  trimmed  bootstrap dials')
  }
  const minutes: MinuteReport[] = []
  const others = sim.nodes.filter((n) => !n.bootstrap)
  const count = Math.floor(others.length * o.restart)
  const totalMs = (o.minutes + (count > 0 ? 1 : 0)) * 60_000
  let doneMs = 0
  const samples: ReportSample[] = []
  /** Runs `SAMPLE_MS` of virtual time; then the progress, and a sample for the report. */
  const step = async (): Promise<void> => {
    const before = { dials, failed, trimmed, boot: bootDials() }
    await run(SAMPLE_MS)
    doneMs += SAMPLE_MS
    progress?.update(doneMs, totalMs, dials + failed + trimmed + connected)
    if (o.report === undefined) return
    const sorted = Float64Array.from(sim.counts()).sort()
    samples.push({
      at: doneMs,
      p5: percentile(sorted, 5),
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      dials: dials - before.dials,
      failed: failed - before.failed,
      trimmed: trimmed - before.trimmed,
      bootstrapDials: bootDials() - before.boot
    })
  }
  const minute = async (n: number, label?: string): Promise<MinuteReport> => {
    const before = { dials, failed, trimmed, boot: bootDials() }
    for (let t = 0; t < 60_000; t += SAMPLE_MS) await step()
    const counts = sim.counts()
    // Loops, not Math.min(...counts): a spread of 100,000 arguments overflows the stack.
    const r: MinuteReport = {
      minute: n,
      min: counts.reduce((a, b) => Math.min(a, b), Infinity),
      avg: +(counts.reduce((a, b) => a + b, 0) / counts.length).toFixed(1),
      max: counts.reduce((a, b) => Math.max(a, b), 0),
      peak: sim.nodes.reduce((a, x) => Math.max(a, x.peak), 0),
      oneNetwork: sim.connectedGraph(),
      dials: dials - before.dials,
      failed: failed - before.failed,
      trimmed: trimmed - before.trimmed,
      bootstrapDials: bootDials() - before.boot
    }
    minutes.push(r)
    progress?.done()
    if (o.json) out(JSON.stringify({ ...r, ...(label !== undefined ? { phase: label } : {}) }))
    else out(`${String(n).padStart(7)}  ${`${r.min}/${r.avg}/${r.max}`.padStart(23)}  ${String(r.peak).padStart(5)}  ${(r.oneNetwork ? 'yes' : 'no').padEnd(11)}  ${`${r.dials} (${r.failed})`.padStart(14)}  ${String(r.trimmed).padStart(7)}  ${String(r.bootstrapDials).padStart(15)}${label !== undefined ? `  ${label}` : ''}`)
    return r
  }

  sim.start()
  for (let m = 1; m <= o.minutes; m++) await minute(m)

  let restart: SimulateResult['restart']
  if (count > 0) {
    // A seeded pick of the nodes to restart: the same seed restarts the same nodes.
    const chosen = others.map((n) => ({ n, k: random() })).sort((a, b) => a.k - b.k).slice(0, count).map((x) => x.n)
    for (const n of chosen) watching.add(n.id)
    if (!o.json) out(`restarting ${count} nodes with their peer stores…`)
    await sim.restart(chosen)
    await minute(o.minutes + 1, 'after the restart')
    const atLowWater = chosen.filter((n) => n.manager.stats().connections >= Math.min(o.lowWater, o.nodes - 1)).length
    restart = { nodes: count, dials: watchedDials, toBootstrap: watchedToBootstrap, atLowWater }
  }
  if (dashboard !== undefined) {
    if (process.stdout.isTTY && process.stdin.isTTY) {
      out(`the dashboard stays up (${dashboard.url}#network): Ctrl-C to stop`)
      await new Promise((resolve) => process.once('SIGINT', resolve))
    }
    await dashboard.close()
  }
  const graph = o.report !== undefined ? graphAtEnd(sim.nodes) : undefined
  await sim.stop()
  const wallMs = performance.now() - t0
  if (o.report !== undefined) {
    writeFileSync(o.report, reportHtml({ options: o, sampleMs: SAMPLE_MS, samples, minutes, restart, graph: graph!, wallMs }))
  }
  if (o.json) {
    out(JSON.stringify({ summary: true, nodes: o.nodes, virtualMinutes: minutes.length, wallMs: Math.round(wallMs), ...(restart !== undefined ? { restart } : {}) }))
  } else {
    if (restart !== undefined) out(`restarted nodes: ${restart.atLowWater} of ${restart.nodes} back at lowWater within a minute; they dialled ${restart.dials} times, ${restart.toBootstrap} of them a bootstrap node`)
    out(`${minutes.length} virtual minute${minutes.length === 1 ? '' : 's'} in ${(wallMs / 1000).toFixed(1)} s`)
    if (o.report !== undefined) out(`report written to ${o.report}`)
  }
  return { minutes, restart, wallMs, ...(o.report !== undefined ? { samples } : {}) }
}
