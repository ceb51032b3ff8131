import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { context as otelContext, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type ContextManager, type Span, type SpanAttributes, type SpanAttributeValue, type SpanContext, type SpanOptions, type SpanStatus, type Tracer } from '@opentelemetry/api'
import { defineSchema, parseTraceparent, type MeshNode } from '../../src/mesh/index.js'
import { instancesOf, meshOn } from '../helpers/mesh.js'

// The OpenTelemetry bridge (`tracer` option) on real sockets (127.0.0.1): a tiny in-memory tracer
// built on the API's interfaces records every span, with its parent as the context gave it.

const T = { timeout: 30_000 }

/** A span as the in-memory tracer keeps it. */
interface Recorded {
  name: string
  kind: SpanKind | undefined
  traceId: string
  spanId: string
  /** The parent's span id, from the context given to startSpan (undefined: a root span). */
  parent: string | undefined
  attributes: SpanAttributes
  status: SpanStatus
  ended: boolean
}

class MemorySpan implements Span {
  constructor (private readonly ctx: SpanContext, readonly record: Recorded) {}
  spanContext (): SpanContext { return this.ctx }
  setAttribute (key: string, value: SpanAttributeValue): this { this.record.attributes[key] = value; return this }
  setAttributes (attributes: SpanAttributes): this { Object.assign(this.record.attributes, attributes); return this }
  addEvent (): this { return this }
  addLink (): this { return this }
  addLinks (): this { return this }
  setStatus (status: SpanStatus): this { this.record.status = status; return this }
  updateName (name: string): this { this.record.name = name; return this }
  end (): void {
    assert.equal(this.record.ended, false, `span ${this.record.name} ended twice`)
    this.record.ended = true
  }

  isRecording (): boolean { return !this.record.ended }
  recordException (): void {}
}

/** A Tracer that keeps its spans in `spans` (ids random, trace id and flags inherited from the parent). */
class MemoryTracer implements Tracer {
  readonly spans: Recorded[] = []
  startSpan (name: string, options: SpanOptions = {}, context: Context = otelContext.active()): Span {
    const parent = trace.getSpanContext(context)
    const ctx: SpanContext = { traceId: parent?.traceId ?? randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: parent?.traceFlags ?? 1 }
    const record: Recorded = { name, kind: options.kind, traceId: ctx.traceId, spanId: ctx.spanId, parent: parent?.spanId, attributes: { ...options.attributes }, status: { code: SpanStatusCode.UNSET }, ended: false }
    this.spans.push(record)
    return new MemorySpan(ctx, record)
  }

  startActiveSpan<F extends (span: Span) => unknown> (name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F
    const options = (rest.length > 1 ? rest[0] : {}) as SpanOptions
    const span = this.startSpan(name, options)
    return otelContext.with(trace.setSpan(otelContext.active(), span), () => fn(span)) as ReturnType<F>
  }

  named (name: string): Recorded[] { return this.spans.filter((s) => s.name === name) }
}

/** An AsyncLocalStorage context manager (what @opentelemetry/context-async-hooks does), for the active-context tests. */
class StorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>()
  active (): Context { return this.storage.getStore() ?? ROOT_CONTEXT }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>> (context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(context, () => fn.call(thisArg, ...args))
  }

  bind<U> (_context: Context, target: U): U { return target }
  enable (): this { return this }
  disable (): this { this.storage.disable(); return this }
}

const schema = defineSchema({
  Front: {
    _connect: ['Back', 'Plain'],
    _allow: ['Back'],
    _commands: { _balanced: { inner: ({ n }: { n: number }) => n + 1 } }
  },
  Back: {
    _connect: ['Front'],
    _allow: ['Front'],
    _commands: {
      _balanced: {
        outer: async ({ n }: { n: number }, ctx) => await ctx.call.Front.inner({ n }) as number,
        boom: () => { throw Object.assign(new Error('no such thing'), { code: 'E_THING' }) }
      }
    }
  },
  Plain: { _allow: ['Front'], _commands: { _balanced: { seen: (_args: unknown, ctx) => ctx.traceparent ?? null } } }
})

