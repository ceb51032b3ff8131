/**
 * The harness of the mesh benchmarks (bench/mesh.bench.ts): what a suite starts and closes within a
 * hard time limit, the server children, a mesh made ready for timing, and the two ways of timing
 * calls (one after another, a window in flight).
 */
import { createRegistry, type MeshNode } from '../src/mesh/index.js'
import { withTimeout } from './peers/common.js'
import { BENCH_SCHEMA, meshCaller, type BenchSchema } from './peers/mesh-worker.js'
import { startRpcServer, type RpcServer, type RpcServerConfig } from './peers/rpc.js'

/**
 * What a suite started, closed in reverse order (clients before servers before the registry), each
 * bounded. After the final close (the suite is over, maybe timed out while its body still runs),
 * whatever the body still adds is closed at once.
 */
export class Resources {
  private readonly closers: Array<{ what: string; close: () => Promise<void> }> = []
  private over = false
  add (what: string, close: () => Promise<void>): void {
    if (this.over) { void withTimeout(close(), 5_000, `closing ${what}`).catch(() => {}); return }
    this.closers.push({ what, close })
  }

  async closeAll (final = false): Promise<void> {
    if (final) this.over = true
    for (const { what, close } of this.closers.splice(0).reverse()) {
      try { await withTimeout(close(), 5_000, `closing ${what}`) } catch { /* a child is SIGKILLed by its own stop(); nothing else can be done */ }
    }
  }
}

/** Runs `body` within `limitMs` (else rejects), then closes everything it registered, even on a timeout. */
export async function bounded<T> (what: string, limitMs: number, body: (res: Resources) => Promise<T>): Promise<T> {
  const res = new Resources()
  try {
    return await withTimeout(body(res), limitMs, what)
  } finally {
    await res.closeAll(true)
  }
}

/** Starts every server child at once; each is registered for closing as soon as it is up. */
export async function startServers (res: Resources, configs: RpcServerConfig[]): Promise<RpcServer[]> {
  const settled = await Promise.allSettled(configs.map(async (cfg) => {
    const s = await startRpcServer(cfg)
    res.add(`${cfg.kind} server child`, s.stop)
    return s
  }))
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  return settled.map((s) => (s as PromiseFulfilledResult<RpcServer>).value)
}

/** A mesh ready for timing: its registry and Worker children, and the Caller here. */
export interface MeshSetup { caller: MeshNode<BenchSchema> & { connectMs: number }; variants: Set<string>; attempts: number; failures: string[]; setupMs: number }

/**
 * A registry here, `perChild[i]` Worker nodes in child i, and a Caller here that reaches all of them
 * (see meshCaller). A set-up that is not ready in time is closed and made again, up to `attempts`
 * times; the failures are reported in the figures' notes.
 */
export async function meshSetup (res: Resources, perChild: number[], attempts = 3): Promise<MeshSetup> {
  const t0 = performance.now()
  const workers = perChild.reduce((a, b) => a + b, 0)
  const failures: string[] = []
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const mine = new Resources()
    res.add(`mesh set-up ${attempt}`, async () => { await mine.closeAll(true) })
    try {
      const registry = await createRegistry({ schema: BENCH_SCHEMA, open: true })
      mine.add('mesh registry', async () => { await registry.close() })
      const servers = await startServers(mine, perChild.map((count, i) => ({ kind: 'mesh', registry: registry.addresses[0], count, prefix: `w${i}` })))
      const caller = await meshCaller(registry.addresses[0], workers)
      mine.add('mesh caller', async () => { await caller.close() })
      const variants = new Set(servers.flatMap((x) => x.ready.variants ?? []))
      return { caller, variants, attempts: attempt, failures, setupMs: performance.now() - t0 }
    } catch (err) {
      failures.push((err as Error).message)
      await mine.closeAll(true)
    }
  }
  throw new Error(`mesh set-up failed ${attempts} times: ${failures.join(' | ')}`)
}

/** The note a figure carries when its mesh needed more than one set-up. */
export const setupNote = (m: MeshSetup): string => m.attempts === 1 ? '' : `; mesh set-up needed ${m.attempts} attempts (${m.failures.join(' | ')})`

/** A timed run: calls per second and each call's latency (ms). */
export interface Run { rate: number; lat: number[] }

/** `n` calls, one after another. */
export async function sequential (call: () => Promise<unknown>, n: number): Promise<Run> {
  const lat = new Array<number>(n)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    await call()
    lat[i] = performance.now() - s
  }
  return { rate: n / ((performance.now() - t0) / 1000), lat }
}

/** `total` calls with `window` in flight at all times (each settled call starts the next one). */
export async function inFlight (call: () => Promise<unknown>, total: number, window: number): Promise<Run> {
  const lat: number[] = []
  let started = 0
  const lane = async (): Promise<void> => {
    while (started < total) {
      started++
      const s = performance.now()
      await call()
      lat.push(performance.now() - s)
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: window }, lane))
  return { rate: total / ((performance.now() - t0) / 1000), lat }
}
