// Measures idle queued consumers, with keyspace notifications against polling (not a test: run by
// hand, figures go to the docs):
//   npm run build:test && node build/test/mesh/queue-idle-measure.js [consumers] [rounds]
// Two queues on one Redis, `notifications: 'enable'` and `'off'` (polling, as before notifications),
// each with `consumers` consumers, measured in rotated rounds (the order alternates each round):
// - read scripts a second per idle consumer: the queue's own count (`stats().reads`) over 2 s idle;
// - first-message latency after a 1 s idle spell: publish, time to the handler; 10 a round, the
//   median and p90 over all rounds (50 with the default 5 rounds).
import { loadavg } from 'node:os'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import { startRedis } from '../helpers/redis.js'

const consumers = Number(process.argv[2] ?? 4)
const rounds = Number(process.argv[3] ?? 5)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => { setTimeout(resolve, ms) }) }
const redis = await startRedis()
const sender = new RedisQueue(redis.url)
const modes = ['enable', 'off'] as const
const queues = new Map(modes.map((m) => [m, new RedisQueue(redis.url, { notifications: m, onError: (err) => { console.error(String(err)) } })]))
const figures = new Map(modes.map((m) => [m, { idle: [] as number[], latency: [] as number[] }]))
try {
  let arrived: (() => void) | undefined
  for (const m of modes) {
    for (let i = 0; i < consumers; i++) await queues.get(m)!.consume(m, `c${i}`, 'r1', async () => { arrived?.() })
  }
  await sleep(1500)
  for (let r = 0; r < rounds; r++) {
    for (const m of r % 2 === 0 ? modes : [...modes].reverse()) {
      const q = queues.get(m)!
      const f = figures.get(m)!
      const before = q.stats().reads
      await sleep(2000)
      f.idle.push((q.stats().reads - before) / 2 / consumers)
      for (let k = 0; k < 10; k++) {
        await sleep(1000)
        const got = new Promise<void>((resolve) => { arrived = resolve })
        const t0 = performance.now()
        await sender.publish(m, `c${k % consumers}`, { k }, 'Caller/a')
        await got
        f.latency.push(performance.now() - t0)
      }
    }
  }
  const at = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!
  const out: Record<string, unknown> = { consumers, rounds, load: loadavg().map((l) => l.toFixed(2)).join(' '), wakeMode: queues.get('enable')!.stats().wakeMode }
  for (const m of modes) {
    const f = figures.get(m)!
    out[m] = { scriptsPerSecondPerIdleConsumer: Number(at(f.idle, 0.5).toFixed(2)), firstMessageMs: { median: Number(at(f.latency, 0.5).toFixed(2)), p90: Number(at(f.latency, 0.9).toFixed(2)), n: f.latency.length } }
  }
  const e = figures.get('enable')!
  const o = figures.get('off')!
  out.ratios = { scripts: Number((at(o.idle, 0.5) / at(e.idle, 0.5)).toFixed(1)), latency: Number((at(o.latency, 0.5) / at(e.latency, 0.5)).toFixed(1)) }
  console.log(JSON.stringify(out))
} finally {
  for (const q of queues.values()) await q.close()
  await sender.close()
  await redis.stop()
}
