/**
 * The core figures against the previous release, measured in the same run: the previous release is
 * the package `node bench/previous.mjs` built and unpacked into bench/.previous (see there), driven
 * through the same public API as this tree.
 *
 * Rules:
 * - Each round runs each operation on both, on fresh managers built the same way; the order of the
 *   two rotates from one round to the next, after one unmeasured round.
 * - A figure is this tree's speed relative to the previous release (above 1: faster); below 0.9 it is
 *   printed as a regression (`met: false`, and a line on stderr).
 * - Times are CPU time of the process (`process.cpuUsage()`); each run starts after a full garbage
 *   collection (run with `--expose-gc`), so neither pays for the other's garbage.
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
interface Build { name: string; api: Api; testing: TestingApi }

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

/** One operation: a speed (higher is better) measured on a build. */
interface Op { name: string; unit: string; higherIsBetter: boolean; run: (b: Build) => Promise<number> }

const ops: Op[] = [
  {
    name: 'churn connected+disconnected with 10,000 open',
    unit: 'pairs/s',
    higherIsBetter: true,
    run: async (b) => {
      const { m } = await filled(b, 10_000, 10_000, 20_000)
      const conns = Array.from({ length: 1000 }, (_, i) => new b.testing.TestConnection({ peer: `churn-${i}`, id: `c-${i}` }))
      const N = 50_000
      collect()
      const t0 = begin()
      for (let i = 0; i < N; i++) { const c = conns[i % 1000]; m.connected(c); m.disconnected(c) }
      const dt = end(t0)
      await m.close()
      return N / (dt / 1000)
    }
  },
  {
    name: 'tagPeer on 10,000 connected peers',
    unit: 'ops/s',
    higherIsBetter: true,
    run: async (b) => {
      const { m } = await filled(b, 10_000, 10_000, 20_000)
      const N = 300_000
      collect()
      const t0 = begin()
      for (let i = 0; i < N; i++) m.tagPeer(`peer-${i % 10_000}`, 'score', (i * 7919) % 100)
      const dt = end(t0)
      await m.close()
      return N / (dt / 1000)
    }
  },
  {
    name: 'inbound at the bound with 10,000 connections',
    unit: 'µs/op',
    higherIsBetter: false,
    run: async (b) => {
      const { m, conns } = await filled(b, 10_000, 5_000, 10_000)
      conns.forEach((c, i) => m.tagPeer(c.peer, 'v', i % 97))
      const incoming = Array.from({ length: 4000 }, (_, i) => new b.testing.TestConnection({ peer: `new-${i}` }))
      collect()
      const t0 = begin()
      for (const c of incoming) m.connected(c)
      const dt = end(t0)
      await m.close()
      return (dt * 1000) / incoming.length
    }
  },
  {
    name: 'trim() from 20,000 to 10,000 connections',
    unit: 'ms',
    higherIsBetter: false,
    run: async (b) => {
      const { m, conns } = await filled(b, 20_000, 10_000, 20_000)
      conns.forEach((c, i) => { if (i % 3 === 0) c.streams = 1; m.tagPeer(c.peer, 'v', i % 13) })
      collect()
      const t0 = begin()
      await m.trim()
      const dt = end(t0)
      await m.close()
      return dt
    }
  }
]

/**
 * Every op on this tree and the previous release; empty (with a line on stderr) when none is built.
 * `trace`: each figure's note also gives, per build, the median window's collections, their cost and
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
    testing: await import(new URL('dist/testing/index.js', PREVIOUS).href) as TestingApi
  }
  const builds: Build[] = [{ name: 'this tree', api: current, testing: currentTesting }, previous]
  const out: Figure[] = []
  for (const op of ops) {
    const values: number[][] = [[], []]
    const windows: WindowTrace[][] = [[], []]
    for (const b of builds) await op.run(b)
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < 2; k++) {
        const i = (k + r) % 2
        // The garbage of the one before would be collected on this one's CPU time: rounds alternated
        // between ~0.4x and ~2.5x by order alone until each run started from a full collection.
        settle()
        traces = trace ? windows[i] : undefined
        values[i].push(await op.run(builds[i]))
        traces = undefined
      }
    }
    const [now, before] = values.map(median)
    const speed = op.higherIsBetter ? now / before : before / now
    const value = +speed.toFixed(2)
    const regression = value < 0.9
    if (regression) process.stderr.write(`bench: REGRESSION: ${op.name}: ${value}x the previous release (${label})\n`)
    out.push({
      name: `${op.name}: this tree vs ${label}`,
      value,
      unit: 'x previous',
      target: '>= 0.9',
      met: !regression,
      runs: rounds,
      note: `this tree ${fmt(now)} ${op.unit}, ${label} ${fmt(before)} ${op.unit} (medians of ${rounds} rotated rounds, CPU time)${regression ? '; REGRESSION: more than 10 % below the previous release' : ''}${trace ? `; windows (scavenges/full/GC ms/old MiB/new MiB, median): this tree ${describe(windows[0])}, ${label} ${describe(windows[1])}` : ''}`,
      rounds: values[0].map((x, i) => +(op.higherIsBetter ? x / values[1][i] : values[1][i] / x).toFixed(2))
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
