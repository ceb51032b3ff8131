import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerwardenError } from '../../src/errors.js'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import { redisFor } from '../helpers/redis.js'
import { sleep, until } from '../helpers/wait.js'

// Queued handlers that ignore their abort signal and never end. Before: each one was dead-lettered
// at its deadline and left running (counted in overdueHandlers), and the consumer started the next:
// a stream of such messages piled up running handlers without bound (their memory, their sockets).
// Now a consumer holding maxOverdueHandlers of them takes no new message until one ends (as a
// BullMQ worker's concurrency slot or a Moleculer bulkhead slot stays taken by a handler the caller
// gave up on): the messages wait in Redis, unlost.

test('handlers that never end: a consumer runs at most maxOverdueHandlers of them past their deadline, then takes no new message (reported once) until one ends', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { handlerTimeout: 100, maxDeliveries: 1, retryDelay: 20, maxOverdueHandlers: 2, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  t.after(async () => { await receiver.close(); await sender.close() })
  const started: number[] = []
  const release: Array<() => void> = []
  await receiver.consume('Worker', 'log', 'r1', async (args) => {
    const { i } = args as { i: number }
    started.push(i)
    if (i < 10) await new Promise<void>((resolve) => { release.push(resolve) }) // ignores its signal
  })
  for (let i = 0; i < 5; i++) await sender.publish('Worker', 'log', { i }, 'Caller/a')
  await until(() => receiver.stats().stalledConsumers === 1, 10_000, () => `the consumer stalled (started ${JSON.stringify(started)}, ${JSON.stringify(receiver.stats())})`)
  await sleep(500)
  assert.deepEqual(started, [0, 1], 'two overdue handlers, then no new one')
  assert.equal(receiver.stats().overdueHandlers, 2)
  const busy = reported.filter((e) => e.code === 'ERR_BUSY')
  assert.equal(busy.length, 1)
  assert.match(busy[0]!.message, /2 handlers past their deadline.*maxOverdueHandlers 2/)
  assert.equal(reported.filter((e) => e.code === 'ERR_QUEUE_DEAD_LETTER').length, 2)
  // One ends: the next message runs (and hangs in its turn).
  release.shift()!()
  await until(() => started.includes(2), 10_000, 'message 2 started')
  await sleep(300)
  assert.deepEqual(started, [0, 1, 2])
  assert.equal(receiver.stats().stalledConsumers, 1)
  // All end: the rest run, nothing lost.
  await sender.publish('Worker', 'log', { i: 10 }, 'Caller/a')
  while (!started.includes(10)) {
    release.splice(0).forEach((r) => { r() })
    await sleep(50)
  }
  assert.deepEqual(started, [0, 1, 2, 3, 4, 10])
  await until(() => receiver.stats().overdueHandlers === 0, 10_000, 'no overdue handler left')
  assert.equal(receiver.stats().stalledConsumers, 0)
})

test('maxOverdueHandlers must be a positive integer (or Infinity)', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new RedisQueue('redis://127.0.0.1:1', { maxOverdueHandlers: bad }), (err: PeerwardenError) => err.code === 'ERR_INVALID_ARGUMENT' && /maxOverdueHandlers/.test(err.message))
  }
})
