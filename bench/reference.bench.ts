/**
 * The core figures as ratios against a naive reference measured in the same run (bench/reference/:
 * peerwarden's rules on go-libp2p connmgr's data structures), so that they hold on any machine:
 * `trim()`, an inbound connection at the bound (the eviction decision), and one dial decision, at
 * 1,000, 10,000 and 100,000 connections or known peers.
 *
 * Rules:
 * - Each round measures both implementations on fresh state built the same way; the order of the two
 *   rotates from one round to the next, so neither always runs on a warmer (or more fragmented) heap.
 * - A figure is the ratio of the medians (naive time / peerwarden time: above 1 is faster than the
 *   reference); its note gives both medians, and `rounds` holds the ratio of each round.
 * - Times are the process's CPU time (`process.cpuUsage()`), not the wall clock: on a shared machine
 *   another process's load stretches the wall clock of one side and not the other.
 * - Each side's last two instances stay referenced (`reside`): the one measured now and the one
 *   before, which has been through the measured operation already, as in a process that runs a
 *   manager. Otherwise the full collection before a measurement frees the side's earlier instances
 *   and with them the hidden classes of every class that only they had instances of (the manager's
 *   parts, its heaps, the decisions of an eviction): V8 drops the optimized code that relied on them
 *   and forgets their type feedback, and the measured run spends its first few thousand operations
 *   in the interpreter while it compiles again — the JIT's warm-up, paid in every round, more by the
 *   side with more code. An inbound connection at the bound at 10,000 measured 20–28 µs right after
 *   the naive reference's turn that way, 5–7 µs with a manager alive throughout.
 */
import { ManualClock, TestConnection } from '../src/testing/index.js'
import { createConnectionManager } from '../src/index.js'
import type { PeerRecord } from '../src/manager/peer-record.js'
import { filled, type Figure } from './manager.bench.js'
import { collect, median } from './peers/common.js'
import { NaiveConnMgr } from './reference/naive-connmgr.js'

/** Both sides of one operation: set up (untimed), then the timed part; returns ms per operation. */
export interface Side { name: string; measure: () => Promise<number> }

export async function rotated (sides: Side[], rounds: number): Promise<{ medians: number[]; perRound: number[][] }> {
  const perRound: number[][] = sides.map(() => [])
  // One unmeasured round first: peerwarden has far more code to compile than the reference.
  for (const side of sides) await side.measure()
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (k + r) % sides.length
      collect()
      perRound[i].push(await sides[i].measure())
    }
  }
  return { medians: perRound.map(median), perRound }
}

export function ratioFigure (name: string, n: number, pw: number[], naive: number[], unit: string, target?: number, other = 'naive'): Figure {
  const ratios = pw.map((t, i) => naive[i] / t)
  const value = +(median(naive) / median(pw)).toFixed(1)
  return {
    name: `${name} at ${n.toLocaleString('en')}: peerwarden vs ${other === 'naive' ? 'the naive reference' : other}`,
    value,
    unit: `x ${other}`,
    ...(target !== undefined ? { target: `>= ${target}`, met: value >= target } : {}),
    runs: pw.length,
    note: `peerwarden ${fmt(median(pw))} ${unit}, ${other} ${fmt(median(naive))} ${unit} (medians of ${pw.length} rotated rounds)`,
    rounds: ratios.map((x) => +x.toFixed(2))
  }
}

/** Each side's last two instances, newest first, by side (see the rules above). */
const residents = new Map<string, [unknown, unknown]>()

/** Keeps `instance` referenced until `side` has built two more (see the rules above); returns it. */
export function reside<T> (side: string, instance: T): T {
  residents.set(side, [instance, residents.get(side)?.[0]])
  return instance
}

/** CPU time of the process, ms. */
export function nowMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

function fmt (x: number): string { return x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3) }

