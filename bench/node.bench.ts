/**
 * Benchmarks of a real node, side by side in one run with the peers it is
 * measured against: raw @hyperswarm/secret-stream over TCP, js-libp2p 3.x (TCP + Noise + Yamux) and
 * Hyperswarm on a local testnet. Everything addresses 127.0.0.1. Each function returns `Figure`s for
 * bench/run.ts: the peers' figures, peerwarden's, and the ratios the targets are stated in.
 */
import './peers/polyfill.js' // before anything from libp2p: Node 20 lacks Promise.withResolvers
import type { Figure } from './manager.bench.js'
import { startBulkSender, type BulkSender } from './peers/bulk-child.js'
import { ballastMib, bulkExecArgv } from './peers/heap-ballast.js'
import { median, nowMs, ratio, sleep, startReceiver, withTimeout, type Receiver, type ReceiverRole } from './peers/common.js'
import { previousRef } from './peers/peerwarden-bulk.js'
import { hyperswarmMesh } from './peers/hyperswarm.js'
import { handleEcho, libp2pNode, libp2pRoundTrip, listenAddress } from './peers/libp2p.js'
import { peerwardenMesh, peerwardenRoundTrip, quietNode, serveEcho, type MeshResult } from './peers/peerwarden.js'
import { SecretStreamEcho } from './peers/secret-stream.js'
import { collectYoung, met, pct, rotated } from './peers/common.js'

// ── 1. sequential new connections ─────────────────────────────────────────

export interface NewConnectionsOptions {
  /** Connections per round for peerwarden and raw secret-stream. Default 200. */
  n?: number
  /** Connections per round for js-libp2p (about 7x slower). Default 100. */
  nLibp2p?: number
  /** Rounds; each times every contestant once, in rotated order. Default 7. */
  rounds?: number
  /** Untimed connections per contestant first (JIT). Default 400, and 100 for js-libp2p. */
  warmup?: number
}

/**
 * Sequential new connections per second on 127.0.0.1: dial + handshake + first channel message
 * round trip, then close, one after another.
 * - peerwarden: `manager.connectNow(address)` (TCP, Noise XX, control-channel hello with the
 *   network-key proof, admission), an echo channel on `conn.mux`, one 32-byte message echoed; both
 *   ends then `manager.disconnect()`.
 * - raw secret-stream: TCP connect + Noise XX, one 32-byte message echoed on the stream, both ends
 *   destroyed.
 * - js-libp2p: `dial()` (TCP + Noise XX + Yamux, multistream-select), `newStream` + one echoed
 *   message, `await conn.close()`. No identify (its leanest set-up).
 */
