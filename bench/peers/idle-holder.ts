/**
 * The measured process of the idle-connections benchmark (bench/idle.bench.ts), run with
 * child_process.fork and --expose-gc: `node idle-holder.js <role> <connections> [bootstrap JSON]`.
 * It listens on 127.0.0.1 as one node of `role`, tells the parent where (`{ ready, address }`), then
 * answers the parent's requests over IPC:
 * - `{ op: 'mem' }`: a full GC (twice), then `{ rss, heap, external, count }` (bytes; count = connections held);
 * - `{ op: 'mark' }`: the dialers start now: the count of connections held is sampled from here;
 * - `{ op: 'accepted' }` (once the dialers are done): `{ ms, count, cpuUs }`, when the count last
 *   grew (ms since the mark), what it is, and this process's CPU time (user + system) since the mark;
 * - `{ op: 'gc' }`: a full GC (twice), before the settling time that precedes the idle window: V8
 *   follows a full GC with a few more once the process looks idle (its memory reducer, ~8 s later),
 *   and those belong to the forced GC, not to holding connections;
 * - `{ op: 'quiet', quietMs, maxMs }`: waits until this process has run a major GC since the last
 *   `gc` op and then none for `quietMs` (at most `maxMs`), then `{ waitedMs, majorGcs }`: V8's memory
 *   reducer follows the accepts and the forced GC with major GCs of its own, in its own time (8 to
 *   40 s later here), and they are the set-up's, not holding's (a 60 s window after them saw no
 *   other major GC);
 * - `{ op: 'idle', ms }`: `{ cpuUs, userUs, wallMs, count, majorGcs, minorGcs, gcPauseMs }`: this
 *   process's CPU time (user + system, and user alone, `process.cpuUsage`) over `ms` of wall time with
 *   nothing to do but hold the connections, and the GCs in that time (pauses of the main thread).
 * - `{ op: 'snapshot', path }`: writes a heap snapshot there (what each connection costs, by object).
 * Roles: peerwarden, libp2p, hyperswarm, and the floor (plain sockets: idle-common.ts).
 * It exits on 'stop' or when the parent goes away.
 */
import './polyfill.js' // before anything from libp2p: Node 20 lacks Promise.withResolvers
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { exitWhenStopped, nowMs, sleep } from './common.js'
import { FLOOR_BYTES, FLOOR_PERIOD_MS, LIBP2P_MONITOR, peerwardenTiming, type IdleRole } from './idle-common.js'

interface Holder { address: string; count: () => number; close: () => Promise<void> }

const role = process.argv[2] as IdleRole
const expected = Number(process.argv[3])
const bootstrap = process.argv[4] === undefined ? [] : JSON.parse(process.argv[4]) as Array<{ host: string; port: number }>
let holder: Holder | undefined
/** Samples the count while the dialers dial (see 'mark'). */
let sampler: NodeJS.Timeout | undefined
let accepted = (): { ms: number; count: number; cpuUs: number } => ({ ms: NaN, count: 0, cpuUs: NaN })
exitWhenStopped(async () => { await holder?.close() })

/**
 * A peerwarden node that keeps every connection: lowWater 0 (it dials nobody), highWater and maxPeers
 * above the connections offered. 127.0.0.1 is exempt from the per-IP inbound rules
 * (inbound-limits.ts); the global cap on handshakes in progress (default 32, where the oldest gives way
 * to a newcomer) is raised to 256 (the dialers keep 80 in flight).
 */
async function peerwardenHolder (): Promise<Holder> {
  const { createNode } = await import('../../src/node/index.js')
  const node = await createNode({
    rendezvous: false,
    maxPendingHandshakes: 256,
    ...peerwardenTiming(),
    manager: { lowWater: 0, highWater: expected + 1000, maxPeers: 2 * expected + 1000 }
  })
  return { address: `${node.addresses[0]}#${node.id}`, count: () => node.manager.stats().connections, close: async () => { await node.close() } }
}

