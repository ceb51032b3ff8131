/**
 * The Redis queue needs Redis 6.2 (XADD and XTRIM with MINID): an older server is refused when the
 * queue starts, with ERR_QUEUE_REDIS_VERSION naming what was found and what is needed, instead of a
 * script error at the first trim. An old server is played by a small RESP server on 127.0.0.1 that
 * answers INFO with the version given; a recent one is the real redis-server of the test helpers.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { createMeshNode, createRegistry, type MeshSchema } from '../../src/mesh/index.js'
import { RedisQueue } from '../../src/mesh/redis-queue.js'
import { MIN_REDIS_VERSION, olderThan, redisVersionOf, redisVersionProblem } from '../../src/mesh/redis-version.js'
import { hasCode } from '../helpers/errors.js'
import { redisSkip, startRedis } from '../helpers/redis.js'
import { within } from '../helpers/wait.js'

const T = { timeout: 20_000 }

/** A RESP server that answers INFO with `redis_version:<version>`, PING with PONG, and every other command with an error (counted). */
async function oldRedis (version: string): Promise<{ url: string; others: string[]; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const others: string[] = []
  const info = `# Server\r\nredis_version:${version}\r\nredis_mode:standalone\r\n\r\n# Persistence\r\nloading:0\r\n`
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    let buffered = ''
    s.on('data', (chunk) => {
      buffered += chunk.toString('latin1')
      // Requests are arrays of bulk strings: *<n>\r\n then n × $<len>\r\n<bytes>\r\n.
      for (;;) {
        const words = parseRequest(buffered)
        if (words === undefined) return
        buffered = buffered.slice(words.length)
        const name = (words.args[0] ?? '').toLowerCase()
        if (name === 'info') s.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`)
        else if (name === 'ping') s.write('+PONG\r\n')
        else { others.push(name); s.write(`-ERR unknown command '${name}'\r\n`) }
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `redis://127.0.0.1:${port}`,
    others,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

function parseRequest (text: string): { args: string[]; length: number } | undefined {
  const head = /^\*(\d+)\r\n/.exec(text)
  if (head === null) return undefined
  let at = head[0].length
  const args: string[] = []
  for (let i = 0; i < Number(head[1]); i++) {
    const len = /^\$(\d+)\r\n/.exec(text.slice(at))
    if (len === null) return undefined
    at += len[0].length
    if (text.length < at + Number(len[1]) + 2) return undefined
    args.push(text.slice(at, at + Number(len[1])))
    at += Number(len[1]) + 2
  }
  return { args, length: at }
}

test('versions are read from INFO server and compared part by part', () => {
  assert.equal(redisVersionOf('# Server\r\nredis_version:6.0.16\r\nredis_git_sha1:0\r\n'), '6.0.16')
  assert.equal(redisVersionOf('redis_version:7.2.4\r\nvalkey_version:8.0.1\r\n'), '7.2.4')
  assert.equal(redisVersionOf('# Server\r\nredis_mode:standalone\r\n'), undefined)
  assert.equal(MIN_REDIS_VERSION, '6.2.0')
  const table: Array<[string, string, boolean]> = [
    ['6.0.16', '6.2.0', true], ['6.2', '6.2.0', false], ['6.2.0', '6.2.0', false], ['6.10.0', '6.2.0', false],
    ['5.0.14', '6.2.0', true], ['7.0.15', '6.2.0', false], ['6.1.99', '6.2.0', true]
  ]
  for (const [a, b, older] of table) assert.equal(olderThan(a, b), older, `${a} < ${b}`)
  assert.equal(redisVersionProblem('h:1', 'redis_version:7.0.15\r\n'), undefined)
  assert.equal(redisVersionProblem('h:1', 'no version here'), undefined, 'a server that does not say is not refused for that')
  assert.throws(() => { throw redisVersionProblem('h:1', 'redis_version:6.0.16\r\n') }, hasCode('ERR_QUEUE_REDIS_VERSION', /Redis at h:1 is version 6\.0\.16; the queue needs Redis 6\.2\.0 or later/))
})

test('a queue on Redis 6.0 fails to start with ERR_QUEUE_REDIS_VERSION naming the version found and the one needed, before touching a stream', T, async () => {
  const old = await oldRedis('6.0.16')
  const queue = new RedisQueue(old.url, { commandTimeout: 2_000 })
  try {
    const expected = hasCode('ERR_QUEUE_REDIS_VERSION', /Redis at 127\.0\.0\.1:\d+ is version 6\.0\.16; the queue needs Redis 6\.2\.0 or later \(XADD and XTRIM with MINID\)/)
    await assert.rejects(within(queue.start(), 5_000, 'start'), expected)
    await assert.rejects(within(queue.consume('Worker', 'log', 'v1', async () => {}), 5_000, 'consume'), expected)
    await assert.rejects(within(queue.publish('Worker', 'log', { i: 1 }, 'Caller/a'), 5_000, 'publish'), expected)
    assert.deepEqual(old.others.filter((name) => name !== 'client'), [], 'no stream or script command was sent (ioredis names itself with CLIENT SETINFO)')
  } finally {
    await queue.close()
    await old.close()
  }
})

test('a mesh node with queued commands on Redis 6.0 fails to start with ERR_QUEUE_REDIS_VERSION', T, async () => {
  const schema: MeshSchema = {
    Caller: { _connect: ['Worker'] },
    Worker: { _allow: 'anyNode', _commands: { _broadcast: { log: { queued: true, method: async () => {} } } } }
  }
  const old = await oldRedis('5.0.14')
  const registry = await createRegistry({ schema, open: true })
  try {
    await assert.rejects(within(createMeshNode({ schema, role: 'Worker', registry: registry.addresses[0], redis: old.url }), 10_000, 'createMeshNode'),
      hasCode('ERR_QUEUE_REDIS_VERSION', /version 5\.0\.14; the queue needs Redis 6\.2\.0 or later/))
  } finally {
    await registry.close()
    await old.close()
  }
})

test('a queue on the test helpers\' Redis (6.2 or later) starts, publishes and consumes', T, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  const queue = new RedisQueue(redis.url)
  try {
    await queue.start()
    const got: unknown[] = []
    await queue.consume('Worker', 'log', 'v1', async (args) => { got.push(args) })
    await queue.publish('Worker', 'log', { i: 1 }, 'Caller/a')
    await within(new Promise<void>((resolve) => { const tick = (): void => { if (got.length === 1) resolve(); else setTimeout(tick, 20) }; tick() }), 5_000, 'the message')
    assert.deepEqual(got, [{ i: 1 }])
  } finally {
    await queue.close()
    await redis.stop()
  }
})
