import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { PeerwardenError } from '../../src/errors.js'
import { defineSchema, registerMeshMetrics } from '../../src/mesh/index.js'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import type { CallContext } from '../../src/mesh/schema.js'
import { meshOn } from '../helpers/mesh.js'
import { redisFor } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

// A queued handler that never settles. Before: the direct path had a deadline, the queued path none:
// the consumer awaited the handler for ever, and every message behind it (every later publish) waited
// with it — one stuck message stalled the instance's queue for good.

test('a queued handler that never settles no longer stalls its consumer: its signal aborts at the deadline, it is delivered again without being started twice, dead-lettered with ERR_TIMEOUT, and the message behind it is handled', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { handlerTimeout: 200, maxDeliveries: 3, retryDelay: 20, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  t.after(async () => { await receiver.close(); await sender.close() })
  const started: number[] = []
  const aborted: unknown[] = []
  const handled: number[] = []
  await receiver.consume('Worker', 'log', 'r1', async (args, meta) => {
    const { i } = args as { i: number }
    started.push(i)
    if (i === 0) {
      meta.signal.addEventListener('abort', () => { aborted.push(meta.signal.reason) })
      await new Promise(() => {}) // never settles, ignores its signal
    }
    handled.push(i)
  })
  await sender.publish('Worker', 'log', { i: 0 }, 'Caller/a')
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => handled.includes(1), 10_000, () => `message 1 handled (started ${JSON.stringify(started)}; reported ${reported.map(String).join('; ')})`)
  assert.deepEqual(started, [0, 1], 'message 0 started once: its redeliveries waited on the run still going')
  assert.equal((aborted[0] as PeerwardenError).code, 'ERR_TIMEOUT')
  const dead = reported.filter((e) => e.code === 'ERR_QUEUE_DEAD_LETTER')
  assert.equal(dead.length, 1, reported.map(String).join('; '))
  assert.match(dead[0]!.message, /failed 3 times.*did not settle within 200 ms/)
  assert.deepEqual({ handlerTimeouts: receiver.stats().handlerTimeouts, overdueHandlers: receiver.stats().overdueHandlers }, { handlerTimeouts: 3, overdueHandlers: 1 })
})

test('a mesh node\'s queued handler gets a ctx whose signal aborts at the command\'s timeout; mesh.stats() and the Prometheus export count it', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const schema = defineSchema({
    Caller: { _connect: ['Worker'] },
    Worker: { _allow: ['Caller'], _commands: { _broadcast: { log: { queued: true, timeout: 200 } } } }
  })
  const start = await meshOn(t, schema)
  const seen: Array<{ deadline: number; reason: unknown }> = []
  const worker = await start({ role: 'Worker', redis: redis.url, queue: { maxDeliveries: 2, retryDelay: 20 }, handlers: {
    log: async (_args: unknown, ctx: CallContext) => {
      // Honours its signal: each delivery runs it again.
      await new Promise((_resolve, reject) => { ctx.signal.addEventListener('abort', () => { seen.push({ deadline: ctx.deadline, reason: ctx.signal.reason }); reject(ctx.signal.reason) }) })
    }
  }
  })
  const caller = await start({ role: 'Caller', redis: redis.url })
  const before = Date.now()
  await caller.call.Worker.log({})
  await until(() => seen.length >= 2, 10_000, () => `two deliveries past their deadline (${JSON.stringify(worker.stats())})`)
  assert.equal(worker.stats().queueHandlerTimeouts, 2)
  assert.equal(worker.stats().queueOverdueHandlers, 0)
  assert.ok(seen[0]!.deadline >= before + 200 && seen[0]!.deadline < before + 5000, `deadline ${seen[0]!.deadline - before} ms after the call`)
  assert.equal((seen[0]!.reason as PeerwardenError).code, 'ERR_TIMEOUT')
  assert.match(await registerMeshMetrics(worker).metrics(), /peerwarden_mesh_queue_handler_timeouts_total 2\b/)
})

