/**
 * Benchmarks of peerwarden/mesh, side by side in one run with the peers it is
 * measured against: Moleculer 0.14 (TCP transporter, plain and with its Encryption middleware),
 * socket.io 4 (`emitWithAck`, WebSocket, plain and over TLS) and raw node:net length-prefixed JSON
 * floors (plain, and with ChaCha20-Poly1305 per message). Two processes each: the serving end is a forked child
 * (bench/peers/rpc-server.js), the calling end is this process. Everything binds and connects on
 * 127.0.0.1. Each function returns `Figure`s for bench/run.ts, is bounded by a hard time limit, and
 * closes every node and child it started, whatever happens.
 */
import { deepStrictEqual } from 'node:assert'
import type { Figure } from './manager.bench.js'
import { collect, median, met, pct, ratio, rotated, sleep, withTimeout } from './peers/common.js'
import { meshEchoClient } from './peers/mesh-worker.js'
import { moleculerClient } from './peers/moleculer.js'
import { rawClient } from './peers/raw-rpc.js'
import { PAYLOAD, type MoleculerEncryption, type RpcClient } from './peers/rpc.js'
import { socketioClient } from './peers/socketio.js'
import { selfSignedCertificate } from './peers/tls-cert.js'
import { bounded, inFlight, meshSetup, sequential, setupNote, startServers, type MeshSetup, type Resources, type Run } from './mesh-harness.js'

// ── 1. request/response, two processes ───────────────────────────────────

export interface RequestResponseOptions {
  /** Sequential calls per timed run. Default 3000. */
  seq?: number
  /** Calls per timed run with `inFlight` outstanding. Default 10_000. */
  total?: number
  /** Calls outstanding in the concurrent pattern. Default 100. */
  inFlight?: number
  /** Rounds; each times every contestant once per pattern, in rotated order. Default 10. */
  rounds?: number
  /**
   * Time for the rounds, ms: no round starts past it (the figures say how many ran). Default 150_000.
   * Set-up, warm-up and every timed run have their own limits; a contestant that misses one is
   * reported as failed and the others go on.
   */
  budgetMs?: number
}

type Key = 'peerwarden' | 'moleculer' | 'moleculer-enc' | 'socketio' | 'socketio-tls' | 'raw' | 'raw-aead'
type Pattern = 'seq' | 'conc'

/** A contestant: how to start its server child and its client here, and the patterns it runs. */
interface Contestant {
  key: Key
  label: string
  patterns: readonly Pattern[]
  start: (res: Resources) => Promise<RpcClient>
}

/** The targets, all measured in the same run: [pattern, against, at least]. */
const TARGETS: ReadonlyArray<[Pattern, Key, number]> = [
  ['seq', 'moleculer', 1.0],
  ['seq', 'socketio', 1.0],
  ['seq', 'moleculer-enc', 1.3],
  ['seq', 'socketio-tls', 1.3],
  ['seq', 'raw-aead', 0.9],
  ['conc', 'moleculer', 1.5],
  ['conc', 'socketio', 1.5],
  ['conc', 'raw', 1.0]
]

/** For reference: where a contestant stands against another (the floors' own cost of encryption included). */
const REFERENCES: ReadonlyArray<[Pattern, Key, Key]> = [
  ['seq', 'moleculer', 'raw'],
  ['seq', 'socketio', 'raw'],
  ['seq', 'moleculer-enc', 'moleculer'],
  ['seq', 'socketio-tls', 'socketio'],
  ['seq', 'raw-aead', 'raw'],
  ['seq', 'peerwarden', 'raw'],
  ['conc', 'moleculer', 'raw'],
  ['conc', 'socketio', 'raw']
]

const LABEL: Record<Key, string> = {
  peerwarden: 'peerwarden mesh, caller.call.Worker.echo (balanced; Noise: ChaCha20-Poly1305)',
  moleculer: 'Moleculer 0.14 TCP transporter, broker.call (peer, unencrypted)',
  'moleculer-enc': 'Moleculer 0.14 TCP transporter + its Encryption middleware (aes-256-cbc)',
  socketio: 'socket.io 4 emitWithAck, websocket (peer, unencrypted)',
  'socketio-tls': 'socket.io 4 emitWithAck, websocket over TLS (wss)',
  raw: 'raw node:net length-prefixed JSON, no encryption (floor)',
  'raw-aead': 'raw node:net length-prefixed JSON + ChaCha20-Poly1305 per message (encrypted floor)'
}

const SHORT: Record<Key, string> = {
  peerwarden: 'peerwarden',
  moleculer: 'Moleculer',
  'moleculer-enc': 'Moleculer + Encryption',
  socketio: 'socket.io',
  'socketio-tls': 'socket.io over TLS',
  raw: 'raw node:net',
  'raw-aead': 'raw node:net + AEAD'
}

