/**
 * peerwarden/mesh in the benchmarks: the schema (socketmesh format), the Worker nodes a child runs,
 * and the Caller the bench process runs. Every node listens on 127.0.0.1 (createNode's default).
 */
import { createMeshNode, defineSchema, type MeshNode } from '../../src/mesh/index.js'
import { sleep } from './common.js'
import type { Payload, RpcClient } from './rpc.js'

export const BENCH_SCHEMA = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: {
    _allow: 'anyNode',
    _commands: {
      _balanced: { echo: (args: Payload) => args },
      _broadcast: { status: { responds: true, method: () => ({ ok: true }) } }
    }
  }
})
export type BenchSchema = typeof BENCH_SCHEMA

/** `count` Worker nodes (in a child), variants `<prefix>-0` … registered with the registry. */
export async function meshWorkers (registry: string, count: number, prefix: string): Promise<{ variants: string[]; close: () => Promise<void> }> {
  const settled = await Promise.allSettled(Array.from({ length: count }, async (_, i) =>
    await createMeshNode({ schema: BENCH_SCHEMA, role: 'Worker', variant: `${prefix}-${i}`, registry })))
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const close = async (): Promise<void> => { await Promise.all(nodes.map(async (n) => { await n.close() })) }
  const failure = settled.find((s) => s.status === 'rejected')
  if (failure !== undefined) {
    await close()
    throw (failure as PromiseRejectedResult).reason
  }
  return { variants: nodes.map((n) => n.variant), close }
}

/**
 * The Caller (in the bench process); resolves once it is ready for timing: it holds a channel to
 * `workers` Worker instances, no instance came or went for 200 ms, and a broadcast `status` (1 s
 * deadline) got an ok answer from each of them. Rejects (the caller closed) after `timeoutMs`.
 *
 * Why more than `instances().length === workers`: the caller and a worker dial each other at once
 * (each learns of the other from the registry), and the manager keeps one of the two connections a
 * few ms later. Until then a call can go to the instance on the losing connection and fail when it
 * closes (a channel opened on a connection that already lost the tie-break is ignored: mesh-node.ts).
 * The probe makes sure the timing starts on the connection that stays.
 */
export async function meshCaller (registry: string, workers: number, timeoutMs = 6_000): Promise<MeshNode<BenchSchema> & { connectMs: number }> {
  const t0 = performance.now()
  const until = t0 + timeoutMs
  const caller = await createMeshNode({ schema: BENCH_SCHEMA, role: 'Caller', variant: 'bench-caller', registry })
  let lastChange = performance.now()
  const changed = (): void => { lastChange = performance.now() }
  caller.events.addEventListener('connection', changed)
  caller.events.addEventListener('disconnection', changed)
  let problem = 'no probe yet'
  try {
    while (performance.now() < until) {
      await sleep(5)
      const have = caller.instances('Worker').length
      if (have < workers) { problem = `${have} of ${workers} Worker instances connected`; continue }
      if (performance.now() - lastChange < 200) continue
      const answers = await caller.call.Worker.status(undefined, { timeout: 1_000 })
      const ok = new Set(answers.filter((a) => a.ok).map((a) => a.variant))
      if (answers.length === workers && ok.size === workers) return Object.assign(caller, { connectMs: performance.now() - t0 })
      problem = `probe: ${ok.size} of ${answers.length} answered ok (${answers.filter((a) => !a.ok).map((a) => `${a.variant}: ${a.ok ? '' : (a.error as { code?: string }).code ?? a.error.message}`).join(', ')})`
    }
  } catch (err) {
    problem = `probe failed: ${(err as Error).message}`
  } finally {
    caller.events.removeEventListener('connection', changed)
    caller.events.removeEventListener('disconnection', changed)
  }
  await caller.close()
  throw new Error(`mesh: the caller was not ready within ${timeoutMs} ms: ${problem}`)
}

/** The balanced echo as an RpcClient, written the way an application writes it. */
export function meshEchoClient (caller: MeshNode<BenchSchema>): RpcClient {
  return {
    call: async (payload: Payload) => await caller.call.Worker.echo(payload),
    close: async () => { await caller.close() }
  }
}
