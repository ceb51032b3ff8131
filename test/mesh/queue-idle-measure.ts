// Measures an idle queued consumer (not a test: run by hand, figures go to the notes):
//   npm run build:test && node build/test/mesh/queue-idle-measure.js [consumers] [seconds]
// - read scripts a second per idle consumer: Redis's own count of EVALSHA/EVAL calls (INFO
//   commandstats) over `seconds` with `consumers` consumers and nothing published;
// - first-message latency after an idle spell: publish once every consumer idled 1.5 s, time to the
//   handler; the median of 50 (and p90).
import { Redis } from 'ioredis'
import { RedisQueue, type QueueOptions } from '../../src/mesh/redis-queue.js'
import { startRedis } from '../helpers/redis.js'

const consumers = Number(process.argv[2] ?? 4)
const seconds = Number(process.argv[3] ?? 10)
const options = JSON.parse(process.argv[4] ?? '{}') as QueueOptions

async function scriptCalls (admin: Redis): Promise<number> {
  const info = await admin.info('commandstats')
  let n = 0
  for (const m of info.matchAll(/cmdstat_(evalsha|eval|evalsha_ro|eval_ro|fcall):calls=(\d+)/g)) n += Number(m[2])
  return n
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => { setTimeout(resolve, ms) }) }
const redis = await startRedis()
const admin = new Redis(redis.url)
const receiver = new RedisQueue(redis.url, { ...options, onError: (err) => { console.error(String(err)) } })
const sender = new RedisQueue(redis.url)
try {
  let arrived: (() => void) | undefined
  for (let i = 0; i < consumers; i++) {
    await receiver.consume('Worker', `c${i}`, 'r1', async () => { arrived?.() })
  }
  await sender.publish('Worker', 'c0', {}, 'Caller/a') // the version check, and a first script load
  await sleep(1500)
  const before = await scriptCalls(admin)
  await sleep(seconds * 1000)
  const idle = (await scriptCalls(admin) - before - 1) / seconds / consumers // less this INFO's own nothing; one publish script is none
  const latencies: number[] = []
  for (let k = 0; k < 50; k++) {
    await sleep(1500)
    const got = new Promise<void>((resolve) => { arrived = resolve })
    const t0 = performance.now()
    await sender.publish('Worker', `c${k % consumers}`, { k }, 'Caller/a')
    await got
    latencies.push(performance.now() - t0)
  }
  latencies.sort((a, b) => a - b)
  const { loadavg } = await import('node:os')
  console.log(JSON.stringify({ consumers, seconds, options, scriptsPerSecondPerIdleConsumer: Number(idle.toFixed(2)), firstMessageMs: { median: Number(latencies[25]!.toFixed(2)), p90: Number(latencies[45]!.toFixed(2)), min: Number(latencies[0]!.toFixed(2)) }, load: loadavg().map((l) => l.toFixed(2)).join(' ') }))
} finally {
  await receiver.close()
  await sender.close()
  admin.disconnect()
  await redis.stop()
}
