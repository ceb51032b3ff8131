import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import type { PeerwardenError } from '../../src/errors.js'
import { RedisQueue, streamKey } from '../../src/mesh/redis-queue.js'
import { hasCode } from '../helpers/errors.js'
import { redisSkip, startRedis } from '../helpers/redis.js'
import { sleep, until } from '../helpers/wait.js'

const KEY = streamKey('Worker', 'log')

/** Waits until the stream holds `n` entries. */
async function untilLength (client: Redis, n: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  let len = await client.xlen(KEY)
  while (len !== n) {
    if (Date.now() > end) throw new Error(`timed out waiting for XLEN ${n} (it is ${len})`)
    await sleep(20)
    len = await client.xlen(KEY)
  }
}
const OPTS = { maxLength: 10, trimEvery: 3, trimInterval: 50, retryDelay: 20 }

test('a group that lags (its instance down) loses nothing past maxLength: publish is refused with ERR_BUSY naming it, and accepted again once it caught up and acknowledged messages were trimmed', { timeout: 30_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const client = new Redis(redis.url)
  const sender = new RedisQueue(redis.url, OPTS)
  const fast = new RedisQueue(redis.url, OPTS)
  let slow = new RedisQueue(redis.url, OPTS)
  const gotFast: number[] = []
  const gotSlow: number[] = []
  try {
    await fast.consume('Worker', 'log', 'fast', async (a) => { gotFast.push((a as { i: number }).i) })
    await slow.consume('Worker', 'log', 'slow', async (a) => { gotSlow.push((a as { i: number }).i) })
    await slow.close() // its group stays: the instance is down for a while

    for (let i = 0; i < 10; i++) await sender.publish('Worker', 'log', { i }, 'Caller/a')
    await until(() => gotFast.length === 10, 5_000, 'the fast group read all 10')
    const err = await sender.publish('Worker', 'log', { i: 10 }, 'Caller/a').then(() => undefined, (e: PeerwardenError) => e)
    assert.ok(err !== undefined && hasCode('ERR_BUSY')(err), String(err))
    assert.match(err.message, new RegExp(KEY))
    assert.match(err.message, /instance:slow \(0 pending, 10 unread\)/)
    assert.doesNotMatch(err.message, /instance:fast/)
    assert.equal(await client.xlen(KEY), 10, 'nothing trimmed while the slow group needs it')

    slow = new RedisQueue(redis.url, OPTS)
    await slow.consume('Worker', 'log', 'slow', async (a) => { gotSlow.push((a as { i: number }).i) })
    await until(() => gotSlow.length === 10, 5_000, 'the slow group caught up')
    assert.deepEqual(gotSlow, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    await untilLength(client, 0, 5_000)
    await sender.publish('Worker', 'log', { i: 10 }, 'Caller/a')
    await until(() => gotSlow.length === 11 && gotFast.length === 11, 5_000, 'the 11th delivered to both')
    // The 11th is acknowledged just after its handler returns.
    let groups = await slow.groups('Worker', 'log')
    for (let n = 0; n < 100 && groups.some((g) => g.pending !== 0); n++) { await sleep(20); groups = await slow.groups('Worker', 'log') }
    assert.deepEqual(groups, [
      { group: 'instance:fast', pending: 0, lag: 0 }, { group: 'instance:slow', pending: 0, lag: 0 }])
  } finally {
    await Promise.all([sender.close(), fast.close(), slow.close()])
    client.disconnect()
    await redis.stop()
  }
})

test('acknowledged messages are trimmed in batches, never one still pending: a restarted instance re-reads its unacknowledged message', { timeout: 30_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const client = new Redis(redis.url)
  const sender = new RedisQueue(redis.url, { ...OPTS, maxLength: 1000 })
  let worker = new RedisQueue(redis.url, OPTS)
  const got: number[] = []
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  try {
    await worker.consume('Worker', 'log', 'w1', async (a) => {
      const { i } = a as { i: number }
      got.push(i)
      if (i === 5) await gate // "crashes" here: closed before acknowledging
    })
    for (let i = 0; i < 20; i++) await sender.publish('Worker', 'log', { i }, 'Caller/a')
    await until(() => got.includes(5), 5_000, 'message 5 delivered')
    // Messages 0–4 were acknowledged and trimmed; 5 (pending) and everything after it stay.
    await untilLength(client, 15, 5_000)
    const closing = worker.close()
    release()
    await closing
    assert.equal(await client.xlen(KEY), 15)

    worker = new RedisQueue(redis.url, OPTS)
    const again: number[] = []
    await worker.consume('Worker', 'log', 'w1', async (a) => { again.push((a as { i: number }).i) })
    await until(() => again.length === 15, 5_000, 'the rest delivered')
    assert.deepEqual(again, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
    await untilLength(client, 0, 5_000)
  } finally {
    await Promise.all([sender.close(), worker.close()])
    client.disconnect()
    await redis.stop()
  }
})

test('forgetGroup() releases a stream held by an instance gone for good', { timeout: 30_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const client = new Redis(redis.url)
  const queue = new RedisQueue(redis.url, OPTS)
  const gone = new RedisQueue(redis.url, OPTS)
  try {
    await gone.consume('Worker', 'log', 'gone', async () => {})
    await gone.close()
    for (let i = 0; i < 10; i++) await queue.publish('Worker', 'log', { i }, 'Caller/a')
    await assert.rejects(queue.publish('Worker', 'log', { i: 10 }, 'Caller/a'), hasCode('ERR_BUSY'))
    assert.equal(await queue.forgetGroup('Worker', 'log', 'gone'), true)
    assert.equal(await queue.forgetGroup('Worker', 'log', 'gone'), false)
    await queue.publish('Worker', 'log', { i: 10 }, 'Caller/a')
    assert.deepEqual(await queue.groups('Worker', 'log'), [])
  } finally {
    await queue.close()
    client.disconnect()
    await redis.stop()
  }
})
