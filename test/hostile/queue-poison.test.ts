import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import * as v from 'valibot'
import type { PeerwardenError } from '../../src/errors.js'
import { defineSchema } from '../../src/mesh/index.js'
import { deadKey, RedisQueue, streamKey } from '../../src/mesh/redis-queue.js'
import { redisFor } from '../helpers/redis.js'
import { meshOn } from '../helpers/mesh.js'
import { until } from '../helpers/wait.js'

// Poison on a queued command's Redis stream: entries another writer put there that are not what our
// publisher writes, and a message whose handler throws every time. Each must end in the dead-letter
// stream, reported, after a bounded number of deliveries; the messages behind it must be handled.
// Before: an entry whose `args` was not JSON was "handled" maxDeliveries times (each time a parse
// error, retryDelay apart, holding up every message behind it), then dead-lettered without a word;
// a 2 MB `args` and a 64 KB `from` reached the handler; no dead letter was ever reported.

/** The dead-letter stream's entries, as field maps. */
async function deadLetters (writer: Redis, role: string, command: string): Promise<Array<Map<string, string>>> {
  const entries = await writer.xrange(deadKey(role, command), '-', '+')
  return entries.map(([, fields]) => {
    const m = new Map<string, string>()
    for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i], fields[i + 1])
    return m
  })
}

test('entries another writer put on a queued command\'s stream that our publisher would not write (args not JSON, no args, a 2 MB args, a 64 KB from) are dead-lettered at their first read with a report naming why; the handler never sees them and the honest message behind them is handled', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { retryDelay: 200, maxDeliveries: 5, maxMessageBytes: 1024 * 1024, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  const writer = new Redis(redis.url)
  t.after(async () => { await receiver.close(); await sender.close(); writer.disconnect() })
  const seen: unknown[] = []
  await receiver.consume('Worker', 'log', 'r1', async (args) => { seen.push(args) })
  const key = streamKey('Worker', 'log')
  const started = Date.now()
  await writer.xadd(key, '*', 'args', '{not json', 'from', 'Other/x')
  await writer.xadd(key, '*', 'from', 'Other/x')
  await writer.xadd(key, '*', 'args', JSON.stringify('x'.repeat(2 * 1024 * 1024)), 'from', 'Other/x')
  await writer.xadd(key, '*', 'args', '{}', 'from', 'x'.repeat(64 * 1024))
  await sender.publish('Worker', 'log', { honest: 1 }, 'Caller/a')
  await until(() => seen.length > 0, 30_000, 'the honest message')
  const took = Date.now() - started
  const dead = await deadLetters(writer, 'Worker', 'log')
  console.log(`honest message handled after ${took} ms; handler saw ${seen.length} messages; ${dead.length} dead letters; reports: ${reported.map((e) => `${e.code}: ${e.message.slice(0, 120)}`).join(' | ')}`)
  assert.deepEqual(seen.map((x) => JSON.stringify(x).slice(0, 40)), ['{"honest":1}'], 'the handler saw the honest message only')
  assert.equal(dead.length, 4, 'four dead letters')
  for (const d of dead) assert.match(d.get('error') ?? '', /args|from/, 'each dead letter says what was wrong')
  const letters = reported.filter((e) => e.code === 'ERR_QUEUE_DEAD_LETTER')
  assert.equal(letters.length, 4, `four dead letters reported (${reported.map(String).join('; ')})`)
  assert.ok(letters.every((e) => e.message.includes(key)), 'each report names the stream')
  // Our own publisher refuses what its consumers would dead-letter unread.
  await assert.rejects(sender.publish('Worker', 'log', 'x'.repeat(1024 * 1024), 'Caller/a'), (err: PeerwardenError) => err.code === 'ERR_MESSAGE_TOO_LARGE' && /maxMessageBytes 1048576/.test(err.message))
  // Nothing pending for the group: every poison entry was acknowledged.
  const pending = await writer.xpending(key, 'instance:r1') as [number, ...unknown[]]
  assert.equal(pending[0], 0)
})

