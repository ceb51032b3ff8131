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
      const t0 = cpuMs()
      for (let i = 0; i < N; i++) { const c = conns[i % 1000]; m.connected(c); m.disconnected(c) }
      const dt = cpuMs() - t0
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
      const t0 = cpuMs()
      for (let i = 0; i < N; i++) m.tagPeer(`peer-${i % 10_000}`, 'score', (i * 7919) % 100)
      const dt = cpuMs() - t0
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
      const t0 = cpuMs()
      for (const c of incoming) m.connected(c)
      const dt = cpuMs() - t0
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
      const t0 = cpuMs()
      await m.trim()
      const dt = cpuMs() - t0
      await m.close()
      return dt
    }
  }
]

/** Every op on this tree and the previous release; empty (with a line on stderr) when none is built. */
export async function againstPrevious (rounds = 9): Promise<Figure[]> {
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
    for (const b of builds) await op.run(b)
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < 2; k++) {
        const i = (k + r) % 2
        // The garbage of the one before would be collected on this one's CPU time: rounds alternated
        // between ~0.4x and ~2.5x by order alone until each run started from a full collection.
        settle()
        values[i].push(await op.run(builds[i]))
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
      note: `this tree ${fmt(now)} ${op.unit}, ${label} ${fmt(before)} ${op.unit} (medians of ${rounds} rotated rounds, CPU time)${regression ? '; REGRESSION: more than 10 % below the previous release' : ''}`,
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

function fmt (x: number): string { return x >= 100 ? Math.round(x).toLocaleString('en') : x.toPrecision(3) }
