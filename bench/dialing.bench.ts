/**
 * Benchmarks of proactive dialing: the cost of one scheduling decision over 100,000 known peers, and
 * the speed of the many-manager simulation. Each returns `Figure`s for bench/run.ts.
 */
import { compareCandidates, pickCandidates } from '../src/manager/dial-order.js'
import { PeerRecord, type ConnEntry } from '../src/manager/peer-record.js'
import { createConnectionManager, memoryStore, type Priority, type StoredPeer } from '../src/index.js'
import { ManualClock, Simulation, xorshift } from '../src/testing/index.js'
import type { Figure } from './manager.bench.js'
import { median, nowMs, collect, quantile } from './peers/common.js'

/**
 * `n` peer records as a long-running manager would hold them: mostly medium priority, some high and
 * low, a few banned; 1 % bootstrap, 2 % long-term; a third connected before (varied recency and
 * counts); failures (some sunk), tag values, backoff in the future for a fifth, 1 % connected now.
 */
function records (n: number, now: number): PeerRecord[] {
  const random = xorshift(12345)
  const priorities: Priority[] = ['medium', 'medium', 'medium', 'medium', 'high', 'low', 'low']
  const connected = { conn: {}, record: undefined, openedAt: 0 } as unknown as ConnEntry
  const out: PeerRecord[] = []
  for (let i = 0; i < n; i++) {
    const id = `12D3KooW${i.toString(36).padStart(8, '0')}`
    const r = new PeerRecord(id, id, now - Math.floor(random() * 86_400_000))
    r.addresses = [`/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/4001`]
    r.priority = i % 997 === 0 ? 'banned' : priorities[Math.floor(random() * priorities.length)]
    r.bootstrap = i % 100 === 0
    r.longTerm = i % 50 === 7
    if (random() < 0.33) {
      r.lastConnected = now - Math.floor(random() * 3_600_000)
      r.successes = 1 + Math.floor(random() * 20)
    }
    r.attempts = r.successes + Math.floor(random() * 3)
    r.failures = random() < 0.1 ? Math.floor(random() * 6) : 0
    r.value = random() < 0.5 ? Math.floor(random() * 100) : 0
    if (random() < 0.2) r.nextDialAt = now + Math.floor(random() * 600_000)
    if (i % 100 === 50) r.conn = connected
    if (i % 1000 === 3) r.dialing = true
    out.push(r)
  }
  return out
}

/**
 * One scheduling decision of the dialer with 100,000 known peers: the best 8 (the free dial slots)
 * under the dialer's eligibility rule and candidate order, in one pass. Median over `runs`.
 */
export async function candidateSelection (runs = 51, warmup = 10): Promise<Figure> {
  const now = 10 * 86_400_000
  const clock = new ManualClock(now)
  // A manager that knows 100,000 peers with a history, as restored from its store after a long run.
  const stored: StoredPeer[] = records(100_000, now).map((r) => ({
    key: r.key,
    id: r.id,
    addresses: r.addresses,
    priority: r.priority,
    topics: [],
    longTerm: r.longTerm,
    permanent: false,
    bootstrap: r.bootstrap,
    tags: (r.value !== 0 ? { score: r.value } : {}) as Record<string, number>,
    lastConnected: r.lastConnected,
    successes: r.successes,
    failures: r.failures,
    nextDialAt: r.nextDialAt
  }))
  const m = createConnectionManager({ dial: async () => await new Promise<never>(() => {}), clock, store: memoryStore(stored), lowWater: 32, highWater: 96, maxParallelDials: 8 })
  await m.ready()
  // The dialer's decision itself, without launching the dials (the manager is not started).
  const dialer = (m as unknown as { dialer: { select: (now: number) => Array<{ record: PeerRecord }> } }).dialer
  const times: number[] = []
  let picked: PeerRecord[] = []
  collect()
  for (let r = 0; r < runs + warmup; r++) {
    const t0 = nowMs()
    picked = dialer.select(now).map((p) => p.record)
    const dt = nowMs() - t0
    if (r >= warmup) times.push(dt)
  }
  if (picked.length !== 8) throw new Error(`picked ${picked.length} candidates`)
  const compare = (a: PeerRecord, b: PeerRecord): number => compareCandidates(a, b, () => false)
  const regular = picked.filter((p) => !p.longTerm)
  for (let i = 1; i < regular.length; i++) if (compare(regular[i - 1], regular[i]) > 0) throw new Error('candidates out of order')
  // The same decision by a full scan of every known peer, as a reference.
  const all = [...(m as unknown as { book: { values: () => Iterable<PeerRecord> } }).book.values()]
  const scan: number[] = []
  for (let r = 0; r < 11; r++) {
    const t0 = nowMs()
    pickCandidates(all, 8, (x) => x.candIndex !== -1, compare)
    scan.push(nowMs() - t0)
  }
  await m.close()
  return {
    name: 'one dial scheduling decision among 100,000 known peers',
    value: +median(times).toFixed(4),
    unit: 'ms',
    target: '<= 1',
    runs,
    note: `DialScheduler.select over the candidate index, after ${warmup} warm-up runs; p90 ${quantile(times, 0.9).toFixed(4)} ms; a full scan of every peer takes ${median(scan).toFixed(2)} ms`
  }
}

/** A ManualClock that counts the timers it fires. */
class CountingClock extends ManualClock {
  fired = 0
  override setTimeout (fn: () => void, ms: number): unknown {
    return super.setTimeout(() => { this.fired++; fn() }, ms)
  }
}

/**
 * 1,000 managers (3 bootstrap nodes, lowWater 8, highWater 16) on one in-memory network for 10
 * virtual minutes. Events = accepted connections (peer:connected, both ends) + dials started.
 */
export async function simulationSpeed (runs = 1): Promise<Figure[]> {
  const walls: number[] = []
  const rates: number[] = []
  let detail = ''
  for (let r = 0; r < runs; r++) {
    const clock = new CountingClock()
    const sim = new Simulation({ nodes: 1000, bootstrap: 3, clock, manager: { lowWater: 8, highWater: 16, gracePeriod: 5_000 } })
    let accepted = 0
    for (const n of sim.nodes) n.manager.events.addEventListener('peer:connected', () => { accepted++ })
    collect()
    const t0 = nowMs()
    sim.start()
    await sim.run(600_000)
    const wall = nowMs() - t0
    const dials = sim.nodes.reduce((a, n) => a + n.transport.dialCount, 0)
    const counts = sim.counts()
    const converged = counts.every((c) => c >= 8 && c <= 16)
    const graph = sim.connectedGraph()
    await sim.stop()
    walls.push(wall / 1000)
    rates.push((accepted + dials) / (wall / 1000))
    detail = `${accepted} connections accepted + ${dials} dials, ${clock.fired} timers fired; ` +
      `connections per node ${Math.min(...counts)}..${Math.max(...counts)}${converged ? '' : ' (NOT converged)'}, graph ${graph ? 'connected' : 'NOT connected'}`
  }
  return [
    { name: 'simulation: 1,000 nodes for 10 virtual minutes', value: +median(walls).toFixed(2), unit: 's wall', target: '< 30', runs, note: detail },
    { name: 'simulation: events (accepted connections + dials) per wall second', value: Math.round(median(rates)), unit: 'events/s', runs }
  ]
}