export async function newConnections (opts: NewConnectionsOptions = {}): Promise<Figure[]> {
  const n = opts.n ?? 200
  const nLibp2p = opts.nLibp2p ?? 100
  const rounds = opts.rounds ?? 7
  const warmup = opts.warmup ?? 400
  const payload = Buffer.alloc(32, 1)

  const a = await quietNode()
  const b = await quietNode()
  serveEcho(b)
  const raw = await SecretStreamEcho.start()
  const la = await libp2pNode()
  const lb = await libp2pNode()
  try {
    await handleEcho(lb)
    const lbAddress = listenAddress(lb)
    const bAddress = b.addresses[0]
    const contestants = [
      { key: 'peerwarden', n, once: async () => { await peerwardenRoundTrip(a, b, bAddress, payload) } },
      { key: 'secretstream', n, once: async () => { await raw.roundTrip(payload) } },
      { key: 'libp2p', n: nLibp2p, once: async () => { await libp2pRoundTrip(la, lbAddress, payload) } }
    ].map((c) => ({ ...c, once: async () => { await withTimeout(c.once(), 5_000, `${c.key} connection`) } }))
    const rates: Record<string, number[]> = { peerwarden: [], secretstream: [], libp2p: [] }
    const lat: Record<string, number[]> = { peerwarden: [], secretstream: [], libp2p: [] }
    for (const c of contestants) {
      const k = c.key === 'libp2p' ? Math.ceil((warmup * nLibp2p) / n / 2) : warmup
      for (let i = 0; i < k; i++) await c.once()
    }
    for (let r = 0; r < rounds; r++) {
      for (const c of rotated(contestants, r)) {
        await sleep(100) // let the previous contestant's closing sockets settle
        collectYoung()
        const t0 = nowMs()
        for (let i = 0; i < c.n; i++) {
          const s = nowMs()
          await c.once()
          lat[c.key].push(nowMs() - s)
        }
        rates[c.key].push(c.n / ((nowMs() - t0) / 1000))
      }
    }
    const pw = median(rates.peerwarden)
    const ss = median(rates.secretstream)
    const lp = median(rates.libp2p)
    const latNote = (k: string): string => `p50 ${median(lat[k]).toFixed(2)} ms, p99 ${pct(lat[k], 99).toFixed(2)} ms; per-round ${rates[k].map((x) => Math.round(x)).join('/')}`
    const vsRaw = pairedRatio(rates.peerwarden, rates.secretstream)
    const vsLibp2p = pairedRatio(rates.peerwarden, rates.libp2p)
    return [
      { name: 'new connections: peerwarden (connectNow + channel echo + disconnect)', value: Math.round(pw), unit: 'conn/s', target: '>= 0.9x raw secret-stream, >= 5x js-libp2p', runs: rounds, note: `${n} sequential per round, a minor GC before each; ${latNote('peerwarden')}` },
      { name: 'new connections: raw secret-stream over TCP (peer)', value: Math.round(ss), unit: 'conn/s', runs: rounds, note: `${n} sequential per round; ${latNote('secretstream')}` },
      { name: 'new connections: js-libp2p TCP+Noise+Yamux (peer)', value: Math.round(lp), unit: 'conn/s', runs: rounds, note: `${nLibp2p} sequential per round, no identify; ${latNote('libp2p')}` },
      { name: 'new connections: peerwarden / raw secret-stream', value: vsRaw.value, unit: 'x', target: '>= 0.9', runs: rounds, note: `${met(vsRaw.value >= 0.9)}; ${vsRaw.note}; ratio of the medians ${ratio(pw, ss)}` },
      { name: 'new connections: peerwarden / js-libp2p', value: vsLibp2p.value, unit: 'x', target: '>= 5', runs: rounds, note: `${met(vsLibp2p.value >= 5)}; ${vsLibp2p.note}; ratio of the medians ${ratio(pw, lp)}` }
    ]
  } finally {
    await a.close()
    await b.close()
    await raw.close()
    await la.stop()
    await lb.stop()
  }
}

/**
 * The median of the per-round ratios (the contestants of a round run back to back): this machine
 * drifts between regimes within a suite, and a ratio of the medians compares runs from different ones.
 * The same statistic as the mesh suite's.
 */
function pairedRatio (ours: number[], theirs: number[]): { value: number; note: string } {
  const rs = ours.map((x, i) => x / theirs[i])
  return { value: +median(rs).toFixed(3), note: `median of the per-round ratios ${rs.map((r) => r.toFixed(2)).join('/')}` }
}

// ── 2. bulk throughput, two processes ─────────────────────────────────────

export interface BulkOptions {
  /** MiB per timed run. Default 200, or env PEERWARDEN_BULK_MIB. */
  mib?: number
  /** Bytes per send. Default 65536. */
  chunk?: number
  /** Rounds; each times every contestant once, in rotated order. Default 7, or env PEERWARDEN_BULK_ROUNDS. */
  rounds?: number
  /** MiB sent untimed first by each contestant (JIT, Yamux window, socket buffers). Default 200. */
  warmupMib?: number
}

/**
 * Bulk throughput over one channel, sender and receiver in two processes of their own for each
 * contestant (bench/peers/bulk-sender.js and receiver.js, forked; this process only coordinates):
 * peerwarden (a Protomux channel on a NodeConnection, 64 KiB messages), the previous release the same
 * way on both ends (when `node bench/previous.mjs` built one; below 0.9x of it is a REGRESSION line on
 * stderr), raw secret-stream (64 KiB writes on the stream), js-libp2p (one Yamux stream, 64 KiB
 * `send()` + `onDrain()`). Each run starts with its length; the time runs from the first byte sent to
 * the receiver's ack of the last. No GC is forced: a full GC before a run halves the next run of a
 * contestant that runs more JavaScript per byte (js-libp2p 650 → 400 MiB/s, secret-stream 800 → 580
 * here), which measures the GC, not the stack. Every child holds `PEERWARDEN_BULK_HEAP_MIB` MiB of
 * live objects (default 16; peers/heap-ballast.ts): a bare child just over V8's 8 MB incremental
 * marking threshold runs a Mark-Compact every few dozen MB sent, and which side of it a child lands
 * on depends on the code it loaded, not on its message path.
 */