test('a queued handler past its deadline that settles later is not run again: its redelivery waits for it and acknowledges its success', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const reported: PeerwardenError[] = []
  const receiver = new RedisQueue(redis.url, { handlerTimeout: 150, maxDeliveries: 5, retryDelay: 20, onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  t.after(async () => { await receiver.close(); await sender.close() })
  let running = 0
  let most = 0
  const runs: number[] = []
  await receiver.consume('Worker', 'log', 'r1', async (args) => {
    const { i } = args as { i: number }
    runs.push(i)
    running++
    most = Math.max(most, running)
    if (i === 0) await new Promise((resolve) => { setTimeout(resolve, 400) }) // past two deadlines
    running--
  })
  await sender.publish('Worker', 'log', { i: 0 }, 'Caller/a')
  await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
  await until(() => runs.includes(1), 10_000, 'message 1 handled')
  assert.deepEqual(runs, [0, 1])
  assert.equal(most, 1, 'never two runs at once')
  assert.deepEqual(reported.filter((e) => e.code === 'ERR_QUEUE_DEAD_LETTER'), [])
  assert.ok(receiver.stats().handlerTimeouts >= 1)
  assert.equal(receiver.stats().overdueHandlers, 0)
  assert.deepEqual(await receiver.groups('Worker', 'log'), [{ group: 'instance:r1', pending: 0, lag: 0 }])
})

// The compiled queue, for the consumer's child process.
const QUEUE = fileURLToPath(new URL('../../../dist/mesh/redis-queue.js', import.meta.url))

/** A consumer whose handler says which message it started, then never settles. */
const CONSUMER = `
import { RedisQueue } from ${JSON.stringify(QUEUE)}
const queue = new RedisQueue(process.argv[2], { handlerTimeout: 60_000 })
await queue.consume('Worker', 'log', 'r1', async (args, meta) => {
  process.stdout.write('started ' + meta.id + '\\n')
  await new Promise(() => {})
})
process.stdout.write('ready\\n')
`

test('kill -9 of a consumer in the middle of a handler loses no queued message: the consumer restarted with the same variant gets that entry again', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'pw-queue-kill-'))
  const script = join(dir, 'consumer.mjs')
  writeFileSync(script, CONSUMER)
  const child = spawn(process.execPath, [script, redis.url], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const sender = new RedisQueue(redis.url)
  let again: RedisQueue | undefined
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await sender.close()
    await again?.close()
    rmSync(dir, { recursive: true, force: true })
  })
  await until(() => out.includes('ready'), 15_000, 'the child consumer ready')
  const id = await sender.publish('Worker', 'log', { i: 0 }, 'Caller/a')
  await until(() => out.includes(`started ${id}`), 10_000, `the child started ${id}`)
  child.kill('SIGKILL')
  await new Promise((resolve) => { child.once('exit', resolve) })
  assert.deepEqual(await sender.groups('Worker', 'log'), [{ group: 'instance:r1', pending: 1, lag: 0 }], 'delivered, never acknowledged')

  again = new RedisQueue(redis.url)
  const got: string[] = []
  await again.consume('Worker', 'log', 'r1', async (args, meta) => { got.push(meta.id) })
  await until(() => got.length > 0, 10_000, 'the entry delivered again')
  assert.deepEqual(got, [id])
  let pending = 1
  for (let i = 0; i < 100 && pending > 0; i++) {
    pending = (await again.groups('Worker', 'log'))[0]?.pending ?? 1
    if (pending > 0) await new Promise((resolve) => { setTimeout(resolve, 50) })
  }
  assert.equal(pending, 0, 'acknowledged')
})

test('closing the queue does not wait for a queued handler that never settles: its signal aborts, close() returns, and the message stays pending for the next start', { timeout: 30_000 }, async (t) => {
  const redis = await redisFor(t)
  if (redis === undefined) return
  const receiver = new RedisQueue(redis.url, { handlerTimeout: 60_000 })
  const sender = new RedisQueue(redis.url)
  t.after(async () => { await receiver.close(); await sender.close() })
  let signal: AbortSignal | undefined
  await receiver.consume('Worker', 'log', 'r1', async (_args, meta) => {
    signal = meta.signal
    await new Promise(() => {})
  })
  await sender.publish('Worker', 'log', { i: 0 }, 'Caller/a')
  await until(() => signal !== undefined, 10_000, 'the handler to start')
  const started = Date.now()
  await receiver.close()
  assert.ok(Date.now() - started < 2000, `close() took ${Date.now() - started} ms`)
  assert.equal(signal!.aborted, true)
  assert.equal((signal!.reason as PeerwardenError).code, 'ERR_CLOSED')
  assert.deepEqual(await sender.groups('Worker', 'log'), [{ group: 'instance:r1', pending: 1, lag: 0 }])
})
