import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, PeerwardenError } from '../../src/mesh/index.js'
import { until } from '../helpers/wait.js'
import { meshNode, registry } from './hostile-peers.js'

// What waits on a mesh node holds its arguments: a queued command's messages wait one behind the
// other, calls past a bulkhead's concurrency wait for a slot. Only their count was budgeted (10,000
// queued messages of a command): a caller whose certificate checked out could park 10,000 calls of
// 8 MiB each (80 GB) behind one slow message. Now their bytes are budgeted too (limits.queuedBytes).

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Caller'],
    _commands: {
      _balanced: { slot: { concurrency: 1, maxQueueSize: 1000, method: (_args?: unknown) => null } },
      _broadcast: { note: { queued: true, method: (_args?: unknown) => null } }
    }
  }
})

const MiB = 1024 * 1024

function busy (err: unknown): boolean {
  assert.ok(err instanceof PeerwardenError && err.code === 'ERR_REMOTE', String(err))
  const cause = err.cause as { code?: string; message?: string }
  assert.equal(cause.code, 'ERR_BUSY')
  assert.match(cause.message ?? '', /bytes of waiting arguments/)
  return true
}

test('arguments waiting on a worker (queued messages, calls waiting for a bulkhead slot) are held to limits.queuedBytes: past it a call is ERR_BUSY, and stats().queuedBytes says what waits', { timeout: 60_000 }, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const ran: number[] = []
  const worker = await meshNode(t, {
    schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], limits: { queuedBytes: 4 * MiB, messageBytes: 8 * MiB - 1024 },
    handlers: {
      note: async ({ n }: { n: number }) => { ran.push(n); if (n === 0) await gate },
      slot: async ({ n }: { n: number }) => { if (n === 0) await gate; return n }
    }
  })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 8000, 'the caller to list the worker')
  const pad = 'x'.repeat(MiB)

  // Queued: the first message runs (and holds the queue), the next wait with their megabyte each;
  // three fit the 4 MiB, the fourth does not.
  await caller.call.Worker.note({ n: 0 })
  await until(() => ran.length === 1, 5000, 'the first note to start')
  for (let n = 1; n <= 3; n++) await caller.call.Worker.note({ n, pad })
  assert.ok(worker.stats().queuedBytes > 3 * MiB && worker.stats().queuedBytes <= 4 * MiB, `queuedBytes ${worker.stats().queuedBytes}`)
  await assert.rejects(caller.call.Worker.note({ n: 4, pad }), busy)
  assert.equal(worker.stats().queued, 3)

  // A bulkhead's waiting calls count in the same budget: none fits beside the queued megabytes.
  const first = caller.call.Worker.slot({ n: 0 }, { timeout: 30_000 })
  await until(() => worker.stats().running === 2, 5000, 'the first slot call to run')
  await assert.rejects(caller.call.Worker.slot({ n: 1, pad }, { timeout: 30_000 }), busy)

  release()
  await until(() => ran.length === 4, 5000, 'the queued notes to run')
  assert.deepEqual(ran, [0, 1, 2, 3])
  assert.equal(await first, 0)
  assert.equal(worker.stats().queuedBytes, 0)
  // A call alone always fits, whatever its size.
  assert.equal(await caller.call.Worker.slot({ n: 2, pad: 'y'.repeat(6 * MiB) }, { timeout: 30_000 }), 2)
})
