import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import type { PeerwardenError } from '../../src/errors.js'
import { defineSchema, registerMeshMetrics } from '../../src/mesh/index.js'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import { meshOn } from '../helpers/mesh.js'
import { redisFor } from '../helpers/redis.js'
import { sleep, until } from '../helpers/wait.js'

// Idle consumers used to poll Redis with the read script, 5 ms doubling to pollInterval (50 ms):
// ~18 scripts a second per idle consumer, and ~21 ms to the first message after an idle spell. Now
// a keyspace notification of the stream wakes them, and they read once a second besides.

const T = { timeout: 30_000 }

/** A receiver consuming Worker.log as `variant`, what it handled, and a sender. */
async function pair (t: Parameters<typeof redisFor>[0], url: string, options: ConstructorParameters<typeof RedisQueue>[1] = {}, variant = 'r1'): Promise<{ receiver: RedisQueue; sender: RedisQueue; handled: number[]; reported: PeerwardenError[] }> {
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(url, { ...options, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(url)
  t.after(async () => { await receiver.close(); await sender.close() })
  const handled: number[] = []
  await receiver.consume('Worker', 'log', variant, async (args) => { handled.push((args as { i: number }).i) })
  return { receiver, sender, handled, reported }
}

test('an idle consumer waits for its stream\'s keyspace notification instead of polling: about one read a second, and a message published after an idle spell is handled', T, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const { receiver, sender, handled, reported } = await pair(t, redis.url)
  await until(() => receiver.stats().wakeMode === 'notifications', 10_000, 'the notification channel subscribed')
  await sleep(300)
  const before = receiver.stats().reads
  await sleep(2000)
  const idleReads = receiver.stats().reads - before
  assert.ok(idleReads <= 4, `${idleReads} reads in 2 s idle (polling: ~36)`)
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => handled.includes(1), 10_000, 'the message handled')
  assert.ok(receiver.stats().notifications >= 1)
  assert.deepEqual(reported, [])
  const admin = new Redis(redis.url)
  t.after(() => { admin.disconnect() })
  const flags = (await admin.config('GET', 'notify-keyspace-events') as string[])[1]!
  assert.ok(flags.includes('K') && flags.includes('t'), `notify-keyspace-events ${flags}`)
})

test('with notifications: \'use\' on a server that has them off, consumers poll and the server\'s configuration is left alone', T, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const { receiver, sender, handled } = await pair(t, redis.url, { notifications: 'use' })
  await sleep(500)
  assert.equal(receiver.stats().wakeMode, 'polling')
  const before = receiver.stats().reads
  await sleep(1000)
  assert.ok(receiver.stats().reads - before >= 8, 'polling at pollInterval')
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => handled.includes(1), 10_000, 'the message handled')
  const admin = new Redis(redis.url)
  t.after(() => { admin.disconnect() })
  assert.equal((await admin.config('GET', 'notify-keyspace-events') as string[])[1], '')
})

test('a user that may not run CONFIG (a managed Redis) probes: where notifications are off its consumers poll, nothing reported; where the operator turned them on it uses them', T, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const admin = new Redis(redis.url)
  t.after(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', 'app', 'on', '>secret', '~*', '&*', '+@all', '-config')
  const url = `redis://app:secret@127.0.0.1:${redis.port}`
  const { receiver, sender, handled, reported } = await pair(t, url)
  await sleep(3000) // past the probe's 2 s
  assert.equal(receiver.stats().wakeMode, 'polling')
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => handled.includes(1), 10_000, 'the message handled')
  assert.deepEqual(reported, [])
  assert.equal((await admin.config('GET', 'notify-keyspace-events') as string[])[1], '', 'the configuration left alone')
  // The operator turns them on (as a managed Redis's parameter group would): the same user's next queue uses them.
  await admin.config('SET', 'notify-keyspace-events', 'Kt')
  const second = await pair(t, url, {}, 'r2')
  await until(() => second.receiver.stats().wakeMode === 'notifications', 10_000, 'the probe saw its own notification')
  const before = second.receiver.stats().reads
  await sleep(2000)
  assert.ok(second.receiver.stats().reads - before <= 4, `${second.receiver.stats().reads - before} reads in 2 s idle`)
  await second.sender.publish('Worker', 'log', { i: 2 }, 'Caller/a')
  await until(() => second.handled.includes(2), 10_000, 'the message handled')
  assert.deepEqual(second.reported, [])
  assert.deepEqual(await admin.keys('peerwarden:queue:probe:*'), [], 'the probe\'s key deleted')
})

