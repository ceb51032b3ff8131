/**
 * Benchmarks of peerwarden/mesh, side by side in one run with the peers it is
 * measured against: Moleculer 0.14 (TCP transporter), socket.io 4 (`emitWithAck`, WebSocket) and a
 * raw node:net length-prefixed JSON floor. Two processes each: the serving end is a forked child
 * (bench/peers/rpc-server.js), the calling end is this process. Everything binds and connects on
 * 127.0.0.1. Each function returns `Figure`s for bench/run.ts, is bounded by a hard time limit, and
 * closes every node and child it started, whatever happens.
 */
import { deepStrictEqual } from 'node:assert'
import { createRegistry, type MeshNode } from '../src/mesh/index.js'
import type { Figure } from './manager.bench.js'
import { median, ratio, sleep, withTimeout } from './peers/common.js'
import { BENCH_SCHEMA, meshCaller, meshEchoClient, type BenchSchema } from './peers/mesh-worker.js'
import { moleculerClient } from './peers/moleculer.js'
import { rawClient } from './peers/raw-rpc.js'
import { PAYLOAD, startRpcServer, type RpcClient, type RpcServer, type RpcServerConfig } from './peers/rpc.js'
import { socketioClient } from './peers/socketio.js'
import { collect, met, pct, rotated } from './peers/common.js'

/**
 * What a suite started, closed in reverse order (clients before servers before the registry), each
 * bounded. After the final close (the suite is over, maybe timed out while its body still runs),
 * whatever the body still adds is closed at once.
 */