/**
 * js-libp2p with TCP + Noise + Yamux and its defaults otherwise (the connection monitor pings every
 * connection every 10 s; Yamux keep-alive every 30 s), room for every connection: maxConnections
 * above the connections offered, the inbound rate limit per host and the pending-connection cap
 * raised (every dialer is 127.0.0.1), and the inbound upgrade given 2 minutes (as the dialers' dials:
 * the benchmark measures holding, not handshakes under load).
 */
async function libp2pHolder (): Promise<Holder> {
  const { createLibp2p } = await import('libp2p')
  const { tcp } = await import('@libp2p/tcp')
  const { noise } = await import('@chainsafe/libp2p-noise')
  const { yamux } = await import('@chainsafe/libp2p-yamux')
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: expected + 1000, inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 256, inboundUpgradeTimeout: 120_000 },
    connectionMonitor: LIBP2P_MONITOR
  })
  const ma = node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  if (ma === undefined) throw new Error('libp2p node does not listen on 127.0.0.1')
  return { address: ma.toString(), count: () => node.getConnections().length, close: async () => { await node.stop() } }
}

/**
 * A Hyperswarm (on a DHT node of the local testnet, bound to 127.0.0.1) listening on its key pair,
 * maxPeers above the connections offered; the dialers reach it with `dht.connect(publicKey)`. Its DHT
 * node is told it is reachable (`firewalled: false`, what a server with an open port learns), so the
 * dialers connect to it directly: assumed firewalled (the default, which on a testnet it never
 * disproves) every connection was hole-punched, and at 5,000 offered 2,237 punches were aborted
 * (`HOLEPUNCH_ABORTED`) and 2,159 connections held.
 */
async function hyperswarmHolder (): Promise<Holder> {
  const { default: Hyperswarm } = await import('hyperswarm')
  const { default: HyperDHT } = await import('hyperdht')
  const dht = new HyperDHT({ bootstrap, host: '127.0.0.1', ephemeral: true, firewalled: false })
  const swarm = new Hyperswarm({ dht, maxPeers: expected + 1000 })
  swarm.on('connection', (conn) => { conn.on('error', () => { /* a dialer that went away */ }) })
  await dht.fullyBootstrapped()
  const s = swarm as unknown as { listen: () => Promise<void>; keyPair: { publicKey: Buffer } }
  await s.listen()
  return {
    address: s.keyPair.publicKey.toString('hex'),
    count: () => swarm.connections.size,
    close: async () => { await swarm.destroy({ force: true }) }
  }
}

/**
 * The floor (idle-common.ts): a plain TCP server that writes `FLOOR_BYTES` on each connection once
 * per `FLOOR_PERIOD_MS` and reads what comes back. The connections are dealt into one bucket per
 * second of the period; one shared timer writes to one bucket a second (as peerwarden's liveness
 * tick does), the same 20 bytes each time (no allocation per exchange).
 */
async function floorHolder (): Promise<Holder> {
  const net = await import('node:net')
  const ticks = Math.round(FLOOR_PERIOD_MS / 1000)
  const buckets: Array<Set<import('node:net').Socket>> = Array.from({ length: ticks }, () => new Set())
  const message = Buffer.alloc(FLOOR_BYTES, 1)
  let count = 0
  let dealt = 0
  const server = net.createServer((socket) => {
    const bucket = buckets[dealt++ % ticks]
    bucket.add(socket)
    count++
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.on('close', () => { bucket.delete(socket); count-- })
  })
  let tick = 0
  const timer = setInterval(() => { for (const s of buckets[tick++ % ticks]) s.write(message) }, 1000)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as import('node:net').AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    count: () => count,
    close: async () => {
      clearInterval(timer)
      for (const b of buckets) for (const s of b) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

/** GCs of this process so far (from the 'gc' performance entries): counts, and the main thread's pauses. */
class GcTally {
  major = 0
  minor = 0
  ms = 0
  /** When the last major GC ended (performance.now() ms); -Infinity before any. */
  lastMajorEnd = -Infinity
  constructor () {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = ((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
          this.major++
          this.lastMajorEnd = Math.max(this.lastMajorEnd, e.startTime + e.duration)
        } else this.minor++
        this.ms += e.duration
      }
    }).observe({ entryTypes: ['gc'] })
  }

  snapshot (): { major: number; minor: number; ms: number } { return { major: this.major, minor: this.minor, ms: this.ms } }
  since (s: { major: number; minor: number; ms: number }): { major: number; minor: number; ms: number } {
    return { major: this.major - s.major, minor: this.minor - s.minor, ms: this.ms - s.ms }
  }
}
const gcs = new GcTally()
/** Major GCs counted when the last `gc` op had run (its own included). */
let forcedMajors = 0

