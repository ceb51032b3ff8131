import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import * as v from 'valibot'
import {
  defineSchema, parseTraceparent, PeerwardenError, registerMeshMetrics, type MeshNode
} from '../../src/mesh/index.js'
import { instancesOf, meshOn } from '../helpers/mesh.js'

// The call path a service team runs, on real sockets (127.0.0.1): failover when an instance dies
// mid-call, the bulkhead, drain under load, validation on both sides, trace context across a
// nested call, the metrics as Prometheus text. Every node and registry closes in t.after.

const T = { timeout: 30_000 }

interface Deferred<V> { promise: Promise<V>; resolve: (v: V) => void }
function deferred<V = void> (): Deferred<V> {
  let resolve!: (v: V) => void
  const promise = new Promise<V>((r) => { resolve = r })
  return { promise, resolve }
}

/** The codes of an error and of its causes. */
function codesOf (err: unknown): string[] {
  const out: string[] = []
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e != null && depth < 10; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') out.push(e.code)
  }
  return out
}

/** A handler that never settles until its call is released (ctx.signal aborts). */
async function hang (signal: AbortSignal): Promise<never> {
  return await new Promise<never>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) })
}

test('an instance killed mid-call: the idempotent call succeeds on another instance (attempt 2), the non-idempotent one fails with the cause', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { safe: { idempotent: true, method: () => null }, unsafe: () => null } } }
  })
  const start = await meshOn(t, schema)
  let started = deferred<string>()
  const runs: Record<string, number> = {}
  const handlers = (name: string): Record<string, (args: unknown, ctx: any) => Promise<unknown>> => {
    const handler = async (_args: unknown, ctx: any): Promise<unknown> => {
      runs[name] = (runs[name] ?? 0) + 1
      if (ctx.attempt === 1) { started.resolve(name); return await hang(ctx.signal) }
      return { by: name, attempt: ctx.attempt }
    }
    return { safe: handler, unsafe: handler }
  }
  const workers = new Map<string, MeshNode<typeof schema>>()
  for (const name of ['w1', 'w2', 'w3']) workers.set(name, await start({ role: 'Worker', variant: name, handlers: handlers(name) }))
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 3)

  const safe = api.call.Worker.safe()
  const victim = await started.promise
  await workers.get(victim)!.close()
  const answer = await safe as unknown as { by: string; attempt: number }
  assert.notEqual(answer.by, victim)
  assert.equal(answer.attempt, 2)

  started = deferred<string>()
  const before = { ...runs }
  const unsafe = api.call.Worker.unsafe()
  unsafe.catch(() => {})
  const victim2 = await started.promise
  await workers.get(victim2)!.close()
  await assert.rejects(unsafe, (err) => { assert.deepEqual(codesOf(err), ['ERR_CONNECTION_CLOSED']); return true })
  const ranAgain = Object.keys(runs).filter((k) => k !== victim2 && runs[k] !== before[k])
  assert.deepEqual(ranAgain, [], 'not sent to the instance left')
})

test('bulkhead: the 11th call of a concurrency-10 handler (no queue) is refused ERR_BUSY at once; the ten finish; the next call runs', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { slow: { concurrency: 10, method: () => 'ok' } } } }
  })
  const start = await meshOn(t, schema)
  const gate = deferred()
  const ten = deferred()
  let running = 0
  let peak = 0
  const worker = await start({
    role: 'Worker',
    handlers: {
      slow: async () => {
        running++
        peak = Math.max(peak, running)
        if (running === 10) ten.resolve()
        await gate.promise
        running--
        return 'ok'
      }
    }
  })
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 1)
  const calls = Array.from({ length: 10 }, async () => await api.call.Worker.slow())
  await ten.promise
  await assert.rejects(api.call.Worker.slow(), (err) => {
    assert.ok(codesOf(err).includes('ERR_BUSY'), `expected ERR_BUSY, got ${codesOf(err).join(' < ')}`)
    return true
  })
  assert.equal(worker.stats().running, 10)
  gate.resolve()
  assert.deepEqual(await Promise.all(calls), Array(10).fill('ok'))
  assert.equal(peak, 10)
  assert.equal(await api.call.Worker.slow(), 'ok')
  assert.equal(api.stats().commands.find((c) => c.command === 'slow')?.outcomes.ERR_BUSY, 1)
})

