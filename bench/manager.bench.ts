/**
 * Benchmarks of the connection manager core. Each figure is the median of
 * several runs and is printed as one JSON line by bench/run.ts.
 */
import { createConnectionManager, type ConnectionManager } from '../src/index.js'
import { ManualClock, TestConnection } from '../src/testing/index.js'
import { median, nowMs, collect } from './peers/common.js'

export interface Figure {
  name: string
  value: number
  unit: string
  target?: string
  runs: number
  note?: string
  /** The value of each round, when the figure is a median of rounds (the report draws their spread). */
  rounds?: number[]
  /** False when the figure misses its target (printed as such). */
  met?: boolean
}

const noDial = async (): Promise<never> => { throw new Error('no dial') }

/** A running manager holding `n` connections that are past their grace period. */
export async function filled (n: number, low: number, high: number, maxPeers?: number): Promise<{ m: ConnectionManager; clock: ManualClock; conns: TestConnection[] }> {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, lowWater: low, highWater: high, gracePeriod: 1000, clock, ...(maxPeers !== undefined ? { maxPeers } : {}) })
  const conns: TestConnection[] = []
  for (let i = 0; i < n; i++) {
    const c = new TestConnection({ peer: `peer-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound', address: `tcp://127.0.0.${(i % 250) + 1}:${4000 + (i % 1000)}` })
    m.connected(c)
    conns.push(c)
  }
  await clock.advance(2000)
  m.start()
  return { m, clock, conns }
}

export async function churn (runs = 5): Promise<Figure> {
  const results: number[] = []
  for (let r = 0; r < runs; r++) {
    const { m } = await filled(10_000, 10_000, 20_000)
    const pool = Array.from({ length: 1000 }, (_, i) => `churn-${i}`)
    const N = 200_000
    const conns = Array.from({ length: 1000 }, (_, i) => new TestConnection({ peer: pool[i], id: `c-${i}` }))
    collect()
    const t0 = nowMs()
    for (let i = 0; i < N; i++) {
      const c = conns[i % 1000]
      m.connected(c)
      m.disconnected(c)
    }
    const dt = nowMs() - t0
    results.push(N / (dt / 1000))
    await m.close()
  }
  return { name: 'churn connected+disconnected with 10,000 open', value: Math.round(median(results)), unit: 'pairs/s', target: '>= 500000', runs, rounds: results.map(Math.round) }
}

export async function tagging (runs = 5): Promise<Figure[]> {
  const tagRates: number[] = []
  const upsertRates: number[] = []
  for (let r = 0; r < runs; r++) {
    const { m } = await filled(10_000, 10_000, 20_000)
    const N = 1_000_000
    collect()
    let t0 = nowMs()
    for (let i = 0; i < N; i++) m.tagPeer(`peer-${i % 10_000}`, 'score', (i * 7919) % 100)
    tagRates.push(N / ((nowMs() - t0) / 1000))
    const inc = (v: number): number => (v + 1) % 100
    t0 = nowMs()
    for (let i = 0; i < N; i++) m.upsertTag(`peer-${(i * 31) % 10_000}`, 'score', inc)
    upsertRates.push(N / ((nowMs() - t0) / 1000))
    await m.close()
  }
  return [
    { name: 'tagPeer on 10,000 connected peers', value: Math.round(median(tagRates)), unit: 'ops/s', target: '>= 2000000', runs, rounds: tagRates.map(Math.round) },
    { name: 'upsertTag on 10,000 connected peers', value: Math.round(median(upsertRates)), unit: 'ops/s', target: '>= 2000000', runs, rounds: upsertRates.map(Math.round) }
  ]
}

export async function admissionAtBound (runs = 5): Promise<Figure> {
  const results: number[] = []
  for (let r = 0; r < runs; r++) {
    const { m, conns } = await filled(10_000, 5_000, 10_000)
    // Give the peers different values so the eviction really has an order to respect.
    conns.forEach((c, i) => m.tagPeer(c.peer, 'v', i % 97))
    // Fewer newcomers than old peers: every newcomer is in its grace period, so each one must evict an old peer.
    const N = 8_000
    const incoming = Array.from({ length: N }, (_, i) => new TestConnection({ peer: `new-${i}` }))
    collect()
    const t0 = nowMs()
    for (let i = 0; i < N; i++) {
      if (!m.connected(incoming[i])) throw new Error('refused at the bound: the benchmark is measuring the wrong path')
    }
    const dt = nowMs() - t0
    if (m.stats().connections !== 10_000) throw new Error(`bound broken: ${m.stats().connections}`)
    results.push((dt * 1000) / N)
    await m.close()
  }
  return { name: 'inbound at the bound with 10,000 connections (eviction decision + close)', value: +median(results).toFixed(3), unit: 'µs/op', target: '<= 5', runs, rounds: results.map((x) => +x.toFixed(3)) }
}

export async function trimLarge (runs = 21, warmup = 2): Promise<Figure> {
  const results: number[] = []
  for (let r = 0; r < runs + warmup; r++) {
    const { m, conns } = await filled(20_000, 10_000, 20_000)
    conns.forEach((c, i) => { if (i % 3 === 0) c.streams = 1; m.tagPeer(c.peer, 'v', i % 13) })
    collect()
    const t0 = nowMs()
    await m.trim()
    const dt = nowMs() - t0
    if (m.stats().connections !== 10_000) throw new Error(`trim left ${m.stats().connections}`)
    if (r >= warmup) results.push(dt)
    await m.close()
  }
  const sorted = [...results].sort((a, b) => a - b)
  const spread = `fastest ${sorted[0].toFixed(1)} ms, slowest ${sorted[sorted.length - 1].toFixed(1)} ms`
  return { name: 'trim() from 20,000 to 10,000 connections', value: +median(results).toFixed(2), unit: 'ms', target: '<= 20', runs, rounds: results.map((x) => +x.toFixed(2)), note: `median of ${runs} after ${warmup} warm-up runs (a GC in the middle of one run costs several ms); ${spread}` }
}

export async function heap (): Promise<Figure> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  gc(); gc()
  const before = process.memoryUsage().heapUsed
  // 100,000 known peers: above the default peer budget (maxPeers 20,000), raised for the figure.
  const { m } = await filled(10_000, 10_000, 20_000, 100_000)
  m.addPeers(Array.from({ length: 90_000 }, (_, i) => ({ id: `known-${i}`, address: `tcp://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4001` })))
  for (let i = 0; i < 100_000; i += 10) m.tagPeer(i < 10_000 ? `peer-${i}` : `known-${i - 10_000}`, 'kad', 5)
  gc(); gc()
  const after = process.memoryUsage().heapUsed
  if (m.stats().known !== 100_000) throw new Error(`known ${m.stats().known}`)
  const value = +((after - before) / 1024 / 1024).toFixed(1)
  await m.close()
  return { name: 'heap for 100,000 known peers and 10,000 connections', value, unit: 'MB', target: '<= 150', runs: 1 }
}