/** `n` naive connections, past their grace period, tagged as the peerwarden side is. */
async function naiveFilled (n: number, low: number, high: number): Promise<{ mgr: NaiveConnMgr; clock: ManualClock; conns: TestConnection[] }> {
  const clock = new ManualClock()
  const mgr = new NaiveConnMgr(low, high, 1000, () => clock.now())
  const conns: TestConnection[] = []
  for (let i = 0; i < n; i++) {
    const c = new TestConnection({ peer: `peer-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound' })
    mgr.connected(c)
    conns.push(c)
  }
  await clock.advance(2000)
  return { mgr, clock, conns }
}

/**
 * trim() with `n` connections past their grace period (a third busy, 13 tag values) down to
 * `lowWater`: `over` = 'half' trims 2n to n once per round (go-libp2p's default watermarks trim
 * three quarters); 'one-percent' trims n + 1 % to n − 1 % (a background trim just over highWater)
 * 10 times per round on the same manager (3 at 100,000): before each, untimed, 2 % new connections
 * arrive, their grace period passes and a full GC runs; the round's figure is the median of its
 * trims. So a round times the steady state of a long-running manager, not the CPU time the garbage
 * collector's background threads spend on the set-up meanwhile (a trim of 200 peers takes about a
 * millisecond: that would be most of it). On the peerwarden side the transport reports the streams it opens (`streamsChanged`), as the
 * node's connections do.
 */
export async function trimRatio (n: number, over: 'half' | 'one-percent', rounds: number): Promise<Figure> {
  const total = over === 'half' ? 2 * n : n + n / 100
  const low = over === 'half' ? n : n - n / 100
  const high = over === 'half' ? 2 * n : n
  const repeats = over === 'half' ? 1 : n >= 100_000 ? 3 : 10
  // 'half' starts full; 'one-percent' starts at lowWater and tops up before each trim.
  const start = over === 'half' ? total : low
  const busy = (i: number): boolean => i % 3 === 0
  const fresh = (rep: number): TestConnection[] => Array.from({ length: over === 'half' ? 0 : total - low }, (_, i) =>
    new TestConnection({ peer: `fresh-${rep}-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound', streams: busy(i) ? 1 : 0 }))
  const { perRound } = await rotated([
    {
      name: 'peerwarden',
      measure: async () => {
        const { m, conns, clock } = reside('peerwarden', await filled(start, low, Math.max(high, total)))
        conns.forEach((c, i) => { if (busy(i)) c.streams = 1; m.streamsChanged(c); m.tagPeer(c.peer, 'v', i % 13) })
        const times: number[] = []
        for (let rep = 0; rep < repeats; rep++) {
          fresh(rep).forEach((c, i) => { m.connected(c); m.streamsChanged(c); m.tagPeer(c.peer, 'v', i % 13) })
          await clock.advance(2000) // the grace periods' end is batched: let it pass before the clock starts
          collect()
          const t0 = nowMs()
          const trimmed = m.trim() // the trim itself is synchronous; the dial pass it requests runs after
          times.push(nowMs() - t0)
          await trimmed
          if (m.stats().connections !== low) throw new Error(`trim left ${m.stats().connections}`)
        }
        await m.close()
        return median(times)
      }
    },
    {
      name: 'naive',
      measure: async () => {
        const { mgr, conns, clock } = reside('naive', await naiveFilled(start, low, Math.max(high, total)))
        conns.forEach((c, i) => { if (busy(i)) c.streams = 1; mgr.tagPeer(c.peer, i % 13) })
        const times: number[] = []
        for (let rep = 0; rep < repeats; rep++) {
          fresh(rep).forEach((c, i) => { mgr.connected(c); mgr.tagPeer(c.peer, i % 13) })
          await clock.advance(2000)
          collect()
          const t0 = nowMs()
          mgr.trim()
          times.push(nowMs() - t0)
          if (mgr.connections !== low) throw new Error(`naive trim left ${mgr.connections}`)
        }
        return median(times)
      }
    }
  ], rounds)
  const name = over === 'half' ? 'trim() from 2n to n connections' : 'trim() from n + 1 % to n − 1 % connections'
  return ratioFigure(name, n, perRound[0], perRound[1], 'ms', n === 10_000 && over === 'one-percent' ? 10 : undefined)
}

/** An inbound connection at the bound with n connections: each newcomer evicts the lowest-ranked peer. */
export async function evictionRatio (n: number, rounds: number): Promise<Figure> {
  const ops = (k: number): number => Math.max(20, Math.min(n / 2, k))
  const { perRound } = await rotated([
    {
      name: 'peerwarden',
      measure: async () => {
        const { m, conns, clock } = reside('peerwarden', await filled(n, n / 2, n))
        conns.forEach((c, i) => m.tagPeer(c.peer, 'v', i % 97))
        await clock.advance(2000)
        const N = ops(4000)
        const incoming = Array.from({ length: N }, (_, i) => new TestConnection({ peer: `new-${i}` }))
        collect()
        const t0 = nowMs()
        for (const c of incoming) if (!m.connected(c)) throw new Error('refused at the bound')
        const dt = nowMs() - t0
        await m.close()
        return (dt * 1000) / N
      }
    },
    {
      name: 'naive',
      measure: async () => {
        const { mgr, conns } = reside('naive', await naiveFilled(n, n / 2, n))
        conns.forEach((c, i) => { mgr.tagPeer(c.peer, i % 97) })
        // The naive scan costs O(n) per newcomer: fewer of them at 100,000 (the figure is per operation).
        const N = ops(n >= 100_000 ? 200 : 4000)
        const incoming = Array.from({ length: N }, (_, i) => new TestConnection({ peer: `new-${i}` }))
        collect()
        const t0 = nowMs()
        for (const c of incoming) if (!mgr.connected(c)) throw new Error('naive refused at the bound')
        const dt = nowMs() - t0
        return (dt * 1000) / N
      }
    }
  ], rounds)
  return ratioFigure('inbound connection at the bound (eviction)', n, perRound[0], perRound[1], 'µs/op', n === 10_000 ? 10 : undefined)
}

/** One dial decision (the best 8) among n known peers, a fifth of them in backoff. */
export async function dialRatio (n: number, rounds: number): Promise<Figure> {
  const ids = Array.from({ length: n }, (_, i) => `known-${i}`)
  const { perRound } = await rotated([
    {
      name: 'peerwarden',
      measure: async () => {
        const clock = new ManualClock()
        const m = reside('peerwarden', createConnectionManager({ dial: async () => await new Promise<never>(() => {}), clock, lowWater: 32, highWater: 96, maxParallelDials: 8, maxPeers: n }))
        m.addPeers(ids.map((id, i) => ({ id, address: `tcp://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4001` })))
        const dialer = (m as unknown as { dialer: { select: (now: number) => Array<{ record: PeerRecord }> } }).dialer
        const reps = 200
        collect()
        const t0 = nowMs()
        for (let r = 0; r < reps; r++) if (dialer.select(clock.now()).length !== 8) throw new Error('picked fewer than 8')
        const dt = nowMs() - t0
        await m.close()
        return (dt * 1000) / reps
      }
    },
    {
      name: 'naive',
      measure: async () => {
        const clock = new ManualClock()
        const mgr = reside('naive', new NaiveConnMgr(32, 96, 1000, () => clock.now()))
        mgr.addPeers(ids)
        const reps = n >= 100_000 ? 5 : 50
        collect()
        const t0 = nowMs()
        for (let r = 0; r < reps; r++) if (mgr.nextDials(8).length !== 8) throw new Error('naive picked fewer than 8')
        const dt = nowMs() - t0
        return (dt * 1000) / reps
      }
    }
  ], rounds)
  return ratioFigure('one dial decision among n known peers', n, perRound[0], perRound[1], 'µs')
}

/** Every ratio, at 1k, 10k and 100k. */
export async function naiveRatios (sizes = [1_000, 10_000, 100_000]): Promise<Figure[]> {
  const out: Figure[] = []
  for (const n of sizes) {
    const rounds = n >= 100_000 ? 3 : 5
    out.push(await trimRatio(n, 'one-percent', rounds))
    out.push(await trimRatio(n, 'half', rounds))
    out.push(await evictionRatio(n, rounds))
    out.push(await dialRatio(n, rounds))
  }
  return out
}
