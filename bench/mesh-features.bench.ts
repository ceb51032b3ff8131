/**
 * The mesh's call path with its features on (params validation on both sides, idempotent calls with
 * retries, a bulkhead, circuit breakers on the caller, a traceparent per call, per-command figures)
 * against the same mesh without any of them (`tracing: false`, `metrics: false`, no policy). One
 * process, two meshes side by side (a registry, a worker and a caller each) on 127.0.0.1; rounds
 * rotate which mesh goes first; the figure is the median of the per-round ratios of calls per second (features / plain),
 * target >= 0.9 (at most 10 % below). The note also gives the CPU time per call of each mesh (both
 * ends run in this process), steadier than the rates on a shared machine.
 */
import * as v from 'valibot'
import { createMeshNode, createRegistry, defineSchema, type MeshNode, type MeshRegistry } from '../src/mesh/index.js'
import type { Figure } from './manager.bench.js'
import { collect, median, met, nowMs, ratio, rotated, withTimeout } from './peers/common.js'

const PLAIN = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: { _allow: ['Api'], _commands: { _balanced: { echo: ({ n, s }: { n: number; s: string }) => ({ n, s }) } } }
})

const FEATURES = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Api'],
    _commands: {
      _balanced: {
        echo: {
          params: v.object({ n: v.number(), s: v.pipe(v.string(), v.maxLength(64)) }),
          idempotent: true,
          retries: { retries: 2 },
          concurrency: 1024,
          maxQueueSize: 1024,
          fallback: () => ({ n: -1, s: '' }),
          method: ({ n, s }: { n: number; s: string }) => ({ n, s })
        }
      }
    }
  }
})

interface Contestant { name: 'plain' | 'features'; registry: MeshRegistry; worker: MeshNode<any>; api: MeshNode<any> }

async function start (name: Contestant['name']): Promise<Contestant> {
  const schema = name === 'plain' ? PLAIN : FEATURES
  const registry = await createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  const off = name === 'plain' ? { tracing: false, metrics: false } : {}
  const worker = await createMeshNode({ schema, role: 'Worker', registry: registry.addresses[0], listen: ['tcp://127.0.0.1:0'], ...off })
  const api = await createMeshNode({ schema, role: 'Api', registry: registry.addresses[0], ...(name === 'features' ? { breaker: true } : off) })
  await api.ready('Worker', { timeout: 10_000 })
  return { name, registry, worker, api }
}

/** Calls per second: `total` calls, `inFlight` at a time; `cpu` gets the CPU µs per call (both ends: one process). */
async function measure (c: Contestant, total: number, inFlight: number, cpu?: number[]): Promise<number> {
  const call = (c.api.call as any).Worker.echo as (a: { n: number; s: string }) => Promise<{ n: number }>
  let next = 0
  const c0 = process.cpuUsage()
  const t0 = nowMs()
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) {
      const n = next++
      const r = await call({ n, s: 'payload' })
      if (r.n !== n) throw new Error(`${c.name}: wrong answer ${r.n} for ${n}`)
    }
  }))
  const rate = total / ((nowMs() - t0) / 1000)
  const used = process.cpuUsage(c0)
  cpu?.push((used.user + used.system) / total)
  return rate
}

/** Features on vs off, sequential and 100 in flight: ratios of the medians over rotated rounds. */
export async function meshFeatures (rounds = 7): Promise<Figure[]> {
  const contestants: Contestant[] = []
  try {
    contestants.push(await start('plain'), await start('features'))
    const runs: Record<string, Record<string, number[]>> = { sequential: { plain: [], features: [] }, concurrent: { plain: [], features: [] } }
    // CPU per call: steadier than the rate on a shared machine (both meshes run in this process).
    const cpu: Record<string, Record<string, number[]>> = { sequential: { plain: [], features: [] }, concurrent: { plain: [], features: [] } }
    // Warm-up: both paths compiled before anything counts.
    for (const c of contestants) { await measure(c, 2_000, 1); await measure(c, 5_000, 100) }
    for (let round = 0; round < rounds; round++) {
      for (const c of rotated(contestants, round)) {
        collect()
        runs.sequential[c.name].push(await withTimeout(measure(c, 2_000, 1, cpu.sequential[c.name]), 60_000, `${c.name} sequential`))
        collect()
        runs.concurrent[c.name].push(await withTimeout(measure(c, 10_000, 100, cpu.concurrent[c.name]), 60_000, `${c.name} 100 in flight`))
      }
    }
    return (['sequential', 'concurrent'] as const).map((mode) => {
      // Paired by round (the two arms of a round ran back to back, under the same load), as the mesh suite does.
      const perRound = runs[mode].features.map((f, i) => f / runs[mode].plain[i])
      const r = +median(perRound).toFixed(3)
      return {
        name: `mesh with retries, breakers, bulkhead, validation, tracing and figures / without (${mode === 'sequential' ? 'sequential' : '100 in flight'})`,
        value: r,
        unit: 'x',
        target: '>= 0.9',
        runs: rounds,
        note: `${met(r >= 0.9)}; median of the per-round ratios ${perRound.map((x) => x.toFixed(2)).join('/')}; ratio of the medians ${ratio(median(runs[mode].features), median(runs[mode].plain))}; calls/s median: features ${Math.round(median(runs[mode].features))}, plain ${Math.round(median(runs[mode].plain))}; CPU per call (both ends) median: features ${median(cpu[mode].features).toFixed(1)} µs, plain ${median(cpu[mode].plain).toFixed(1)} µs, plain / features paired by round ${median(cpu[mode].features.map((f, i) => cpu[mode].plain[i] / f)).toFixed(3)}x`
      }
    })
  } finally {
    for (const c of contestants) {
      await Promise.allSettled([c.api.close(), c.worker.close()])
      await c.registry.close()
    }
  }
}