test('tracer: a nested call gives client and server spans linked parent to child, all in the trace of the traceparent the caller passed', T, async (t) => {
  const start = await meshOn(t, schema)
  const frontTracer = new MemoryTracer()
  const backTracer = new MemoryTracer()
  const front = await start({ role: 'Front', variant: 'f1', tracer: frontTracer })
  await start({ role: 'Back', variant: 'b1', tracer: backTracer })
  await instancesOf(front, 'Back', 1)

  const mine = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`
  assert.equal(await front.call.Back.outer({ n: 1 }, { traceparent: mine }), 2)

  // Front: the client span of outer, the server span of inner; Back: the server span of outer, the client span of inner.
  assert.equal(frontTracer.spans.length, 2)
  assert.equal(backTracer.spans.length, 2)
  const [outerClient] = frontTracer.named('Back/outer')
  const [outerServer] = backTracer.named('Back/outer')
  const [innerClient] = backTracer.named('Front/inner')
  const [innerServer] = frontTracer.named('Front/inner')
  for (const s of [outerClient, outerServer, innerClient, innerServer]) {
    assert.equal(s.traceId, 'ab'.repeat(16), `${s.name} is in the caller's trace`)
    assert.equal(s.ended, true, `${s.name} ended`)
    assert.equal(s.status.code, SpanStatusCode.UNSET)
    assert.equal(s.attributes['rpc.system'], 'peerwarden')
  }
  assert.equal(outerClient.kind, SpanKind.CLIENT)
  assert.equal(outerClient.parent, 'cd'.repeat(8), 'the client span is a child of the traceparent passed')
  assert.deepEqual([outerClient.attributes['rpc.service'], outerClient.attributes['rpc.method'], outerClient.attributes['peerwarden.mesh.instance'], outerClient.attributes['peerwarden.mesh.attempt']], ['Back', 'outer', 'b1', 1])
  assert.equal(outerServer.kind, SpanKind.SERVER)
  assert.equal(outerServer.parent, outerClient.spanId, 'the server span is a child of the caller\'s span (through the wire\'s traceparent)')
  assert.deepEqual([outerServer.attributes['rpc.service'], outerServer.attributes['rpc.method'], outerServer.attributes['peerwarden.mesh.caller']], ['Back', 'outer', 'Front/f1'])
  assert.equal(innerClient.kind, SpanKind.CLIENT)
  assert.equal(innerClient.parent, outerServer.spanId, 'ctx.call nests under the handler\'s server span')
  assert.equal(innerServer.kind, SpanKind.SERVER)
  assert.equal(innerServer.parent, innerClient.spanId)
})

test('tracer: a peer without the bridge sees the client span as the traceparent\'s parent; a handler\'s throw sets ERROR with the code on both spans', T, async (t) => {
  const start = await meshOn(t, schema)
  const frontTracer = new MemoryTracer()
  const backTracer = new MemoryTracer()
  const front = await start({ role: 'Front', tracer: frontTracer })
  await start({ role: 'Back', tracer: backTracer })
  await start({ role: 'Plain' })
  await instancesOf(front, 'Back', 1)
  await instancesOf(front, 'Plain', 1)

  // No parent at all: the client span starts the trace, and the wire carries its id.
  const seen = parseTraceparent(await front.call.Plain.seen() as string)!
  const [client] = frontTracer.named('Plain/seen')
  assert.equal(client.parent, undefined)
  assert.deepEqual([seen.traceId, seen.spanId, seen.flags], [client.traceId, client.spanId, 1])

  await assert.rejects(front.call.Back.boom(), { code: 'ERR_REMOTE' })
  const [boomClient] = frontTracer.named('Back/boom')
  const [boomServer] = backTracer.named('Back/boom')
  assert.equal(boomClient.status.code, SpanStatusCode.ERROR)
  assert.match(boomClient.status.message ?? '', /no such thing/)
  assert.equal(boomClient.attributes['error.type'], 'ERR_REMOTE')
  assert.equal(boomClient.attributes['peerwarden.mesh.remote_code'], 'E_THING')
  assert.equal(boomServer.status.code, SpanStatusCode.ERROR)
  assert.equal(boomServer.attributes['error.type'], 'E_THING')
  assert.equal(boomServer.parent, boomClient.spanId)
  assert.equal(boomServer.ended, true)
})

test('tracer: a call made inside the application\'s active span nests under it, and a handler\'s own spans nest under its server span', T, async (t) => {
  const manager = new StorageContextManager()
  assert.equal(otelContext.setGlobalContextManager(manager), true)
  t.after(() => { otelContext.disable() })
  const mine = new MemoryTracer()
  const schemaWithSpan = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: {
      _allow: ['Api'],
      _commands: { _balanced: { work: async () => { mine.startSpan('database').end(); return 'done' } } }
    }
  })
  const start = await meshOn(t, schemaWithSpan)
  const tracer = new MemoryTracer()
  const api = await start({ role: 'Api', tracer })
  await start({ role: 'Worker', tracer })
  await instancesOf(api, 'Worker', 1)

  const request = mine.startSpan('http request')
  assert.equal(await otelContext.with(trace.setSpan(ROOT_CONTEXT, request), async () => await api.call.Worker.work()), 'done')
  request.end()
  const [client] = tracer.named('Worker/work')
  const [server] = tracer.spans.filter((s) => s.kind === SpanKind.SERVER)
  const [database] = mine.named('database')
  assert.equal(client.parent, request.spanContext().spanId, 'the client span is a child of the active span')
  assert.equal(client.traceId, request.spanContext().traceId)
  assert.equal(server.parent, client.spanId)
  assert.equal(database.parent, server.spanId, 'the handler runs in its server span\'s context')
})

