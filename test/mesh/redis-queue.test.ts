import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PeerwardenError } from '../../src/errors.js'
import { createMeshNode, createRegistry, type MeshSchema } from '../../src/mesh/index.js'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import { hasCode } from '../helpers/errors.js'
import { redisSkip, startRedis } from '../helpers/redis.js'
import { sleep, until, within } from '../helpers/wait.js'

// The compiled package (npm test builds dist/ first), for the receiver's child process.
const MESH = fileURLToPath(new URL('../../../dist/mesh/index.js', import.meta.url))

const schema: MeshSchema = {
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: 'anyNode', _commands: { _broadcast: { log: { queued: true } } } }
}

/** The receiver: a Worker whose queued `log` handler appends the message number to a file, slowly. */
const RECEIVER = `
import { appendFileSync } from 'node:fs'
import { createMeshNode } from ${JSON.stringify(MESH)}
const [registry, redis, out] = process.argv.slice(2)
const schema = ${JSON.stringify(schema)}
schema.Worker._commands._broadcast.log.method = async ({ i }) => {
  await new Promise((resolve) => setTimeout(resolve, 1))
  appendFileSync(out, i + '\\n')
}
const mesh = await createMeshNode({ schema, role: 'Worker', variant: 'receiver-1', registry, redis })
process.stdout.write('ready\\n')
process.on('SIGTERM', () => { mesh.close().then(() => process.exit(0)) })
`

function lines (file: string): number[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map(Number)
}

function startReceiver (script: string, registry: string, redis: string, out: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [script, registry, redis, out], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve() })
    child.once('exit', (code) => { reject(new Error(`receiver exited early (${String(code)})`)) })
  })
  return { child, ready }
}