test('bulkhead with a queue: calls past concurrency wait in order (stats().queued) and run as slots free; past the queue, ERR_BUSY', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { one: { concurrency: 1, maxQueueSize: 1, method: ({ i }: { i: number }) => i } } } }
  })
  const start = await meshOn(t, schema)
  const gate = deferred()
  const order: number[] = []
  const first = deferred()
  const worker = await start({
    role: 'Worker',
    handlers: { one: async ({ i }: { i: number }) => { order.push(i); if (i === 1) { first.resolve(); await gate.promise } return i } }
  })
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 1)
  const one = api.call.Worker.one({ i: 1 })
  await first.promise
  const two = api.call.Worker.one({ i: 2 })
  await assert.rejects(api.call.Worker.one({ i: 3 }), (err) => codesOf(err).includes('ERR_BUSY'))
  assert.deepEqual({ running: worker.stats().running, queued: worker.stats().queued }, { running: 1, queued: 1 }, 'the second waits')
  gate.resolve()
  assert.deepEqual(await Promise.all([one, two]), [1, 2])
  assert.deepEqual(order, [1, 2], 'the third never ran')
})

test('drain during load loses no call: new calls go to the other instance, running ones finish, then the drained node closes', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { work: ({ i }: { i: number }) => i } } }
  })
  const start = await meshOn(t, schema)
  const served: Record<string, number> = { a: 0, b: 0 }
  const handlers = (name: string): Record<string, (args: { i: number }) => Promise<number>> => ({
    work: async ({ i }) => {
      await new Promise((resolve) => { setImmediate(resolve) })
      served[name]++
      return i
    }
  })
  const a = await start({ role: 'Worker', variant: 'a', handlers: handlers('a') })
  await start({ role: 'Worker', variant: 'b', handlers: handlers('b') })
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 2)
  const closed = deferred()
  a.node.events.addEventListener('close', () => { closed.resolve() })

  let drained: Promise<void> | undefined
  const results: number[] = []
  for (let wave = 0; wave < 20; wave++) {
    const batch = Array.from({ length: 25 }, async (_x, k) => await api.call.Worker.work({ i: wave * 25 + k }))
    // Mid-load: a's drain starts while a wave is in flight.
    if (wave === 5) drained = a.drain()
    results.push(...await Promise.all(batch))
  }
  await drained
  assert.deepEqual(results, Array.from({ length: 500 }, (_x, i) => i), 'every call answered, none lost')
  assert.ok(served.a > 0, 'a served calls before draining')
  assert.equal(served.a + served.b, 500, 'each call ran once')
  assert.equal(a.stats().draining, true)
  assert.equal(api.instances('Worker').length, 1, 'a closed')
})

test('validation on both sides: the caller refuses bad arguments naming the field; a caller that skips the check is refused by the responder', T, async (t) => {
  const params = v.object({ size: v.object({ w: v.pipe(v.number(), v.minValue(1)) }) })
  let runs = 0
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { resize: { params, method: ({ size }: { size: { w: number } }) => { runs++; return size.w * 2 } } } } }
  })
  // The same schema without params: a caller that does not check (a hostile or older one).
  const unchecked = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { resize: (_args: unknown) => 0 } } }
  })
  const start = await meshOn(t, schema)
  await start({ role: 'Worker' })
  const api = await start({ role: 'Api' })
  const hostile = await start({ role: 'Api', schema: unchecked }) as unknown as MeshNode<typeof unchecked>
  await instancesOf(api, 'Worker', 1)
  await instancesOf(hostile, 'Worker', 1)

  assert.equal(await api.call.Worker.resize({ size: { w: 2 } }), 4)
  // @ts-expect-error the argument type comes from params: w is a number
  await assert.rejects(api.call.Worker.resize({ size: { w: 'x' } }), (err) => {
    assert.ok(err instanceof PeerwardenError)
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
    assert.match(err.message, /args\.size\.w/)
    return true
  })
  assert.equal(api.stats().calls, 0)
  await assert.rejects(hostile.call.Worker.resize({ size: { w: 0 } }), (err) => {
    assert.deepEqual(codesOf(err), ['ERR_REMOTE', 'ERR_INVALID_ARGUMENT'])
    assert.match((err as Error).message, /args\.size\.w/)
    return true
  })
  assert.equal(runs, 1, 'the handler ran only for the valid call')
})

