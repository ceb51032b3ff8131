/**
 * The core figures against the previous release, measured in the same run: the previous release is
 * the package `node bench/previous.mjs` built and unpacked into bench/.previous (see there), driven
 * through the same public API as this tree.
 *
 * Rules:
 * - Each round sets the operation up on both builds the same way (fresh managers, the order rotating
 *   from one round to the next), after one unmeasured round, and runs its work on both side by side
 *   in alternating slices (A B B A …, see `round`): the two are measured in the same seconds, so
 *   load from other processes, a collection or a compile on another thread falls on both alike.
 * - A figure is the median over the rounds of this tree's speed relative to the previous release in
 *   that round (an op of one slice: the ratio of their medians; above 1: faster); below 0.9 it is
 *   printed as a regression (`met: false`, and a line on stderr).
 * - Times are CPU time of the process (`process.cpuUsage()`), summed over a build's slices. A round
 *   starts after a full garbage collection (run with `--expose-gc`); within it the collector runs
 *   when a build's allocation calls for it, so a build that allocates more pays for its scavenges
 *   (an op of one slice, `trim()`, runs each build in turn after a full collection instead).
 * - Each build's last two managers stay referenced (`reside`, see reference.bench.ts): otherwise
 *   that collection frees the hidden classes of the build's parts with its earlier managers, and
 *   each run pays the JIT's warm-up again — the build with more code more.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import * as current from '../src/index.js'
import * as currentTesting from '../src/testing/index.js'
import type { Figure } from './manager.bench.js'
import { collect, median } from './peers/common.js'
import { reside } from './reference.bench.js'

type Api = typeof current
type TestingApi = typeof currentTesting
interface Build { name: string; api: Api; testing: TestingApi; loops: Loops }

const PREVIOUS = new URL('../../bench/.previous/node_modules/peerwarden-previous/', import.meta.url)

function cpuMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function filled (b: Build, n: number, low: number, high: number): Promise<{ m: current.ConnectionManager; conns: currentTesting.TestConnection[] }> {
  const clock = new b.testing.ManualClock()
  const m = b.api.createConnectionManager({ dial: async () => { throw new Error('no dial') }, lowWater: low, highWater: high, gracePeriod: 1000, clock })
  const conns: currentTesting.TestConnection[] = []
  // Its connections too: the classes of the connections the transport hands over live on as well.
  reside(b.name, { m, conns })
  for (let i = 0; i < n; i++) {
    const c = new b.testing.TestConnection({ peer: `peer-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound' })
    m.connected(c)
    conns.push(c)
  }
  await clock.advance(2000)
  m.start()
  await clock.advance(2000)
  return { m, conns }
}

/** The timed loops (previous-loops.ts), as `loopsFor` loads them. */
type Loops = typeof import('./previous-loops.js')

/** An instance of previous-loops.ts of `build`'s own (a module URL with a query is another module). */
async function loopsFor (build: string): Promise<Loops> {
  return await import(new URL(`./previous-loops.js?build=${encodeURIComponent(build)}`, import.meta.url).href) as Loops
}

/**
 * What the collector did inside one timed window, when `againstPrevious(rounds, true)` traces them
 * (`npm run bench -- previous-gc`): collections in the window, their cost, and what the window left
 * in each space. The churn figure once moved 20–35 % with V8's allocation-site pretenuring: a build
 * whose hot objects were allocated in old space ran its window with no scavenge, and paid at the
 * full collection before the next run, outside the window (docs/benchmarks.md).
 */
interface WindowTrace { scavenges: number; full: number; gcMs: number; oldMB: number; newMB: number }
let traces: WindowTrace[] | undefined
let profiler: v8.GCProfiler | undefined
let spaces0: Record<string, number> = {}

function spaceUse (): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of v8.getHeapSpaceStatistics()) out[s.space_name] = s.space_used_size
  return out
}

/** Starts a timed window: the CPU time now (and the collector's trace, when tracing). */
function begin (): number {
  if (traces !== undefined) {
    spaces0 = spaceUse()
    profiler = new v8.GCProfiler()
    profiler.start()
  }
  return cpuMs()
}

/** Ends the window `begin` started: its CPU time in ms. */
function end (t0: number): number {
  const dt = cpuMs() - t0
  if (traces !== undefined && profiler !== undefined) {
    const stats = profiler.stop().statistics
    const spaces = spaceUse()
    const grew = (name: string): number => +(((spaces[name] ?? 0) - (spaces0[name] ?? 0)) / 2 ** 20).toFixed(1)
    traces.push({
      scavenges: stats.filter((x) => x.gcType === 'Scavenge').length,
      full: stats.filter((x) => x.gcType === 'MarkSweepCompact').length,
      gcMs: +(stats.reduce((sum, x) => sum + x.cost, 0) / 1000).toFixed(1),
      oldMB: grew('old_space') + grew('lo_space'),
      newMB: grew('new_space')
    })
  }
  return dt
}

