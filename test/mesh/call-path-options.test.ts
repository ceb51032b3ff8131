import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createMeshNode, createRegistry, defineSchema, parseTraceparent, type MeshNode } from '../../src/mesh/index.js'
import { instancesOf } from '../helpers/mesh.js'

// The call path's per-call work: a trace starts at the first handler (no id made and nothing sent
// for a call without a parent), `tracing: false` and `metrics: false`; on real sockets
// (127.0.0.1). Every node and registry closes in t.after.

const T = { timeout: 30_000 }

test('a trace starts at the first handler, which passes it on; tracing: false starts none there; metrics: false keeps no figures', T, async (t) => {
  const seen: Array<{ at: string; traceparent: string | undefined }> = []
  const schema = defineSchema({
    Api: { _connect: ['Front'] },
    Front: {
      _allow: ['Api'],
      _connect: ['Back'],
      _commands: { _balanced: { handle: async (_args: unknown, ctx) => { seen.push({ at: 'front', traceparent: ctx.traceparent }); return await ctx.call.Back.work() } } }
    },
    Back: { _allow: ['Front'], _commands: { _balanced: { work: (_args: unknown, ctx) => { seen.push({ at: 'back', traceparent: ctx.traceparent }); return 'done' } } } }
  })
  const registry = await createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  const start = async (role: 'Api' | 'Front' | 'Back', options: { tracing?: boolean; metrics?: boolean } = {}): Promise<MeshNode<typeof schema>> => {
    const m = await createMeshNode({ schema, role, registry: registry.addresses[0], listen: ['tcp://127.0.0.1:0'], ...options })
    t.after(async () => { await m.close() })
    return m
  }
  await start('Back')
  const front = await start('Front')
  const quiet = await start('Front', { tracing: false })
  const api = await start('Api', { metrics: false })
  await instancesOf(front, 'Back', 1)
  await instancesOf(quiet, 'Back', 1)
  await instancesOf(api, 'Front', 2)

  // Two calls: the balancer sends one to each Front instance.
  assert.deepEqual(await Promise.all([api.call.Front.handle(), api.call.Front.handle()]), ['done', 'done'])
  const fronts = seen.filter((s) => s.at === 'front').map((s) => s.traceparent)
  const backs = seen.filter((s) => s.at === 'back').map((s) => parseTraceparent(s.traceparent!))
  assert.equal(fronts.filter((x) => x === undefined).length, 1, 'the Front with tracing: false starts no trace')
  const started = parseTraceparent(fronts.find((x) => x !== undefined)!)!
  assert.ok(started !== undefined, 'the other Front starts one for the call that came without')
  assert.ok(backs.every((b) => b !== undefined), 'Back starts or continues a trace either way')
  assert.ok(backs.some((b) => b!.traceId === started.traceId), 'the Front that started a trace passes it on')
  assert.deepEqual(api.stats().commands, [], 'no figures with metrics: false')
  assert.equal(front.stats().commands.length, 1, 'figures by default')

  seen.length = 0
  const mine = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`
  await Promise.all([api.call.Front.handle(undefined, { traceparent: mine }), api.call.Front.handle(undefined, { traceparent: mine })])
  assert.deepEqual(seen.map((s) => parseTraceparent(s.traceparent!)?.traceId), Array(4).fill('ab'.repeat(16)), 'a given traceparent is continued, with tracing: false too')
})

test('tracing and metrics must be booleans', T, async (t) => {
  const schema = defineSchema({ Api: {} })
  const registry = await createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  for (const bad of [{ tracing: 'no' }, { metrics: 0 }]) {
    await assert.rejects(createMeshNode({ schema, role: 'Api', registry: registry.addresses[0], ...(bad as object) }), (err: { code?: string; message: string }) => err.code === 'ERR_INVALID_ARGUMENT' && /must be a boolean/.test(err.message))
  }
})

test('maxWriteQueueBytes reaches the mesh node\'s node (checked there: a bad value names it)', T, async (t) => {
  const schema = defineSchema({ Api: {} })
  const registry = await createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  await assert.rejects(createMeshNode({ schema, role: 'Api', registry: registry.addresses[0], maxWriteQueueBytes: 0 }), (err: { code?: string; message: string }) => err.code === 'ERR_INVALID_ARGUMENT' && /maxWriteQueueBytes/.test(err.message))
})

test('handlers that are not functions and a timeout <= 0 are refused by name before anything is dialled', T, async () => {
  const schema = defineSchema({ Api: { _commands: { _balanced: { work: () => 'done' } } } })
  // A registry nobody listens on: a check that came after the dial would fail with ERR_DIAL_FAILED instead.
  const registry = `tcp://127.0.0.1:1#${'ab'.repeat(32)}`
  const cases: Array<[object, RegExp]> = [
    [{ handlers: 3 }, /handlers must be an object of functions/],
    [{ handlers: [] }, /handlers must be an object of functions by command name, got an array/],
    [{ handlers: { work: 'done' } }, /handlers\.work must be a function, got string/],
    [{ timeout: -1 }, /timeout must be a number of ms > 0/],
    [{ timeout: '5s' }, /timeout must be a number of ms > 0/]
  ]
  for (const [bad, message] of cases) {
    await assert.rejects(createMeshNode({ schema, role: 'Api', registry, ...(bad as object) }), (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'ERR_INVALID_ARGUMENT', err.message)
      assert.match(err.message, message)
      return true
    })
  }
})

test('defineSchema refuses a malformed schema at once, naming the field', () => {
  assert.throws(() => defineSchema({ A: { _connect: 'B' } } as never), (err: { code?: string; message: string }) => err.code === 'ERR_INVALID_ARGUMENT' && /schema\.A\._connect must be an array of roles/.test(err.message))
  assert.throws(() => defineSchema({ A: { _connect: ['Nobody'] } }), /unknown role "Nobody"/)
})