export async function bulkThroughput (opts: BulkOptions = {}): Promise<Figure[]> {
  const mib = opts.mib ?? envNumber('PEERWARDEN_BULK_MIB') ?? 200
  const chunk = opts.chunk ?? 65536
  const rounds = opts.rounds ?? envNumber('PEERWARDEN_BULK_ROUNDS') ?? 7
  const warmupMib = opts.warmupMib ?? 200
  const MiB = 1024 * 1024
  const ref = previousRef()
  if (ref === undefined) process.stderr.write('bench: no previous release in bench/.previous (run `node bench/previous.mjs`): bulk runs without it\n')
  const roles: ReceiverRole[] = ref === undefined ? ['peerwarden', 'secretstream', 'libp2p'] : ['peerwarden', 'previous', 'secretstream', 'libp2p']

  const receivers: Receiver[] = []
  const senders: BulkSender[] = []
  try {
    for (const role of roles) {
      const r = await startReceiver(role)
      receivers.push(r)
      senders.push(await startBulkSender(role, r.peer === undefined ? r.address : `${r.address}#${r.peer}`, chunk))
    }
    const speeds: Record<string, number[]> = Object.fromEntries(roles.map((k) => [k, []]))
    /** The sender's and the receiver's process CPU µs per MiB, per round. */
    const senderCpu: Record<string, number[]> = Object.fromEntries(roles.map((k) => [k, []]))
    const receiverCpu: Record<string, number[]> = Object.fromEntries(roles.map((k) => [k, []]))
    /** Mark-Compacts per GiB sent, sender and receiver, per round (many: a child in V8's marking band, peers/heap-ballast.ts). */
    const senderGcs: Record<string, number[]> = Object.fromEntries(roles.map((k) => [k, []]))
    const receiverGcs: Record<string, number[]> = Object.fromEntries(roles.map((k) => [k, []]))
    for (const s of senders) await s.run(warmupMib * MiB)
    for (let r = 0; r < rounds; r++) {
      for (const s of rotated(senders, r)) {
        await sleep(200)
        const receiver = receivers[roles.indexOf(s.role)]
        const before = await receiver.usage()
        const { ms, cpuMs, majorGcs } = await s.run(mib * MiB)
        const after = await receiver.usage()
        receiverCpu[s.role].push(((after.cpuMs - before.cpuMs) * 1000) / mib)
        receiverGcs[s.role].push(((after.majorGcs - before.majorGcs) * 1024) / mib)
        senderGcs[s.role].push((majorGcs * 1024) / mib)
        speeds[s.role].push(mib / (ms / 1000))
        senderCpu[s.role].push((cpuMs * 1000) / mib)
      }
    }
    const pw = median(speeds.peerwarden)
    const ss = median(speeds.secretstream)
    const lp = median(speeds.libp2p)
    const runsNote = (k: string): string => `${mib} MiB per run, ${chunk / 1024} KiB sends, sender and receiver in processes of their own, each holding ${ballastMib()} MiB of live objects (${bulkExecArgv().join(' ') || 'no node flags'}); per-round ${speeds[k].map((x) => Math.round(x)).join('/')}; CPU per MiB: sender ${Math.round(median(senderCpu[k]))} µs, receiver ${Math.round(median(receiverCpu[k]))} µs; Mark-Compacts per GiB: sender ${Math.round(median(senderGcs[k]))}, receiver ${Math.round(median(receiverGcs[k]))}`
    for (const k of roles.filter((r) => r === 'peerwarden' || r === 'previous')) {
      // (js-libp2p's receiver runs its own dozens per GiB, from its own garbage.) A child collecting this often sits in V8's incremental-marking band (peers/heap-ballast.ts): its figure measures that, not its stack.
      const gcs = Math.max(median(senderGcs[k]), median(receiverGcs[k]))
      if (gcs >= 8) process.stderr.write(`bench: bulk 2-proc: ${k} ran ${Math.round(gcs)} Mark-Compacts per GiB (V8's marking band: the figure measures the GC; see bench/peers/heap-ballast.ts)\n`)
    }
    const vsRaw = pairedRatio(speeds.peerwarden, speeds.secretstream)
    const vsLibp2p = pairedRatio(speeds.peerwarden, speeds.libp2p)
    const out: Figure[] = [
      { name: 'bulk 2-proc: peerwarden channel on a NodeConnection', value: +pw.toFixed(1), unit: 'MiB/s', target: '>= 0.85x raw secret-stream, >= 2x js-libp2p', runs: rounds, note: runsNote('peerwarden') },
      { name: 'bulk 2-proc: raw secret-stream over TCP (peer)', value: +ss.toFixed(1), unit: 'MiB/s', runs: rounds, note: runsNote('secretstream') },
      { name: 'bulk 2-proc: js-libp2p Yamux stream (peer)', value: +lp.toFixed(1), unit: 'MiB/s', runs: rounds, note: runsNote('libp2p') },
      { name: 'bulk 2-proc: peerwarden / raw secret-stream', value: vsRaw.value, unit: 'x', target: '>= 0.85', runs: rounds, note: `${met(vsRaw.value >= 0.85)}; ${vsRaw.note}; ratio of the medians ${ratio(pw, ss)}` },
      { name: 'bulk 2-proc: peerwarden / js-libp2p', value: vsLibp2p.value, unit: 'x', target: '>= 2', runs: rounds, note: `${met(vsLibp2p.value >= 2)}; ${vsLibp2p.note}; ratio of the medians ${ratio(pw, lp)}` }
    ]
    if (ref !== undefined) {
      const pv = median(speeds.previous)
      const vsPrevious = pairedRatio(speeds.peerwarden, speeds.previous)
      const regression = vsPrevious.value < 0.9
      if (regression) process.stderr.write(`bench: REGRESSION: bulk 2-proc: ${vsPrevious.value}x the previous release (${ref})\n`)
      out.splice(1, 0, { name: `bulk 2-proc: previous release (${ref}) channel on a NodeConnection`, value: +pv.toFixed(1), unit: 'MiB/s', runs: rounds, note: `${runsNote('previous')}; both ends the previous release` })
      const cpuVsPrevious = pairedRatio(senderCpu.previous, senderCpu.peerwarden)
      out.push({ name: `bulk 2-proc: sender CPU per MiB, previous (${ref}) / peerwarden`, value: cpuVsPrevious.value, unit: 'x', runs: rounds, note: `above 1: this tree's sender spends less CPU per byte; ${Math.round(median(senderCpu.peerwarden))} vs ${Math.round(median(senderCpu.previous))} µs/MiB; ${cpuVsPrevious.note}` })
      const rxVsPrevious = pairedRatio(receiverCpu.previous, receiverCpu.peerwarden)
      out.push({ name: `bulk 2-proc: receiver CPU per MiB, previous (${ref}) / peerwarden`, value: rxVsPrevious.value, unit: 'x', runs: rounds, note: `above 1: this tree's receiver spends less CPU per byte; ${Math.round(median(receiverCpu.peerwarden))} vs ${Math.round(median(receiverCpu.previous))} µs/MiB; ${rxVsPrevious.note}` })
      out.push({ name: `bulk 2-proc: peerwarden / previous (${ref})`, value: vsPrevious.value, unit: 'x', target: '>= 0.9', met: !regression, runs: rounds, note: `${regression ? 'REGRESSION: more than 10 % below the previous release' : 'no regression'}; ${vsPrevious.note}; ratio of the medians ${ratio(pw, pv)}` })
    }
    return out
  } finally {
    await Promise.all(senders.map(async (s) => { await s.stop() }))
    await Promise.all(receivers.map(async (r) => { await r.stop() }))
  }
}

