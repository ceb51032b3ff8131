import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createMeshNode, createRegistry, type MeshSchema } from '../../src/mesh/index.js'
import { redisSkip, startRedis } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

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
  const registry = await createRegistry({ schema })
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
