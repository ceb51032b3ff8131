/**
 * The mesh's call path alone, for profiling and A/B comparisons: one process holds a registry, a
 * Worker and a Caller on 127.0.0.1 for each build given, and times `echo` calls to each in
 * alternating rounds (so both builds see the same machine load).
 *
 *   node build/bench/mesh-profile.js [--rounds 6] [--seq 3000] [--total 20000] [--inflight 100] [arm …]
 *
 * An arm is the directory holding a compiled `src/mesh/index.js` (default: this build), optionally
 * followed by `:off` (`tracing: false, metrics: false`), `:notrace`, `:nometrics`, or `:features` (the features suite's
 * command: params, idempotent with retries, a bulkhead, breakers). With
 * `node --cpu-prof` the profile covers both ends of every call (one process).
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, resolve } from 'node:path'
import * as v from 'valibot'

interface Mesh {
  createRegistry: (o: object) => Promise<{ addresses: string[]; close: () => Promise<void> }>
  createMeshNode: (o: object) => Promise<{ call: any; ready: (role: string, o: object) => Promise<unknown>; close: () => Promise<void> }>
  defineSchema: (s: object) => object
}

interface Arm { name: string; call: (a: unknown) => Promise<unknown>; close: () => Promise<void> }

const PAYLOAD = { id: 1, text: 'hello mesh', n: [1, 2, 3] }

function option (name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  if (at === -1) return fallback
  const [, value] = process.argv.splice(at, 2)
  return Number(value)
}

async function arm (spec: string): Promise<Arm> {
  const [root, mode = ''] = spec.split(':')
  const mesh = await import(pathToFileURL(resolve(root, 'src/mesh/index.js')).href) as Mesh
  const echo = mode === 'features'
    ? {
        params: v.object({ id: v.number(), text: v.pipe(v.string(), v.maxLength(64)), n: v.array(v.number()) }),
        idempotent: true,
        retries: { retries: 2 },
        concurrency: 1024,
        maxQueueSize: 1024,
        method: (args: unknown) => args
      }
    : (args: unknown) => args
  const schema = mesh.defineSchema({
    Caller: { _connect: ['Worker'] },
    Worker: { _allow: 'anyNode', _commands: { _balanced: { echo } } }
  })
  const off = { ...(mode === 'off' || mode === 'notrace' ? { tracing: false } : {}), ...(mode === 'off' || mode === 'nometrics' ? { metrics: false } : {}) }
  const registry = await mesh.createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  const worker = await mesh.createMeshNode({ schema, role: 'Worker', registry: registry.addresses[0], listen: ['tcp://127.0.0.1:0'], ...off })
  const caller = await mesh.createMeshNode({ schema, role: 'Caller', registry: registry.addresses[0], ...off, ...(mode === 'features' ? { breaker: true } : {}) })
  await caller.ready('Worker', { timeout: 10_000 })
  // Let a duplicate connection (both ends dialled) settle before timing.
  await new Promise((resolve) => setTimeout(resolve, 300))
  return {
    name: spec,
    call: caller.call.Worker.echo as (a: unknown) => Promise<unknown>,
    close: async () => { await caller.close(); await worker.close(); await registry.close() }
  }
}

/** Calls per second, and CPU µs per call (both ends: steadier than the rate on a shared machine). */
async function run (a: Arm, total: number, window: number): Promise<{ rate: number; cpu: number }> {
  let started = 0
  const lane = async (): Promise<void> => {
    while (started < total) {
      started++
      await a.call(PAYLOAD)
    }
  }
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  await Promise.all(Array.from({ length: window }, lane))
  const c = process.cpuUsage(c0)
  return { rate: total / ((performance.now() - t0) / 1000), cpu: (c.user + c.system) / total }
}

const rounds = option('rounds', 6)
const seq = option('seq', 3000)
const total = option('total', 20_000)
const window = option('inflight', 100)
const here = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const roots = process.argv.slice(2)
const arms: Arm[] = []
for (const root of roots.length === 0 ? [here] : roots) arms.push(await arm(root))
for (const a of arms) { await run(a, seq, 1); await run(a, total, window) }
type Runs = Record<'seq' | 'conc', Array<{ rate: number; cpu: number }>>
const rates = new Map<string, Runs>(arms.map((a) => [a.name, { seq: [], conc: [] }]))
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? arms : [...arms].reverse()
  for (const a of order) {
    rates.get(a.name)!.seq.push(await run(a, seq, 1))
    rates.get(a.name)!.conc.push(await run(a, total, window))
  }
}
const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); return s[s.length >> 1] }
const show = (xs: Array<{ rate: number; cpu: number }>): string =>
  `${Math.round(median(xs.map((x) => x.rate)))} calls/s, ${median(xs.map((x) => x.cpu)).toFixed(1)} µs CPU/call (${xs.map((x) => x.cpu.toFixed(1)).join('/')})`
for (const a of arms) {
  const r = rates.get(a.name)!
  console.log(`${a.name}: sequential ${show(r.seq)}; ${window} in flight ${show(r.conc)}`)
}
if (arms.length === 2) {
  const [a, b] = arms.map((x) => rates.get(x.name)!)
  const pr = (xs: Runs['seq'], ys: Runs['seq'], k: 'rate' | 'cpu'): string => median(xs.map((x, i) => x[k] / ys[i][k])).toFixed(3)
  console.log(`first / second, paired by round: sequential rate ${pr(a.seq, b.seq, 'rate')}x, CPU/call ${pr(a.seq, b.seq, 'cpu')}x; ${window} in flight rate ${pr(a.conc, b.conc, 'rate')}x, CPU/call ${pr(a.conc, b.conc, 'cpu')}x`)
}
for (const a of arms) await a.close()
process.exit(0)