/** A positive number from the environment, or undefined. */
function envNumber (name: string): number | undefined {
  const v = Number(process.env[name])
  return Number.isFinite(v) && v > 0 ? v : undefined
}

// ── 3. N nodes joining one topic ──────────────────────────────────────────

export interface TopicJoinOptions {
  /** Default [10, 50]. */
  sizes?: number[]
  /** Runs per size and contestant. Default 3. */
  runs?: number
  /** Hard bound on one run (joins included). Default 10_000 ms. */
  timeoutMs?: number
}

/**
 * Time for N nodes to reach lowWater (3) everywhere after joining one topic.
 * - peerwarden: a bootstrap node (defaults) + N nodes with `createNode({ bootstrap, manager:
 *   { lowWater: 3, highWater: 6 } })`, created at once; then all `join` at once; the clock runs from
 *   the first join until every node's manager holds >= 3 connections (the bootstrap connection
 *   counts, as it does for the manager).
 * - Hyperswarm: N swarms, each on its own `testnet.createNode()` DHT node (3-node local testnet,
 *   127.0.0.1), fully bootstrapped; then they join one after another (each after the previous one's
 *   `flushed()`: its best case); the clock runs from the first join until every swarm holds >= 3
 *   connections.
 * For reference, peerwarden also runs with a bootstrap node that has room for every node (highWater
 * N + 16), no target: with the default bootstrap (highWater 16) the nodes it refuses while full are
 * left with nobody to ask.
 * A run that passes `timeoutMs` is reported as a timeout, and that contestant is not run again at
 * that size.
 */
