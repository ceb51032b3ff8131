import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { PeerwardenError } from '../../src/errors.js'
import { RedisQueue, streamKey } from '../../src/mesh/redis-queue.js'
import { redisFor } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

// The consumer's side of the Redis queue when Redis misbehaves between a message's handler and its
// acknowledgement. Before: the consumer loop's promise rejected, nobody held it, and the process
// ended on the unhandled rejection; the message was then never handled again by that node.

/** Unhandled rejections while the test runs (the listener keeps them from ending the process). */
function unhandled (t: TestContext): unknown[] {
  const seen: unknown[] = []
  const listener = (reason: unknown): void => { seen.push(reason) }
  process.on('unhandledRejection', listener)
  t.after(() => { process.off('unhandledRejection', listener) })
  return seen
}

test('Redis hanging while a message is acknowledged does not end the process: the failure is reported, the consumer goes on, and the message is acknowledged or delivered again', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const crashes = unhandled(t)
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { commandTimeout: 300, retryDelay: 50, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  t.after(async () => { await receiver.close(); await sender.close() })
  const got: Array<{ id: string; i: number }> = []
  await receiver.consume('Worker', 'log', 'r1', async (args, meta) => {
    got.push({ id: meta.id, i: (args as { i: number }).i })
    // The handler is done; Redis hangs before the acknowledgement reaches it.
    if (got.length === 1) { redis.pause(); setTimeout(() => { redis.resume() }, 1500) }
  })
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => reported.length > 0, 10_000, 'the failed acknowledgement to be reported')
  assert.ok(reported.some((e) => e.code === 'ERR_QUEUE' && /acknowledge/.test(e.message)), `reported: ${reported.map(String).join('; ')}`)
  // Redis answers again: the consumer goes on (the late XACK landed, or message 1 comes again).
  await sender.publish('Worker', 'log', { i: 2 }, 'Caller/a')
  await until(() => got.some((g) => g.i === 2), 10_000, () => `message 2 (got ${JSON.stringify(got)})`)
  assert.ok(got.filter((g) => g.i === 1).length >= 1)
  assert.deepEqual(crashes, [], 'no unhandled rejection')
})

test('a message trimmed from the stream by an operator (XTRIM) while it waited to be handled again is reported as ERR_QUEUE_TRIMMED, never thrown: the messages after it are handled', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const crashes = unhandled(t)
  const reported: PeerwardenError[] = []
  // The queue never trims what a group still needs; an operator's XTRIM can.
  const receiver = new RedisQueue(redis.url, { retryDelay: 1500, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  const operator = new Redis(redis.url)
  t.after(async () => { await receiver.close(); await sender.close(); operator.disconnect() })
  const got: number[] = []
  let failed = false
  await receiver.consume('Worker', 'log', 'r1', async (args) => {
    const { i } = args as { i: number }
    // The first message fails once: it waits retryDelay to be read again, and is trimmed meanwhile.
    if (i === 0 && !failed) { failed = true; throw new Error('not now') }
    got.push(i)
  })
  await sender.publish('Worker', 'log', { i: 0 }, 'Caller/a')
  await until(() => failed, 5000, 'the first delivery of message 0')
  await operator.xtrim(streamKey('Worker', 'log'), 'MAXLEN', 0)
  for (let i = 1; i <= 300; i++) await sender.publish('Worker', 'log', { i }, 'Caller/a')
  await until(() => got.includes(300), 20_000, () => `message 300 (got ${got.length}; unhandled ${crashes.map(String).join('; ')}; reported ${reported.map(String).join('; ')})`)
  assert.deepEqual(crashes, [], 'no unhandled rejection')
  assert.ok(reported.some((e) => e.code === 'ERR_QUEUE_TRIMMED' && /trimmed/.test(e.message)), `reported: ${reported.map(String).join('; ')}`)
})

test('closing a queue whose Redis is down or hangs returns at once: its consumer loop does not wait commandTimeout for a command sent to it', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const crashes = unhandled(t)
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { onError: (err) => { reported.push(err) } })
  await receiver.consume('Worker', 'log', 'r1', async () => {})
  const other = new RedisQueue(redis.url, { onError: (err) => { reported.push(err) } })
  await other.consume('Worker', 'log', 'r2', async () => {})
  await new Promise((resolve) => { setTimeout(resolve, 100) })
  redis.pause() // hung: the sockets stay open, nothing answers
  await new Promise((resolve) => { setTimeout(resolve, 200) })
  let started = Date.now()
  await other.close()
  assert.ok(Date.now() - started < 2000, `close() on a hung Redis took ${Date.now() - started} ms (commandTimeout 10 s)`)
  await redis.stop() // down: ioredis reconnects, and a command waits in its offline queue
  await new Promise((resolve) => { setTimeout(resolve, 200) })
  started = Date.now()
  await receiver.close()
  assert.ok(Date.now() - started < 2000, `close() on a Redis that is down took ${Date.now() - started} ms (commandTimeout 10 s)`)
  assert.deepEqual(crashes, [], 'no unhandled rejection')
  assert.deepEqual(reported.filter((e) => /closed/i.test(e.message)), [], 'closing is not reported as a problem')
})