test('trace context: a nested call through ctx.call keeps the trace id under new span ids, and the caller may pass its own traceparent', T, async (t) => {
  const seen: Array<{ at: string; traceparent: string | undefined; attempt: number }> = []
  const schema = defineSchema({
    Api: { _connect: ['Front'] },
    Front: {
      _allow: ['Api'],
      _connect: ['Back'],
      _commands: { _balanced: { handle: async (_args: unknown, ctx) => { seen.push({ at: 'front', traceparent: ctx.traceparent, attempt: ctx.attempt }); return await ctx.call.Back.work() } } }
    },
    Back: { _allow: ['Front'], _commands: { _balanced: { work: (_args: unknown, ctx) => { seen.push({ at: 'back', traceparent: ctx.traceparent, attempt: ctx.attempt }); return 'done' } } } }
  })
  const start = await meshOn(t, schema)
  await start({ role: 'Back' })
  const front = await start({ role: 'Front' })
  const api = await start({ role: 'Api' })
  await instancesOf(front, 'Back', 1)
  await instancesOf(api, 'Front', 1)

  const mine = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`
  assert.equal(await api.call.Front.handle(undefined, { traceparent: mine }), 'done')
  const [f, b] = seen.map((s) => parseTraceparent(s.traceparent!)!)
  assert.equal(f.traceId, 'ab'.repeat(16))
  assert.equal(b.traceId, 'ab'.repeat(16))
  assert.notEqual(f.spanId, 'cd'.repeat(8))
  assert.notEqual(b.spanId, f.spanId)
  assert.deepEqual(seen.map((s) => s.attempt), [1, 1])

  seen.length = 0
  await api.call.Front.handle()
  const [f2, b2] = seen.map((s) => parseTraceparent(s.traceparent!)!)
  assert.notEqual(f2.traceId, 'ab'.repeat(16), 'a new trace')
  assert.equal(b2.traceId, f2.traceId)
})

test('metrics: per command and instance in stats(), and as Prometheus text a parser reads', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { ok: () => 1, boom: () => { throw new Error('boom') } } } }
  })
  const start = await meshOn(t, schema)
  await start({ role: 'Worker', variant: 'w1' })
  const api = await start({ role: 'Api', breaker: true })
  await instancesOf(api, 'Worker', 1)
  for (let k = 0; k < 3; k++) await api.call.Worker.ok()
  await assert.rejects(api.call.Worker.boom())

  const stats = api.stats()
  const ok = stats.commands.find((c) => c.command === 'ok')!
  assert.deepEqual({ role: ok.role, instance: ok.instance, calls: ok.calls, outcomes: ok.outcomes, inFlight: ok.inFlight }, { role: 'Worker', instance: 'w1', calls: 3, outcomes: { OK: 3 }, inFlight: 0 })
  assert.equal(ok.latency.counts.reduce((x, y) => x + y, 0), 3)
  assert.deepEqual(stats.breakers.map((b) => [b.instance, b.state, b.calls, b.failures]), [['w1', 'closed', 4, 1]])

  const registry = registerMeshMetrics(api)
  const text = await registry.metrics()
  const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Array<{ name: string; type: string; metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }> }>
  const families = new Map(parse(text).map((f) => [f.name, f]))
  const calls = families.get('peerwarden_mesh_calls_total')
  assert.equal(calls?.type, 'COUNTER')
  const value = (labels: Record<string, string>): number => Number(calls!.metrics.find((m) => Object.entries(labels).every(([k, x]) => m.labels?.[k] === x))?.value)
  assert.equal(value({ role: 'Worker', command: 'ok', instance: 'w1', code: 'OK' }), 3)
  assert.equal(value({ command: 'boom', code: 'ERR_REMOTE' }), 1)
  const duration = families.get('peerwarden_mesh_call_duration_seconds')
  assert.equal(duration?.type, 'HISTOGRAM')
  // The parser flattens a histogram's series into one (it reads unlabelled histograms only): the
  // labelled lines are checked as text.
  assert.match(text, /peerwarden_mesh_call_duration_seconds_bucket\{role="Worker",command="ok",instance="w1",le="\+Inf"\} 3/)
  assert.match(text, /peerwarden_mesh_call_duration_seconds_count\{role="Worker",command="ok",instance="w1"\} 3/)
  assert.equal(families.get('peerwarden_mesh_breaker_state')?.type, 'GAUGE')
  assert.match(text, /peerwarden_mesh_breaker_state\{role="Worker",instance="w1",state="closed"\} 1/)
  assert.match(text, /peerwarden_mesh_calls_in_flight\{role="Worker",command="ok",instance="w1"\} 0/)

  // The application's own prom-client registry works too, and keeps its type.
  const client = createRequire(import.meta.url)('prom-client') as typeof import('prom-client')
  const own = registerMeshMetrics(api, new client.Registry())
  own.setDefaultLabels({ service: 'api' })
  assert.match(await own.metrics(), /peerwarden_mesh_calls_total\{role="Worker",command="ok",instance="w1",code="OK",service="api"\} 3/)
})