test('queued commands on Redis: 1,000 messages survive a SIGKILL of the receiver half-way, all processed in order, redelivering only the unacknowledged', { timeout: 60_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const dir = mkdtempSync(join(tmpdir(), 'pw-queue-'))
  const script = join(dir, 'receiver.mjs')
  const out = join(dir, 'processed.txt')
  writeFileSync(script, RECEIVER)
  const registry = await createRegistry({ schema, open: true })
  const children: ChildProcess[] = []
  let caller: Awaited<ReturnType<typeof createMeshNode>> | undefined
  try {
    const first = startReceiver(script, registry.addresses[0], redis.url, out)
    children.push(first.child)
    await first.ready
    caller = await createMeshNode({ schema, role: 'Caller', registry: registry.addresses[0], redis: redis.url })
    // Each call resolves once the message is durably queued; the receiver works through them slowly.
    for (let i = 0; i < 1000; i++) await caller.call.Worker.log({ i })
    await until(() => lines(out).length >= 400, 20_000, '400 messages processed')
    first.child.kill('SIGKILL')
    await new Promise((resolve) => first.child.once('exit', resolve))
    const atKill = lines(out).length
    assert.ok(atKill < 1000, `killed half-way (${atKill} processed)`)

    const second = startReceiver(script, registry.addresses[0], redis.url, out)
    children.push(second.child)
    await second.ready
    await until(() => new Set(lines(out)).size === 1000, 30_000, 'all 1,000 messages processed')

    const seen = lines(out)
    assert.deepEqual([...new Set(seen)].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i), 'every message, once at least')
    // In order: each message first appears after the one before it.
    const first1 = new Map<number, number>()
    seen.forEach((v, k) => { if (!first1.has(v)) first1.set(v, k) })
    for (let i = 1; i < 1000; i++) assert.ok(first1.get(i)! > first1.get(i - 1)!, `message ${i} after ${i - 1}`)
    // Redelivered: at most the message whose handler finished when the process died, before its XACK.
    const duplicates = seen.length - 1000
    assert.ok(duplicates <= 1, `${duplicates} redeliveries`)
    if (duplicates === 1) {
      const dup = seen.find((v, k) => seen.indexOf(v) !== k)!
      assert.equal(first1.get(dup), atKill - 1, 'the redelivered message is the last one processed before the kill')
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await caller?.close()
    await registry.close()
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})

// ── Hostile conditions: a Redis that hangs, restarts empty or is not there ──────────

/** A TCP server on 127.0.0.1 that accepts connections and never answers a byte. */
async function blackHole (): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `redis://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

/** A free port nobody listens on. */
async function closedPort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as net.AddressInfo
  await new Promise((resolve) => s.close(resolve))
  return port
}

test('a publish to a Redis stopped with SIGSTOP fails with ERR_TIMEOUT within its timeout', { timeout: 15_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const queue = new RedisQueue(redis.url)
  try {
    await queue.publish('Worker', 'log', { i: 0 }, 'Caller/a') // connected and working
    redis.pause()
    const started = Date.now()
    await assert.rejects(within(queue.publish('Worker', 'log', { i: 1 }, 'Caller/a', { timeout: 500 }), 5_000, 'the publish'),
      hasCode('ERR_TIMEOUT', /Redis at 127\.0\.0\.1:\d+ did not answer within 500 ms/))
    const took = Date.now() - started
    assert.ok(took >= 450 && took < 1_500, `rejected after ${took} ms`)
    t.diagnostic(`publish with timeout 500 rejected after ${took} ms`)
  } finally {
    redis.resume()
    await queue.close()
    await redis.stop()
  }
})

test('a publish to a TCP server that accepts and never answers fails with ERR_TIMEOUT within its timeout, and so does one without a timeout within the queue\'s commandTimeout', { timeout: 15_000 }, async () => {
  const hole = await blackHole()
  const queue = new RedisQueue(hole.url, { commandTimeout: 800 })
  try {
    await assert.rejects(within(queue.publish('Worker', 'log', { i: 1 }, 'Caller/a', { timeout: 300 }), 5_000, 'the publish with a timeout'), hasCode('ERR_TIMEOUT'))
    await assert.rejects(within(queue.publish('Worker', 'log', { i: 2 }, 'Caller/a'), 5_000, 'the publish without one'), hasCode('ERR_TIMEOUT', /800 ms/))
  } finally {
    await queue.close()
    await hole.close()
  }
})

test('consume() against a Redis that never answers fails with ERR_TIMEOUT within commandTimeout instead of hanging the start', { timeout: 15_000 }, async () => {
  const hole = await blackHole()
  const queue = new RedisQueue(hole.url, { commandTimeout: 500 })
  try {
    await assert.rejects(within(queue.consume('Worker', 'log', 'v1', async () => {}), 5_000, 'creating the consumer group'), hasCode('ERR_TIMEOUT', /consumer group instance:v1/))
  } finally {
    await queue.close()
    await hole.close()
  }
})

test('a publish aborted by its signal while Redis hangs fails with ERR_ABORTED at once', { timeout: 15_000 }, async () => {
  const hole = await blackHole()
  const queue = new RedisQueue(hole.url)
  try {
    const controller = new AbortController()
    const p = queue.publish('Worker', 'log', { i: 1 }, 'Caller/a', { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 50)
    await assert.rejects(within(p, 2_000, 'the aborted publish'), hasCode('ERR_ABORTED'))
  } finally {
    await queue.close()
    await hole.close()
  }
})

test('a publish with nothing listening fails with ERR_QUEUE saying it cannot reach Redis at the address (ECONNREFUSED)', { timeout: 15_000 }, async () => {
  const port = await closedPort()
  const queue = new RedisQueue(`redis://127.0.0.1:${port}`)
  try {
    await assert.rejects(within(queue.publish('Worker', 'log', { i: 1 }, 'Caller/a'), 10_000, 'the publish'),
      hasCode('ERR_QUEUE', new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`)))
  } finally {
    await queue.close()
  }
})

test('after Redis restarts empty, the lost consumer group is recreated, reported as ERR_QUEUE_GROUP_LOST, and messages published since are delivered', { timeout: 30_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const reported: Error[] = []
  const receiver = new RedisQueue(redis.url, { onError: (err) => { reported.push(err) } })
  const sender = new RedisQueue(redis.url)
  const got: number[] = []
  try {
    await receiver.consume('Worker', 'log', 'receiver-1', async (args) => { got.push((args as { i: number }).i) })
    await sender.publish('Worker', 'log', { i: 1 }, 'Caller/a')
    await until(() => got.length === 1, 5_000, 'the first message')

    await redis.restart()
    // Publishing works again once the sender reconnected; the stream is made anew, without the group.
    for (let attempt = 0; ; attempt++) {
      try { await sender.publish('Worker', 'log', { i: 2 }, 'Caller/a'); break } catch (err) { if (attempt > 50) throw err; await sleep(100) }
    }
    await sender.publish('Worker', 'log', { i: 3 }, 'Caller/a')
    await until(() => got.length >= 3, 10_000, () => `messages 2 and 3 delivered (got ${got.join(', ')}; reported ${reported.map(String).join('; ')})`)
    assert.deepEqual(got, [1, 2, 3])
    const lost = reported.filter((e) => (e as PeerwardenError).code === 'ERR_QUEUE_GROUP_LOST')
    assert.equal(lost.length, 1, reported.map(String).join('; '))
    assert.match(lost[0].message, /instance:receiver-1/)
  } finally {
    await receiver.close()
    await sender.close()
    await redis.stop()
  }
})

test('a queued mesh call honours its timeout while Redis hangs (SIGSTOP)', { timeout: 30_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const registry = await createRegistry({ schema, open: true })
  let caller: Awaited<ReturnType<typeof createMeshNode>> | undefined
  try {
    caller = await createMeshNode({ schema, role: 'Caller', registry: registry.addresses[0], redis: redis.url })
    await caller.call.Worker.log({ i: 0 })
    redis.pause()
    const started = Date.now()
    await assert.rejects(within(caller.call.Worker.log({ i: 1 }, { timeout: 1_000 }), 5_000, 'the queued call'), hasCode('ERR_TIMEOUT'))
    assert.ok(Date.now() - started < 2_000)
  } finally {
    redis.resume()
    await caller?.close()
    await registry.close()
    await redis.stop()
  }
})

test('a mesh node lists the consumer groups of a queued command and forgets the group of an instance gone for good; without Redis both say so', { timeout: 30_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const registry = await createRegistry({ schema, open: true })
  const got: number[] = []
  const workerSchema: MeshSchema = structuredClone(schema)
  ;(workerSchema.Worker as { _commands: { _broadcast: { log: { method?: unknown } } } })._commands._broadcast.log.method = async ({ i }: { i: number }) => { got.push(i) }
  const worker = await createMeshNode({ schema: workerSchema, role: 'Worker', variant: 'w-1', registry: registry.addresses[0], redis: redis.url })
  const caller = await createMeshNode({ schema, role: 'Caller', registry: registry.addresses[0], redis: redis.url })
  const plain = await createMeshNode({ schema, role: 'Caller', registry: registry.addresses[0] })
  try {
    for (let i = 0; i < 3; i++) await caller.call.Worker.log({ i })
    await until(() => got.length === 3, 5_000, 'the worker handled the 3 messages')
    let groups = await caller.queueGroups('Worker', 'log')
    for (let n = 0; n < 100 && groups.some((g) => g.pending !== 0); n++) { await sleep(20); groups = await caller.queueGroups('Worker', 'log') }
    assert.deepEqual(groups, [{ group: 'instance:w-1', pending: 0, lag: 0 }])
    await worker.close()
    assert.equal(await caller.forgetQueueGroup('Worker', 'log', 'w-1'), true)
    assert.deepEqual(await caller.queueGroups('Worker', 'log'), [])
    assert.equal(await caller.forgetQueueGroup('Worker', 'log', 'w-1'), false, 'no such group any more')
    await assert.rejects(plain.queueGroups('Worker', 'log'), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && /redis/.test(e.message))
    await assert.rejects(plain.forgetQueueGroup('Worker', 'log', 'w-1'), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT')
  } finally {
    await worker.close()
    await caller.close()
    await plain.close()
    await registry.close()
    await redis.stop()
  }
})
