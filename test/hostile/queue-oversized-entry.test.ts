import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import type { PeerwardenError } from '../../src/errors.js'
import { deadKey, RedisQueue, streamKey } from '../../src/mesh/redis-queue.js'
import { redisFor } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

// Another writer appends a 64 MB entry to a queued command's stream. Before: the consumer's
// XREADGROUP brought it whole into the process (64 MB read, buffered and decoded as a string) and
// only then dead-lettered it for being over maxMessageBytes. Now the read runs in a script that sizes
// each entry inside Redis: the entry never leaves it.

const MB64 = 64 * 1024 * 1024

/** Redis's count of the bytes it sent to its clients (INFO stats). */
async function netOut (redis: Redis): Promise<number> {
  const info = await redis.info('stats')
  return Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1])
}

test('a 64 MB entry another writer appended to a queued command\'s stream is dead-lettered without Redis sending it to the consumer; the honest message behind it is handled', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  const operator = new Redis(redis.url)
  t.after(async () => { await receiver.close(); await sender.close(); operator.disconnect() })
  const seen: unknown[] = []
  await receiver.consume('Worker', 'log', 'r1', async (args) => { seen.push(args) })
  const key = streamKey('Worker', 'log')
  const before = await netOut(operator)
  // Written by redis-cli from a pipe: this process never holds the 64 MB either.
  const wrote = spawnSync('sh', ['-c', `head -c ${MB64} /dev/zero | tr '\\0' 'a' | redis-cli -p ${redis.port} -x XADD ${key} '*' from Other/x args`], { encoding: 'utf8' })
  assert.equal(wrote.status, 0, wrote.stderr)
  await sender.publish('Worker', 'log', { honest: 1 }, 'Caller/a')
  await until(() => seen.length > 0, 30_000, () => `the honest message (reported ${reported.map(String).join('; ')})`)
  const sent = await netOut(operator) - before
  console.log(`Redis sent its clients ${sent} bytes while a ${MB64}-byte entry was dead-lettered`)
  assert.ok(sent < 1024 * 1024, `Redis sent ${sent} bytes: the entry left it`)
  assert.deepEqual(seen, [{ honest: 1 }])
  const letters = reported.filter((e) => e.code === 'ERR_QUEUE_DEAD_LETTER')
  assert.equal(letters.length, 1, reported.map(String).join('; '))
  assert.match(letters[0]!.message, /an entry of 671088\d\d bytes/)
  const dead = await operator.xrange(deadKey('Worker', 'log'), '-', '+')
  assert.equal(dead.length, 1)
  assert.ok(dead[0]![1].join('').length < 1024, 'the dead letter leaves the entry out')
})