test('a message whose handler throws every time is delivered maxDeliveries times, then dead-lettered with the handler\'s error and a report; the messages behind it are handled', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { retryDelay: 50, maxDeliveries: 4, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  const writer = new Redis(redis.url)
  t.after(async () => { await receiver.close(); await sender.close(); writer.disconnect() })
  let poisonRuns = 0
  const handled: number[] = []
  await receiver.consume('Worker', 'log', 'r1', async (args) => {
    const { i } = args as { i: number }
    if (i === 0) { poisonRuns++; throw new Error('cannot handle message 0') }
    handled.push(i)
  })
  for (let i = 0; i <= 3; i++) await sender.publish('Worker', 'log', { i }, 'Caller/a')
  await until(() => handled.length === 3, 30_000, () => `messages 1 to 3 (handled ${handled.join(',')}, poison runs ${poisonRuns})`)
  const dead = await deadLetters(writer, 'Worker', 'log')
  console.log(`poison message run ${poisonRuns} times; dead letters ${dead.length}; reports: ${reported.map((e) => `${e.code}: ${e.message.slice(0, 160)}`).join(' | ')}`)
  assert.equal(poisonRuns, 4, 'delivered maxDeliveries times, no more')
  assert.deepEqual(handled, [1, 2, 3])
  assert.equal(dead.length, 1)
  assert.equal(dead[0].get('args'), '{"i":0}')
  assert.equal(dead[0].get('group'), 'instance:r1')
  assert.match(dead[0].get('error') ?? '', /cannot handle message 0/)
  const letters = reported.filter((e) => e.code === 'ERR_QUEUE_DEAD_LETTER')
  assert.equal(letters.length, 1, `one dead letter reported (${reported.map(String).join('; ')})`)
  assert.match(letters[0].message, /failed 4 times/)
  assert.match(letters[0].message, /cannot handle message 0/)
})

test('a queued command\'s messages on Redis are held to the schema as calls are: one from a role that may not call the command\'s role, from no role of the schema, or whose arguments fail its params is dead-lettered at its first read and reported; the handler sees the others', { timeout: 60_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const schema = defineSchema({
    Caller: { _connect: ['Worker'] },
    Intruder: { _connect: [] },
    Worker: { _allow: ['Caller'], _commands: { _broadcast: { log: { queued: true, params: v.object({ n: v.number() }) } } } }
  })
  const start = await meshOn(t, schema)
  const seen: Array<{ args: unknown; from: unknown }> = []
  const worker = await start({ role: 'Worker', variant: 'w1', redis: redis.url, handlers: { log: (args: unknown, ctx: { from: unknown }) => { seen.push({ args, from: ctx.from }) } } })
  const reported: PeerwardenError[] = []
  worker.events.addEventListener('queue:error', (e) => { reported.push((e as CustomEvent<{ error: PeerwardenError }>).detail.error) })
  // Any writer of the stream (a node of another role with Redis, another version of the application).
  const writer = new RedisQueue(redis.url)
  const reader = new Redis(redis.url)
  reader.on('error', () => {})
  t.after(async () => { await writer.close(); reader.disconnect() })
  await writer.publish('Worker', 'log', { n: 1 }, 'Intruder/x')
  await writer.publish('Worker', 'log', { n: 2 }, 'Nobody/x')
  await writer.publish('Worker', 'log', { n: 'three' }, 'Caller/a')
  await writer.publish('Worker', 'log', { n: 4 }, 'Caller/a')
  await until(() => seen.some((s) => (s.args as { n?: unknown }).n === 4), 20_000, () => `message 4 (seen ${JSON.stringify(seen)})`)
  await until(() => reported.length >= 3, 20_000, () => `three dead letters reported (${reported.map(String).join('; ')})`)
  const dead = await deadLetters(reader, 'Worker', 'log')
  console.log(`handler saw ${JSON.stringify(seen)}; dead letters: ${dead.map((d) => d.get('error')).join(' | ')}`)
  assert.deepEqual(seen, [{ args: { n: 4 }, from: { role: 'Caller', variant: 'a' } }])
  assert.equal(dead.length, 3)
  assert.match(dead[0].get('error') ?? '', /Intruder may not call Worker/)
  assert.match(dead[1].get('error') ?? '', /Nobody/)
  assert.match(dead[2].get('error') ?? '', /n/)
  assert.ok(reported.every((e) => e.code === 'ERR_QUEUE_DEAD_LETTER'), reported.map(String).join('; '))
})