class Resources {
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
async function bounded<T> (what: string, limitMs: number, body: (res: Resources) => Promise<T>): Promise<T> {
  const res = new Resources()
  try {
    return await withTimeout(body(res), limitMs, what)
  } finally {
    await res.closeAll(true)
  }
}

/** Starts every server child at once; each is registered for closing as soon as it is up. */
async function startServers (res: Resources, configs: RpcServerConfig[]): Promise<RpcServer[]> {
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
interface MeshSetup { caller: MeshNode<BenchSchema> & { connectMs: number }; variants: Set<string>; attempts: number; failures: string[]; setupMs: number }

/**
 * A registry here, `perChild[i]` Worker nodes in child i, and a Caller here that reaches all of them
 * (see meshCaller). A set-up that is not ready in time is closed and made again, up to `attempts`
 * times; the failures are reported in the figures' notes.
 */
async function meshSetup (res: Resources, perChild: number[], attempts = 3): Promise<MeshSetup> {
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

const setupNote = (m: MeshSetup): string => m.attempts === 1 ? '' : `; mesh set-up needed ${m.attempts} attempts (${m.failures.join(' | ')})`

interface Run { rate: number; lat: number[] }

/** `n` calls, one after another. */
async function sequential (call: () => Promise<unknown>, n: number): Promise<Run> {
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
async function inFlight (call: () => Promise<unknown>, total: number, window: number): Promise<Run> {
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

// ── 1. request/response, two processes ───────────────────────────────────

export interface RequestResponseOptions {
  /** Sequential calls per timed run. Default 6000 (shorter runs are dominated by scheduling noise). */
  seq?: number
  /** Calls per timed run with `inFlight` outstanding. Default 15_000. */
  total?: number
  /** Calls outstanding in the concurrent pattern. Default 100. */
  inFlight?: number
  /** Rounds; each times every contestant once per pattern, in rotated order. Default 10. */
  rounds?: number
  /** Hard limit on the whole suite, set-up and clean-up included. Default 90_000 ms. */
  limitMs?: number
}

type Key = 'peerwarden' | 'moleculer' | 'socketio' | 'raw'

/**
 * Calls per second of one request/response with a small JSON object ({ id, text, n: [1,2,3] }),
 * echoed, the serving end in a child process, the caller here; sequential, and with 100 in flight:
 * - peerwarden: `await caller.call.Worker.echo(payload)`: a Caller mesh node here, one Worker mesh
 *   node in the child, the registry here (TCP + Noise, Protomux channel, JSON messages, the mesh's
 *   deadline per call; balanced command);
 * - Moleculer 0.14: `broker.call('bench.echo', payload)`, TCP transporter, JSON serializer;
 * - socket.io 4: `socket.emitWithAck('echo', payload)`, WebSocket transport;
 * - raw: node:net, 4-byte length + JSON `{ id, p }`, no encryption (the floor).
 * Each contestant is checked once (the echo equals the payload) and warmed up before the rounds.
 */
export async function meshRequestResponse (opts: RequestResponseOptions = {}): Promise<Figure[]> {
  const seq = opts.seq ?? 6000
  const total = opts.total ?? 15_000
  const window = opts.inFlight ?? 100
  const rounds = opts.rounds ?? 10
  return await bounded('mesh request/response suite', opts.limitMs ?? 90_000, async (res) => {
    const tSetup = performance.now()
    const moleculerID = `bench-server-${process.pid}`
    const clients = new Map<Key, RpcClient>()
    let moleculerDiscoveryMs = NaN
    let mesh: MeshSetup | undefined
    const made = await Promise.allSettled([
      (async () => {
        mesh = await meshSetup(res, [1])
        clients.set('peerwarden', meshEchoClient(mesh.caller))
      })(),
      (async () => {
        const [molSrv, sioSrv, rawSrv] = await startServers(res, [{ kind: 'moleculer', nodeID: moleculerID }, { kind: 'socketio' }, { kind: 'raw' }])
        const peers = await Promise.allSettled([
          (async () => {
            const c = await moleculerClient(molSrv.ready.port!, moleculerID)
            moleculerDiscoveryMs = c.discoveryMs
            res.add('moleculer client broker', c.close)
            clients.set('moleculer', c)
          })(),
          (async () => {
            const c = await socketioClient(sioSrv.ready.port!)
            res.add('socket.io client', c.close)
            clients.set('socketio', c)
          })(),
          (async () => {
            const c = await rawClient(rawSrv.ready.port!)
            res.add('raw client', c.close)
            clients.set('raw', c)
          })()
        ])
        const failed = peers.find((x) => x.status === 'rejected')
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
      })()
    ])
    const failed = made.find((s) => s.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    const setupMs = performance.now() - tSetup

    const keys: Key[] = ['peerwarden', 'moleculer', 'socketio', 'raw']
    const contestants = keys.map((key) => {
      const client = clients.get(key)!
      return { key, call: async () => await client.call(PAYLOAD) }
    })
    // Same answer from everyone, then JIT warm-up in both patterns.
    for (const c of contestants) {
      deepStrictEqual(await withTimeout(c.call(), 5_000, `${c.key} first call`), PAYLOAD, `${c.key} echo`)
      await withTimeout(sequential(c.call, seq), 20_000, `${c.key} warm-up`)
      await withTimeout(inFlight(c.call, Math.ceil((total * 2) / 3), window), 20_000, `${c.key} warm-up`)
    }

    const runs: Record<'seq' | 'conc', Record<Key, Run[]>> = {
      seq: { peerwarden: [], moleculer: [], socketio: [], raw: [] },
      conc: { peerwarden: [], moleculer: [], socketio: [], raw: [] }
    }
    for (let r = 0; r < rounds; r++) {
      // No GC is forced between runs (as in the bulk suite): a full GC in this process, where every
      // contestant's caller lives, made the next run of whoever runs more JavaScript per call slower
      // (Moleculer most: per-round 9.0k–14.3k with it, 12.3k–13.3k without).
      for (const c of rotated(contestants, r)) {
        await sleep(20)
        runs.seq[c.key].push(await withTimeout(sequential(c.call, seq), 20_000, `${c.key} sequential run`))
        await sleep(20)
        runs.conc[c.key].push(await withTimeout(inFlight(c.call, total, window), 20_000, `${c.key} in-flight run`))
      }
    }

    const out: Figure[] = []
    const label: Record<Key, string> = {
      peerwarden: 'peerwarden mesh, caller.call.Worker.echo (balanced)',
      moleculer: 'Moleculer 0.14 TCP transporter, broker.call (peer)',
      socketio: 'socket.io 4 emitWithAck, websocket (peer)',
      raw: 'raw node:net length-prefixed JSON, no encryption (floor)'
    }
    for (const pattern of ['seq', 'conc'] as const) {
      const name = pattern === 'seq' ? 'mesh rpc sequential' : `mesh rpc ${window} in flight`
      const n = pattern === 'seq' ? seq : total
      const rate = (k: Key): number => median(runs[pattern][k].map((x) => x.rate))
      const note = (k: Key): string => {
        const lat = runs[pattern][k].flatMap((x) => x.lat)
        return `${n} calls per run, 2 processes; p50 ${median(lat).toFixed(3)} ms, p99 ${pct(lat, 99).toFixed(3)} ms; per-round ${runs[pattern][k].map((x) => Math.round(x.rate)).join('/')}`
      }
      const pw = rate('peerwarden')
      for (const k of keys) {
        out.push({
          name: `${name}: ${label[k]}`,
          value: Math.round(rate(k)),
          unit: 'calls/s',
          ...(k === 'peerwarden' ? { target: '>= 1.1x Moleculer and socket.io, >= 0.85x raw' } : {}),
          runs: rounds,
          note: note(k) + (k === 'peerwarden' && pattern === 'seq' ? `; set-up ${Math.round(setupMs)} ms (mesh caller ready, probe included, after ${Math.round(mesh!.caller.connectMs)} ms; Moleculer saw the service after ${Math.round(moleculerDiscoveryMs)} ms)${setupNote(mesh!)}` : '')
        })
      }
      // Paired by round (the contestants of a round run back to back): this machine drifts between
      // regimes within a suite, and a ratio of the medians would compare runs from different ones.
      const paired = (k: Key): number[] => runs[pattern].peerwarden.map((x, i) => x.rate / runs[pattern][k][i].rate)
      for (const [k, target] of [['moleculer', 1.1], ['socketio', 1.1], ['raw', 0.85]] as Array<[Key, number]>) {
        const x = +median(paired(k)).toFixed(3)
        out.push({ name: `${name}: peerwarden / ${k === 'raw' ? 'raw node:net' : k === 'socketio' ? 'socket.io' : 'Moleculer'}`, value: x, unit: 'x', target: `>= ${target}`, runs: rounds, note: `${met(x >= target)}; median of the per-round ratios ${paired(k).map((r) => r.toFixed(2)).join('/')}; ratio of the medians ${ratio(pw, rate(k))}` })
      }
      // For reference: where the peers stand against the unencrypted floor (1.1x a peer at 0.87x of
      // the floor means 0.96x of a floor that encrypts nothing).
      for (const k of ['moleculer', 'socketio'] as const) {
        const r = runs[pattern][k].map((x, i) => x.rate / runs[pattern].raw[i].rate)
        out.push({ name: `${name}: ${k === 'socketio' ? 'socket.io' : 'Moleculer'} / raw node:net (reference)`, value: +median(r).toFixed(3), unit: 'x', runs: rounds, note: `median of the per-round ratios ${r.map((x) => x.toFixed(2)).join('/')}` })
      }
    }
    return out
  })
}

// ── 2. broadcast with responds to 10 instances ────────────────────────────

export interface BroadcastOptions {
  /** Worker instances. Default 10. */
  instances?: number
  /** Layouts: child processes the instances are spread over. Default [2, 1] (the first is the headline). */
  children?: number[]
  /** Timed calls per layout, one after another. Default 1000. */
  calls?: number
  /** Untimed calls first. Default 300. */
  warmup?: number
  /** Hard limit on the whole suite, set-up and clean-up included. Default 50_000 ms. */
  limitMs?: number
}

/**
 * Latency of `await caller.call.Worker.status()`, a broadcast command with `responds: true`, to 10
 * Worker mesh nodes in child processes (the registry and the Caller here), one call after another:
 * each call resolves once all 10 answered, with one { variant, ok, value } entry per instance.
 * Layouts: the 10 nodes spread over 2 children (5 each), and, for reference, all 10 in one child.
 */
export async function meshBroadcast (opts: BroadcastOptions = {}): Promise<Figure[]> {
  const instances = opts.instances ?? 10
  const layouts = opts.children ?? [2, 1]
  const calls = opts.calls ?? 1000
  const warmup = opts.warmup ?? 300
  return await bounded('mesh broadcast suite', opts.limitMs ?? 50_000, async (res) => {
    const out: Figure[] = []
    for (const children of layouts) {
      const per = Array.from({ length: children }, (_, i) => Math.floor(instances / children) + (i < instances % children ? 1 : 0))
      const mesh = await meshSetup(res, per)
      const { caller, variants } = mesh

      let bad = 0
      const once = async (): Promise<void> => {
        // `status()` with no argument does not type-check: RoleCalls makes `args` required even for a handler without parameters.
        const answers = await caller.call.Worker.status(undefined, { timeout: 2_000 })
        if (answers.length !== instances || answers.some((a) => !a.ok || !variants.has(a.variant))) bad++
      }
      for (let i = 0; i < warmup; i++) await withTimeout(once(), 5_000, 'broadcast warm-up call')
      bad = 0
      collect()
      const run = await withTimeout(sequential(once, calls), 30_000, 'broadcast run')
      const layout = `${instances} Worker instances in ${children} child process${children === 1 ? '' : 'es'}${children === 1 ? '' : ` (${per.join(' + ')})`}`
      const note = `${calls} sequential calls after ${warmup} warm-up; ${Math.round(run.rate)} broadcasts/s; mean ${(run.lat.reduce((a, b) => a + b, 0) / run.lat.length).toFixed(3)} ms, max ${Math.max(...run.lat).toFixed(2)} ms; calls without ${instances} ok answers: ${bad}; set-up ${Math.round(mesh.setupMs)} ms${setupNote(mesh)}`
      const headline = children === layouts[0]
      out.push({ name: `mesh broadcast status() with responds, ${layout}: p50${headline ? '' : ' (reference layout)'}`, value: +median(run.lat).toFixed(3), unit: 'ms', runs: calls, note })
      out.push({ name: `mesh broadcast status() with responds, ${layout}: p99${headline ? '' : ' (reference layout)'}`, value: +pct(run.lat, 99).toFixed(3), unit: 'ms', runs: calls, note: `p90 ${pct(run.lat, 90).toFixed(3)} ms, p99.9 ${pct(run.lat, 99.9).toFixed(3)} ms` })
      // This layout's nodes go before the next one starts (each layout has its own registry).
      await res.closeAll()
    }
    return out
  })
}