/**
 * One operation measured on a build: `prepare` sets it up (untimed) and returns its `units` of work
 * cut into `slices` steps; `perBuild` turns the CPU ms of all the steps and the units into the figure
 * (higher is better when `higherIsBetter`).
 */
interface Op {
  name: string
  unit: string
  higherIsBetter: boolean
  slices: number
  /** Rounds per round asked for (default 1): an op whose slices are short needs more to see past the load. */
  roundsTimes?: number
  prepare: (b: Build) => Promise<Prepared>
  perBuild: (ms: number, units: number) => number
}

/** An operation set up on one build: `step(k)` runs the k-th of the op's slices; `close` ends it. */
interface Prepared { units: number; step: (k: number) => void | Promise<void>; close: () => Promise<void> }

const perSecond = (ms: number, units: number): number => units / (ms / 1000)

const ops: Op[] = [
  {
    name: 'churn connected+disconnected with 10,000 open',
    unit: 'pairs/s',
    higherIsBetter: true,
    slices: 40,
    perBuild: perSecond,
    prepare: async (b) => {
      const { m } = await filled(b, 10_000, 10_000, 20_000)
      const conns = Array.from({ length: 1000 }, (_, i) => new b.testing.TestConnection({ peer: `churn-${i}`, id: `c-${i}` }))
      const N = 10_000
      return {
        units: 40 * N,
        step: (k) => { b.loops.churnSlice(m, conns, k * N, (k + 1) * N) },
        close: async () => { await m.close() }
      }
    }
  },
  {
    name: 'tagPeer on 10,000 connected peers',
    unit: 'ops/s',
    higherIsBetter: true,
    slices: 40,
    perBuild: perSecond,
    prepare: async (b) => {
      const { m } = await filled(b, 10_000, 10_000, 20_000)
      const N = 25_000
      return {
        units: 40 * N,
        step: (k) => { b.loops.tagSlice(m, 10_000, k * N, (k + 1) * N) },
        close: async () => { await m.close() }
      }
    }
  },
  {
    name: 'inbound at the bound with 10,000 connections',
    unit: 'µs/op',
    higherIsBetter: false,
    slices: 20,
    roundsTimes: 3,
    perBuild: (ms, units) => (ms * 1000) / units,
    prepare: async (b) => {
      const { m, conns } = await filled(b, 10_000, 5_000, 10_000)
      conns.forEach((c, i) => m.tagPeer(c.peer, 'v', i % 97))
      const incoming = Array.from({ length: 4000 }, (_, i) => new b.testing.TestConnection({ peer: `new-${i}` }))
      return {
        units: incoming.length,
        step: (k) => { b.loops.admitSlice(m, incoming, k * 200, (k + 1) * 200) },
        close: async () => { await m.close() }
      }
    }
  },
  {
    name: 'trim() from 20,000 to 10,000 connections',
    unit: 'ms',
    higherIsBetter: false,
    slices: 1,
    perBuild: (ms) => ms,
    prepare: async (b) => {
      const { m, conns } = await filled(b, 20_000, 10_000, 20_000)
      conns.forEach((c, i) => { if (i % 3 === 0) c.streams = 1; m.tagPeer(c.peer, 'v', i % 13) })
      return { units: 1, step: async () => { await m.trim() }, close: async () => { await m.close() } }
    }
  }
]

/**
 * One round of `op`: both builds set up the same way (the order rotating with `round`), one full
 * collection, then the op's slices in turn — A B B A … — so that a burst of load, a collection or a
 * compile on another thread falls on both alike instead of on one build's whole run. An op of one
 * slice (`trim()`) runs as before: each build set up, collected and measured in turn (its garbage
 * would be the other's cost). Returns each build's figure; `windows` gets each build's collector
 * trace, summed over its slices.
 */
async function round (op: Op, builds: Build[], r: number, windows?: WindowTrace[][]): Promise<number[]> {
  const order = r % 2 === 0 ? [0, 1] : [1, 0]
  const ms = [0, 0]
  const units = [0, 0]
  const sums: WindowTrace[] = [emptyTrace(), emptyTrace()]
  const timed = async (i: number, p: Prepared, k: number): Promise<void> => {
    traces = windows === undefined ? undefined : []
    const t0 = begin()
    await p.step(k)
    ms[i] += end(t0)
    if (traces !== undefined) addTrace(sums[i], traces[0])
    traces = undefined
  }
  if (op.slices === 1) {
    for (const i of order) {
      settle()
      const p = await op.prepare(builds[i])
      units[i] = p.units
      collect()
      await timed(i, p, 0)
      await p.close()
    }
  } else {
    const prepared: Prepared[] = []
    for (const i of order) prepared[i] = await op.prepare(builds[i])
    settle()
    for (let k = 0; k < op.slices; k++) {
      // A B, then B A: the one that ran second runs first next.
      for (const i of k % 2 === 0 ? order : [order[1], order[0]]) await timed(i, prepared[i], k)
    }
    for (const i of order) {
      units[i] = prepared[i].units
      await prepared[i].close()
    }
  }
  if (windows !== undefined) for (const i of [0, 1]) windows[i].push(sums[i])
  return ms.map((x, i) => op.perBuild(x, units[i]))
}