function gc (): void {
  const g = (globalThis as { gc?: () => void }).gc
  if (g === undefined) throw new Error('run with --expose-gc')
  g()
  g()
}

/**
 * With IDLE_ATTACH="<shell command>" in the environment, the command runs when the idle window starts,
 * `{pid}` replaced by this process's id and `{ms}` by the window's length: e.g. `strace -c -f -p {pid}`
 * or `perf record -e cpu-clock:u -p {pid} -- sleep 20` (it perturbs the figures of that run).
 */
function attach (ms: number): void {
  const cmd = process.env.IDLE_ATTACH
  if (cmd === undefined || cmd === '') return
  const child = spawn('bash', ['-c', cmd.replaceAll('{pid}', String(process.pid)).replaceAll('{ms}', String(ms))], { stdio: 'inherit', detached: false })
  child.on('error', () => {})
}

async function answer (m: Record<string, unknown>, h: Holder): Promise<Record<string, unknown>> {
  if (m.op === 'mem') {
    gc()
    const u = process.memoryUsage()
    return { rss: u.rss, heap: u.heapUsed, external: u.external, count: h.count() }
  }
  if (m.op === 'mark') {
    // Sampled every 2 ms from here: when the count last grew is when the last connection was accepted.
    const t0 = nowMs()
    const c0 = process.cpuUsage()
    let seen = h.count()
    let last = t0
    sampler = setInterval(() => {
      const c = h.count()
      if (c > seen) { seen = c; last = nowMs() }
    }, 2)
    accepted = () => {
      const c = process.cpuUsage(c0)
      return { ms: last - t0, count: seen, cpuUs: c.user + c.system }
    }
    return { ok: true }
  }
  if (m.op === 'accepted') {
    clearInterval(sampler)
    return accepted()
  }
  if (m.op === 'gc') {
    gc()
    await sleep(100) // the observer's entries of this GC
    forcedMajors = gcs.major
    return { ok: true }
  }
  if (m.op === 'quiet') {
    const t0 = performance.now()
    const g0 = gcs.snapshot()
    const quietMs = m.quietMs as number
    const settled = (): boolean => gcs.major > forcedMajors && performance.now() - gcs.lastMajorEnd >= quietMs
    while (!settled() && performance.now() - t0 < (m.maxMs as number)) await sleep(250)
    return { waitedMs: performance.now() - t0, majorGcs: gcs.since(g0).major }
  }
  if (m.op === 'idle') {
    attach(m.ms as number)
    const g0 = gcs.snapshot()
    const c0 = process.cpuUsage()
    const t0 = nowMs()
    await sleep(m.ms as number)
    const c = process.cpuUsage(c0)
    const wallMs = nowMs() - t0
    await sleep(100) // the observer's last entries
    const g = gcs.since(g0)
    return { cpuUs: c.user + c.system, userUs: c.user, wallMs, count: h.count(), majorGcs: g.major, minorGcs: g.minor, gcPauseMs: g.ms }
  }
  if (m.op === 'snapshot') {
    gc()
    const { writeHeapSnapshot } = await import('node:v8')
    return { path: writeHeapSnapshot(m.path as string) }
  }
  return { error: `unknown op ${String(m.op)}` }
}

holder = role === 'peerwarden' ? await peerwardenHolder() : role === 'libp2p' ? await libp2pHolder() : role === 'hyperswarm' ? await hyperswarmHolder() : role === 'floor' ? await floorHolder() : undefined
if (holder === undefined) throw new Error(`unknown role ${String(role)}`)
const h = holder
process.on('message', (m) => {
  if (typeof m !== 'object' || m === null) return
  void answer(m as Record<string, unknown>, h).then((a) => { process.send!(a) }, (err: Error) => { process.send!({ error: err.message }) })
})
process.send!({ ready: true, address: h.address })