test('a user that may run CONFIG, logging in with a username and a password, turns notifications on and subscribes', T, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const admin = new Redis(redis.url)
  t.after(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', 'owner', 'on', '>secret2', '~*', '&*', '+@all')
  const { receiver, sender, handled, reported } = await pair(t, `redis://owner:secret2@127.0.0.1:${redis.port}`)
  await until(() => receiver.stats().wakeMode === 'notifications', 10_000, 'subscribed as owner')
  await sender.publish('Worker', 'log', { i: 2 }, 'Caller/a')
  await until(() => handled.includes(2), 10_000, 'the message handled')
  assert.deepEqual(reported, [])
})

test('after Redis restarts without persistence (its configuration lost), the queue turns notifications on again and subscribes again', T, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const { receiver, sender, handled } = await pair(t, redis.url, { retryDelay: 50 })
  await until(() => receiver.stats().wakeMode === 'notifications', 10_000, 'subscribed')
  const subscribed = receiver.stats().notificationSubscriptions
  await redis.restart()
  // The connection lost and made again: subscribed once more (the 'polling' in between may last
  // less than the restart takes to return, so it is not waited for).
  await until(() => receiver.stats().notificationSubscriptions > subscribed && receiver.stats().wakeMode === 'notifications', 15_000, 'subscribed again')
  const admin = new Redis(redis.url)
  t.after(() => { admin.disconnect() })
  const flags = (await admin.config('GET', 'notify-keyspace-events') as string[])[1]!
  assert.ok(flags.includes('K') && flags.includes('t'), `notify-keyspace-events ${flags}`)
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => handled.includes(1), 15_000, 'the message handled')
})

test('a mesh node\'s queued consumer waits on notifications: mesh.stats() and the Prometheus export count its reads, its dropped notification connections and its stalled consumers', T, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const schema = defineSchema({
    Caller: { _connect: ['Worker'] },
    Worker: { _allow: ['Caller'], _commands: { _broadcast: { log: { queued: true } } } }
  })
  const start = await meshOn(t, schema)
  const seen: unknown[] = []
  const worker = await start({ role: 'Worker', redis: redis.url, handlers: { log: (args: unknown) => { seen.push(args) } } })
  const caller = await start({ role: 'Caller', redis: redis.url })
  await sleep(1500)
  const idle = worker.stats().queueReads
  await sleep(1000)
  assert.ok(worker.stats().queueReads - idle <= 3, `${worker.stats().queueReads - idle} reads in 1 s idle`)
  await caller.call.Worker.log({ n: 1 })
  await until(() => seen.length === 1, 10_000, 'the message handled')
  const text = await registerMeshMetrics(worker).metrics()
  assert.match(text, /peerwarden_mesh_queue_reads_total [1-9]\d*\b/)
  assert.match(text, /peerwarden_mesh_queue_notifications_dropped_total 0\b/)
  assert.match(text, /peerwarden_mesh_queue_consumers_stalled 0\b/)
  assert.equal(worker.stats().queueStalledConsumers, 0)
})

test('notifications: an unknown mode is refused naming the option', () => {
  assert.throws(() => new RedisQueue('redis://127.0.0.1:1', { notifications: 'always' as never }), (err: PeerwardenError) => err.code === 'ERR_INVALID_ARGUMENT' && /notifications/.test(err.message))
})