export async function topicJoin (opts: TopicJoinOptions = {}): Promise<Figure[]> {
  const sizes = opts.sizes ?? [10, 50]
  const runs = opts.runs ?? 3
  const timeoutMs = opts.timeoutMs ?? 10_000
  const out: Figure[] = []
  const describe = (rs: MeshResult[]): string => {
    const ok = rs.filter((x) => x.joinMs !== undefined)
    const timeouts = rs.length - ok.length
    const parts = [
      `per run ${rs.map((x) => (x.joinMs === undefined ? 'TIMEOUT' : x.joinMs.toFixed(0))).join('/')} ms`,
      `from creation ${ok.length > 0 ? median(ok.map((x) => x.totalMs!)).toFixed(0) : '-'} ms`
    ]
    if (timeouts > 0) parts.push(`${timeouts} run(s) timed out after ${timeoutMs} ms (${rs.filter((x) => x.joinMs === undefined).map((x) => x.atLowWater).join('/')} nodes at lowWater then)`)
    return parts.join('; ')
  }
  for (const n of sizes) {
    const pwRuns: MeshResult[] = []
    const roomRuns: MeshResult[] = []
    const hsRuns: Array<MeshResult & { connErrors: number }> = []
    const timedOut = (rs: MeshResult[]): boolean => rs.some((x) => x.joinMs === undefined)
    for (let r = 0; r < runs; r++) {
      const order = rotated(['peerwarden', 'room', 'hyperswarm'], r)
      for (const who of order) {
        // A contestant that timed out once is not run again at this size (keeps the suite bounded).
        if (who === 'peerwarden' && !timedOut(pwRuns)) pwRuns.push(await peerwardenMesh(n, timeoutMs))
        if (who === 'room' && !timedOut(roomRuns)) roomRuns.push(await peerwardenMesh(n, timeoutMs, { bootstrapHighWater: n + 16 }))
        if (who === 'hyperswarm' && !timedOut(hsRuns)) hsRuns.push(await hyperswarmMesh(n, timeoutMs))
      }
    }
    const value = (rs: MeshResult[]): number => (timedOut(rs) ? NaN : +median(rs.map((x) => x.joinMs!)).toFixed(1))
    const pw = value(pwRuns)
    const room = value(roomRuns)
    const hs = value(hsRuns)
    const withoutBoot = (rs: MeshResult[]): string => rs.map((x) => `${x.atLowWaterWithoutBootstrap}/${n}`).join(', ')
    out.push({
      name: `topic join, ${n} nodes at once to lowWater 3: peerwarden`,
      value: pw,
      unit: 'ms',
      target: '< Hyperswarm',
      runs: pwRuns.length,
      note: `${timedOut(pwRuns) ? 'TIMEOUT; ' : ''}bootstrap node with default options (highWater 16); ${describe(pwRuns)}; nodes with >= 3 connections besides the bootstrap at the end: ${withoutBoot(pwRuns)}`
    })
    out.push({
      name: `topic join, ${n} swarms one after another to 3 connections: Hyperswarm testnet (peer)`,
      value: hs,
      unit: 'ms',
      runs: hsRuns.length,
      note: `${timedOut(hsRuns) ? 'TIMEOUT; ' : ''}${describe(hsRuns)}; connection errors ${hsRuns.map((x) => x.connErrors).join('/')}`
    })
    const speedup = hs / pw
    out.push({
      name: `topic join, ${n} nodes: Hyperswarm time / peerwarden time`,
      value: Number.isFinite(speedup) ? +speedup.toFixed(2) : NaN,
      unit: 'x',
      target: '> 1',
      runs: Math.min(pwRuns.length, hsRuns.length),
      note: timedOut(pwRuns)
        ? 'target NOT met: peerwarden timed out'
        : timedOut(hsRuns) ? 'target met: Hyperswarm timed out, peerwarden did not' : met(speedup > 1)
    })
    out.push({
      name: `topic join, ${n} nodes at once to lowWater 3: peerwarden, bootstrap highWater ${n + 16} (room for every node; for reference)`,
      value: room,
      unit: 'ms',
      runs: roomRuns.length,
      note: `${timedOut(roomRuns) ? 'TIMEOUT; ' : ''}${describe(roomRuns)}; Hyperswarm time / this = ${Number.isFinite(hs / room) ? (hs / room).toFixed(2) : '-'}; nodes with >= 3 connections besides the bootstrap at the end: ${withoutBoot(roomRuns)}`
    })
  }
  return out
}