function emptyTrace (): WindowTrace { return { scavenges: 0, full: 0, gcMs: 0, oldMB: 0, newMB: 0 } }

function addTrace (sum: WindowTrace, w: WindowTrace): void {
  sum.scavenges += w.scavenges
  sum.full += w.full
  sum.gcMs = +(sum.gcMs + w.gcMs).toFixed(1)
  sum.oldMB = +(sum.oldMB + w.oldMB).toFixed(1)
  sum.newMB = +(sum.newMB + w.newMB).toFixed(1)
}

/**
 * Every op on this tree and the previous release; empty (with a line on stderr) when none is built.
 * A figure is the median over the rounds of this tree's speed relative to the previous release in
 * the same round (the two measured side by side, slice by slice: see `round`); for an op of one
 * slice, the ratio of the two builds' medians.
 * `trace`: each figure's note also gives, per build, the median round's collections, their cost and
 * the MiB it left in old and new space (see `WindowTrace`).
 */
export async function againstPrevious (rounds = 9, trace = false): Promise<Figure[]> {
  const pkgPath = fileURLToPath(new URL('package.json', PREVIOUS))
  if (!existsSync(pkgPath)) {
    process.stderr.write('bench: no previous release in bench/.previous: run `node bench/previous.mjs` first\n')
    return []
  }
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { peerwardenRef?: { ref: string; commit: string } }
  const label = pkg.peerwardenRef?.ref ?? 'previous'
  const previous: Build = {
    name: label,
    api: await import(new URL('dist/index.js', PREVIOUS).href) as Api,
    testing: await import(new URL('dist/testing/index.js', PREVIOUS).href) as TestingApi,
    loops: await loopsFor(label)
  }
  const builds: Build[] = [{ name: 'this tree', api: current, testing: currentTesting, loops: await loopsFor('this tree') }, previous]
  const out: Figure[] = []
  for (const op of ops) {
    const values: number[][] = [[], []]
    const ratios: number[] = []
    const windows: WindowTrace[][] = [[], []]
    await round(op, builds, 0) // unmeasured: both builds compile their code first
    const n = rounds * (op.roundsTimes ?? 1)
    for (let r = 0; r < n; r++) {
      const [now, before] = await round(op, builds, r, trace ? windows : undefined)
      values[0].push(now)
      values[1].push(before)
      ratios.push(op.higherIsBetter ? now / before : before / now)
    }
    const [now, before] = values.map(median)
    // Rounds of one slice are not side by side (see `round`): their medians are compared, as before.
    const sideBySide = op.slices > 1
    const value = +(sideBySide ? median(ratios) : op.higherIsBetter ? now / before : before / now).toFixed(2)
    const regression = value < 0.9
    if (regression) process.stderr.write(`bench: REGRESSION: ${op.name}: ${value}x the previous release (${label})\n`)
    out.push({
      name: `${op.name}: this tree vs ${label}`,
      value,
      unit: 'x previous',
      target: '>= 0.9',
      met: !regression,
      runs: n,
      note: `this tree ${fmt(now)} ${op.unit}, ${label} ${fmt(before)} ${op.unit} (medians of ${n} rounds, CPU time${sideBySide ? `; the figure is the median of the rounds' ratios, each round both builds side by side in ${op.slices} alternating slices` : ''})${regression ? '; REGRESSION: more than 10 % below the previous release' : ''}${trace ? `; rounds (scavenges/full/GC ms/old MiB/new MiB, median): this tree ${describe(windows[0])}, ${label} ${describe(windows[1])}` : ''}`,
      rounds: ratios.map((x) => +x.toFixed(2))
    })
  }
  return out
}

/** A full collection before a measured run, when `--expose-gc` gave one. */
function settle (): void {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
}

/** The median of each of a build's window figures, as `scavenges/full/GC ms/old MiB/new MiB`. */
function describe (ws: WindowTrace[]): string {
  const keys: Array<keyof WindowTrace> = ['scavenges', 'full', 'gcMs', 'oldMB', 'newMB']
  return keys.map((k) => median(ws.map((w) => w[k]))).join('/')
}

function fmt (x: number): string { return x >= 100 ? Math.round(x).toLocaleString('en') : x.toPrecision(3) }