test('tracer: the option is checked; tracer: true without an SDK registered (a tracer that records nothing) leaves the calls carrying the trace as they do without the bridge', T, async (t) => {
  const start = await meshOn(t, schema)
  await assert.rejects(start({ role: 'Front', tracer: {} as never }), { code: 'ERR_INVALID_ARGUMENT', message: /tracer must be true or an OpenTelemetry Tracer/ })
  await assert.rejects(start({ role: 'Front', tracer: 'yes' as never }), { code: 'ERR_INVALID_ARGUMENT' })
  // true: the global provider's tracer (none registered here: the API's no-op, which records nothing) —
  // the calls then carry what they carry without the bridge.
  const front = await start({ role: 'Front', tracer: true })
  await start({ role: 'Plain', tracer: false })
  await instancesOf(front, 'Plain', 1)
  const mine = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`
  const seen = parseTraceparent(await front.call.Plain.seen(undefined, { traceparent: mine }) as string)!
  assert.equal(seen.traceId, 'ab'.repeat(16))
  assert.notEqual(seen.spanId, 'cd'.repeat(8))
})

test('tracer: one client span per attempt — a call whose instance dies mid-call has a failed span and a retried one, siblings under the same parent; a broadcast has one per instance', T, async (t) => {
  const started: Array<() => void> = []
  const relay = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: {
      _allow: ['Api'],
      _commands: {
        _balanced: { safe: { idempotent: true, method: () => null } },
        _broadcast: { status: { responds: true, method: () => 'up' } }
      }
    }
  })
  const start = await meshOn(t, relay)
  const workers = new Map<string, MeshNode<typeof relay>>()
  const handlers = (name: string): Record<string, (args: unknown, ctx: any) => unknown> => ({
    // The first attempt hangs until its instance is closed under it; the second answers.
    safe: async (_args, ctx) => {
      if (ctx.attempt === 1) {
        started.forEach((f) => { f() })
        return await new Promise((_resolve, reject) => { ctx.signal.addEventListener('abort', () => { reject(ctx.signal.reason) }) })
      }
      return name
    },
    status: () => 'up'
  })
  for (const name of ['w1', 'w2']) workers.set(name, await start({ role: 'Worker', variant: name, handlers: handlers(name) }))
  const tracer = new MemoryTracer()
  const api = await start({ role: 'Api', tracer })
  while (api.instances('Worker').length < 2) await new Promise((resolve) => { api.events.addEventListener('connection', resolve, { once: true }) })

  assert.deepEqual((await api.call.Worker.status()).map((e) => e.ok), [true, true])
  assert.deepEqual(tracer.named('Worker/status').map((s) => [s.kind, s.attributes['peerwarden.mesh.instance'], s.ended]).sort(), [[SpanKind.CLIENT, 'w1', true], [SpanKind.CLIENT, 'w2', true]])

  const first = new Promise<void>((resolve) => { started.push(resolve) })
  const mine = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`
  const call = api.call.Worker.safe(undefined, { traceparent: mine })
  await first
  const [attempt1] = tracer.named('Worker/safe')
  const victim = attempt1.attributes['peerwarden.mesh.instance'] as string
  await workers.get(victim)!.close()
  const survivor = await call as unknown as string
  assert.notEqual(survivor, victim)

  const spans = tracer.named('Worker/safe')
  assert.equal(spans.length, 2, 'one client span per attempt')
  assert.deepEqual(spans.map((s) => [s.attributes['peerwarden.mesh.attempt'], s.attributes['peerwarden.mesh.instance'], s.status.code, s.attributes['error.type']]), [
    [1, victim, SpanStatusCode.ERROR, 'ERR_CONNECTION_CLOSED'],
    [2, survivor, SpanStatusCode.UNSET, undefined]
  ])
  assert.deepEqual(spans.map((s) => [s.parent, s.traceId, s.ended]), [['cd'.repeat(8), 'ab'.repeat(16), true], ['cd'.repeat(8), 'ab'.repeat(16), true]])
})
