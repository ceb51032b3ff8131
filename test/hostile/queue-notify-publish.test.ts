import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import type { PeerwardenError } from '../../src/errors.js'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import { redisFor } from '../helpers/redis.js'
import { sleep, until } from '../helpers/wait.js'

// Idle consumers wake on their stream's keyspace notification. A notification carries the command's
// name, never the entry, but anyone allowed to PUBLISH can send any payload on that channel: a
// subscriber on ioredis would read a 512 MB message whole. The queue's notification connection
// refuses any frame over 1 KiB (and any frame of another shape) before reading the rest, and counts
// it; small forged messages only wake the consumer for one read.

test('a writer publishing a 4 MB payload, and a flood of small ones, on a stream\'s keyspace channel: the connection is dropped unread, reported once, made again, and the consumers go on', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { retryDelay: 50, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  const writer = new Redis(redis.url)
  t.after(async () => { await receiver.close(); await sender.close(); writer.disconnect() })
  const handled: number[] = []
  await receiver.consume('Worker', 'log', 'r1', async (args) => { handled.push((args as { i: number }).i) })
  await until(() => receiver.stats().wakeMode === 'notifications', 10_000, 'subscribed')
  const channel = '__keyspace@0__:peerwarden:queue:Worker:log'
  assert.equal(await writer.publish(channel, 'x'.repeat(4 * 1024 * 1024)), 1)
  await until(() => receiver.stats().notificationsDropped === 1, 10_000, 'the connection dropped')
  assert.equal(reported.length, 1)
  assert.equal(reported[0]!.code, 'ERR_QUEUE')
  assert.match(reported[0]!.message, /over 1024 bytes|bulk string of \d+ bytes/)
  await until(() => receiver.stats().wakeMode === 'notifications', 10_000, 'subscribed again')
  // Small forged messages: wake-ups, each at most one read of an idle stream.
  const reads = receiver.stats().reads
  for (let k = 0; k < 200; k++) await writer.publish(channel, 'xadd')
  await sleep(300)
  assert.ok(receiver.stats().reads - reads <= 202, `${receiver.stats().reads - reads} reads for 200 forged wake-ups`)
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => handled.includes(1), 10_000, 'the honest message handled')
  assert.equal(receiver.stats().notificationsDropped, 1)
})