const hex = (bytes: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex')

/** The contestants: each server a child process, each client here; `mesh` records the mesh's set-up for the notes. */
function contestants (mesh: { setup?: MeshSetup }): Contestant[] {
  const moleculer = (key: Key, encryption?: MoleculerEncryption): Contestant => ({
    key,
    label: LABEL[key],
    patterns: key === 'moleculer' ? ['seq', 'conc'] : ['seq'],
    start: async (res) => {
      const nodeID = `bench-${key}-${process.pid}`
      const [srv] = await startServers(res, [{ kind: 'moleculer', nodeID, encryption }])
      const c = await moleculerClient(srv.ready.port!, nodeID, encryption)
      res.add(`${key} client broker`, c.close)
      return c
    }
  })
  const aead = { tx: hex(32), rx: hex(32) }
  return [
    {
      key: 'peerwarden',
      label: LABEL.peerwarden,
      patterns: ['seq', 'conc'],
      start: async (res) => {
        mesh.setup = await meshSetup(res, [1])
        return meshEchoClient(mesh.setup.caller)
      }
    },
    moleculer('moleculer'),
    moleculer('moleculer-enc', { key: hex(32), iv: hex(16) }),
    ...(['socketio', 'socketio-tls'] as const).map((key): Contestant => ({
      key,
      label: LABEL[key],
      patterns: key === 'socketio' ? ['seq', 'conc'] : ['seq'],
      start: async (res) => {
        const tls = key === 'socketio-tls' ? await selfSignedCertificate() : undefined
        const [srv] = await startServers(res, [{ kind: 'socketio', tls }])
        const c = await socketioClient(srv.ready.port!, tls)
        res.add(`${key} client`, c.close)
        return c
      }
    })),
    ...(['raw', 'raw-aead'] as const).map((key): Contestant => ({
      key,
      label: LABEL[key],
      patterns: key === 'raw' ? ['seq', 'conc'] : ['seq'],
      start: async (res) => {
        const keys = key === 'raw-aead' ? aead : undefined
        const [srv] = await startServers(res, [{ kind: 'raw', aead: keys }])
        const c = await rawClient(srv.ready.port!, keys)
        res.add(`${key} client`, c.close)
        return c
      }
    }))
  ]
}

/**
 * Calls per second of one request/response with a small JSON object ({ id, text, n: [1,2,3] }),
 * echoed, the serving end in a child process, the caller here; sequential, and with 100 in flight.
 * The contestants (LABEL): the mesh (TCP + Noise, Protomux channel, JSON messages, a deadline per
 * call, balanced command); Moleculer 0.14 (TCP transporter, JSON serializer), plain and with its
 * Encryption middleware; socket.io 4 (WebSocket), plain and over TLS; and two floors, node:net
 * length-prefixed JSON plain and with ChaCha20-Poly1305 per message.
 *
 * Rules:
 * - Every ratio with a target is measured in this run: rounds in rotated order, the ratio of each
 *   round paired (the contestants of a round run back to back), the median of those reported.
 * - A contestant whose set-up, first call, warm-up or timed run fails or overruns its limit is
 *   reported as failed (value NaN, the reason in the note) and dropped from the later rounds; the
 *   others go on, and the ratios against it say they were not measured. Nothing hangs the suite.
 * - No round starts once `budgetMs` has passed; the figures carry how many rounds ran.
 */
export async function meshRequestResponse (opts: RequestResponseOptions = {}): Promise<Figure[]> {
  const seq = opts.seq ?? 3000
  const total = opts.total ?? 10_000
  const window = opts.inFlight ?? 100
  const rounds = opts.rounds ?? 10
  const budgetMs = opts.budgetMs ?? 150_000
  // A last resort only: every step below has its own limit.
  return await bounded('mesh request/response suite', 600_000, async (res) => {
    const mesh: { setup?: MeshSetup } = {}
    const all = contestants(mesh)
    const failed = new Map<Key, string>()
    const clients = new Map<Key, RpcClient>()
    const tSetup = performance.now()
    await Promise.all(all.map(async (c) => {
      try {
        clients.set(c.key, await withTimeout(c.start(res), 60_000, `${c.key} set-up`))
      } catch (err) {
        failed.set(c.key, `set-up: ${(err as Error).message}`)
      }
    }))
    const setupMs = performance.now() - tSetup
    const call = (key: Key) => async () => await clients.get(key)!.call(PAYLOAD)

    // Same answer from everyone, then JIT warm-up in the patterns each runs.
    for (const c of all) {
      if (failed.has(c.key)) continue
      try {
        deepStrictEqual(await withTimeout(call(c.key)(), 5_000, `${c.key} first call`), PAYLOAD, `${c.key} echo`)
        if (c.patterns.includes('seq')) await withTimeout(sequential(call(c.key), seq), 30_000, `${c.key} sequential warm-up`)
        if (c.patterns.includes('conc')) await withTimeout(inFlight(call(c.key), Math.ceil((total * 2) / 3), window), 30_000, `${c.key} in-flight warm-up`)
      } catch (err) {
        failed.set(c.key, `warm-up: ${(err as Error).message}`)
      }
    }

    // runs[pattern][key][round]: undefined where it did not run (failed, or not its pattern).
    const runs: Record<Pattern, Map<Key, Array<Run | undefined>>> = { seq: new Map(), conc: new Map() }
    for (const c of all) for (const p of c.patterns) runs[p].set(c.key, [])
    const tRounds = performance.now()
    let done = 0
    for (let r = 0; r < rounds && performance.now() - tRounds < budgetMs; r++) {
      // No GC is forced between runs: a full GC in this process, where every contestant's caller
      // lives, made the next run of whoever runs more JavaScript per call slower.
      for (const c of rotated(all, r)) {
        for (const p of c.patterns) {
          if (failed.has(c.key)) continue
          await sleep(20)
          try {
            runs[p].get(c.key)![r] = await withTimeout(p === 'seq' ? sequential(call(c.key), seq) : inFlight(call(c.key), total, window), 30_000, `${c.key} ${p === 'seq' ? 'sequential' : 'in-flight'} run of round ${r + 1}`)
          } catch (err) {
            failed.set(c.key, (err as Error).message)
          }
        }
      }
      done++
    }
    const stopped = done < rounds ? `; ${done} of ${rounds} rounds (the ${Math.round(budgetMs / 1000)} s budget for the rounds ran out)` : ''

    const out: Figure[] = []
    for (const pattern of ['seq', 'conc'] as const) {
      const name = pattern === 'seq' ? 'mesh rpc sequential' : `mesh rpc ${window} in flight`
      const n = pattern === 'seq' ? seq : total
      const ran = (k: Key): Run[] => (runs[pattern].get(k) ?? []).filter((x): x is Run => x !== undefined)
      for (const c of all) {
        if (!c.patterns.includes(pattern)) continue
        const mine = ran(c.key)
        const why = failed.get(c.key)
        if (mine.length === 0) {
          out.push({ name: `${name}: ${c.label}`, value: NaN, unit: 'calls/s', runs: 0, note: `FAILED: ${why ?? 'no run'}` })
          continue
        }
        const lat = mine.flatMap((x) => x.lat)
        const extra = c.key === 'peerwarden' && pattern === 'seq' && mesh.setup !== undefined
          ? `; set-up of all contestants ${Math.round(setupMs)} ms (mesh caller ready after ${Math.round(mesh.setup.caller.connectMs)} ms)${setupNote(mesh.setup)}`
          : ''
        out.push({
          name: `${name}: ${c.label}`,
          value: Math.round(median(mine.map((x) => x.rate))),
          unit: 'calls/s',
          runs: mine.length,
          note: `${n} calls per run, 2 processes; p50 ${median(lat).toFixed(3)} ms, p99 ${pct(lat, 99).toFixed(3)} ms; per-round ${mine.map((x) => Math.round(x.rate)).join('/')}${why !== undefined ? `; FAILED later: ${why}` : ''}${extra}${stopped}`
        })
      }
      // Paired by round: this machine drifts between regimes within a suite, and a ratio of the
      // medians would compare runs from different ones.
      const paired = (a: Key, b: Key): number[] => {
        const xs = runs[pattern].get(a) ?? []
        const ys = runs[pattern].get(b) ?? []
        const out: number[] = []
        for (let i = 0; i < Math.min(xs.length, ys.length); i++) if (xs[i] !== undefined && ys[i] !== undefined) out.push(xs[i]!.rate / ys[i]!.rate)
        return out
      }
      const ratioFigure = (a: Key, b: Key, target?: number): Figure => {
        const r = paired(a, b)
        const figName = `${name}: ${SHORT[a]} / ${SHORT[b]}${target === undefined ? ' (reference)' : ''}`
        if (r.length === 0) {
          const why = [a, b].filter((k) => failed.has(k)).map((k) => `${SHORT[k]} failed: ${failed.get(k)!}`).join('; ')
          return { name: figName, value: NaN, unit: 'x', ...(target !== undefined ? { target: `>= ${target}` } : {}), runs: 0, note: `not measured${why === '' ? '' : `: ${why}`}` }
        }
        const x = +median(r).toFixed(3)
        const head = target === undefined ? '' : `${met(x >= target)}; `
        return { name: figName, value: x, unit: 'x', ...(target !== undefined ? { target: `>= ${target}` } : {}), runs: r.length, note: `${head}median of the per-round ratios ${r.map((v) => v.toFixed(2)).join('/')}; ratio of the medians ${ratio(median(ran(a).map((v) => v.rate)), median(ran(b).map((v) => v.rate)))}` }
      }
      for (const [p, against, target] of TARGETS) if (p === pattern) out.push(ratioFigure('peerwarden', against, target))
      for (const [p, a, b] of REFERENCES) if (p === pattern) out.push(ratioFigure(a, b))
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
