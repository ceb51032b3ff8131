import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodeRpc, decodeRpcBySchema, MAX_COMMAND_LENGTH, MAX_ERROR_CODE, MAX_ERROR_MESSAGE } from '../../src/mesh/messages.js'
import { childTraceparent, isTraceparent, parseTraceparent, TRACEPARENT } from '../../src/mesh/trace.js'

// The call path's fast paths against the slow definitions they replace: the RPC decoder's
// hand-written path against the valibot schema, the traceparent check against its regex, and the
// counter-based ids.

const hexOf = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n })
const traceparent = fc.oneof(
  fc.tuple(hexOf(32), hexOf(16), hexOf(2)).map(([a, b, f]) => `00-${a}-${b}-${f}`),
  fc.constantFrom(`00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`, `00-${'1'.repeat(32)}-${'0'.repeat(16)}-01`, `01-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
    `00-${'A'.repeat(32)}-${'B'.repeat(16)}-01`, `00-${'a'.repeat(32)}-${'b'.repeat(16)}-0g`, `00-${'a'.repeat(32)}_${'b'.repeat(16)}-01`, `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01\n`),
  fc.string({ maxLength: 60 })
)
/** A field: absent, its usual shape, a boundary, or anything JSON. */
const field = <T>(usual: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: fc.constantFrom(null, -1, -0, 0.5, 2 ** 53, Number.MAX_SAFE_INTEGER, Infinity, NaN, '', '1', true, [], {}) })
const id = field(fc.nat())
const message = fc.oneof(
  fc.record({
    t: field(fc.constant('call')),
    id,
    cmd: field(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('x'.repeat(MAX_COMMAND_LENGTH), 'x'.repeat(MAX_COMMAND_LENGTH + 1)))),
    args: fc.jsonValue(),
    deadline: field(fc.oneof(fc.constant(null), fc.nat(), fc.double({ min: 0, noNaN: true }))),
    attempt: field(fc.integer({ min: -1, max: 40 })),
    trace: field(traceparent),
    extra: fc.jsonValue()
  }, { requiredKeys: [] }),
  fc.record({ t: field(fc.constantFrom('ack', 'cancel', 'admit', 'drain', 'drain-ack', 'nope')), id, extra: fc.jsonValue() }, { requiredKeys: [] }),
  fc.record({
    t: field(fc.constant('result')),
    id,
    ok: field(fc.boolean()),
    value: fc.jsonValue(),
    error: field(fc.record({
      message: field(fc.oneof(fc.string(), fc.constantFrom('m'.repeat(MAX_ERROR_MESSAGE), 'm'.repeat(MAX_ERROR_MESSAGE + 1)))),
      code: field(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('c'.repeat(MAX_ERROR_CODE), 'c'.repeat(MAX_ERROR_CODE + 1)))),
      extra: fc.jsonValue()
    }, { requiredKeys: [] }))
  }, { requiredKeys: [] }),
  fc.jsonValue()
)

test('decodeRpc accepts exactly what the schema accepts, and gives the same message (known fields only, in the same order)', () => {
  fc.assert(fc.property(message, (raw) => {
    const fast = decodeRpc(raw)
    const slow = decodeRpcBySchema(raw)
    assert.equal(fast.ok, slow.ok, JSON.stringify(raw))
    if (fast.ok && slow.ok) {
      assert.deepEqual(fast.value, slow.value)
      assert.deepEqual(Object.keys(fast.value), Object.keys(slow.value))
    } else {
      assert.equal(fast.ok ? '' : fast.why, slow.ok ? '' : slow.why, 'a refusal names the field as the schema does')
    }
  }), { numRuns: 5_000 })
})

test('decodeRpc: the messages of every call decode by the fast path, and a bad field is refused naming it', () => {
  const trace = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`
  assert.deepEqual(decodeRpc({ t: 'call', id: 1, cmd: 'echo', args: { a: 1 }, deadline: 5, trace, junk: 1 }), { ok: true, value: { t: 'call', id: 1, cmd: 'echo', args: { a: 1 }, deadline: 5, trace } })
  assert.deepEqual(decodeRpc({ t: 'result', id: 2, ok: true, value: null }), { ok: true, value: { t: 'result', id: 2, ok: true, value: null } })
  assert.deepEqual(decodeRpc({ t: 'result', id: 2, ok: false, error: { message: 'no', code: 'E' } }), { ok: true, value: { t: 'result', id: 2, ok: false, error: { message: 'no', code: 'E' } } })
  const bad = decodeRpc({ t: 'call', id: 1, cmd: 'echo', args: null, deadline: 5, attempt: 0 })
  assert.equal(bad.ok, false)
  assert.match(bad.ok ? '' : bad.why, /^attempt: /)
  assert.equal(decodeRpc({ t: 'call', id: 1, cmd: 'echo', deadline: 5 }).ok, false, 'args is required (null for none)')
  assert.equal(decodeRpc({ t: 'ack', id: -1 }).ok, false)
  assert.equal(decodeRpc({ t: 'result', id: 1, ok: true }).ok, false, 'a result without value')
})

test('isTraceparent agrees with TRACEPARENT on well-formed, near-miss and arbitrary strings', () => {
  fc.assert(fc.property(fc.oneof(traceparent, traceparent.map((t) => t.slice(0, 54)), fc.tuple(traceparent, fc.nat({ max: 54 }), fc.constantFrom('0', 'f', 'g', 'F', '-', ' ')).map(([t, i, ch]) => t.slice(0, i) + ch + t.slice(i + 1))), (text) => {
    assert.equal(isTraceparent(text), TRACEPARENT.test(text), text)
  }), { numRuns: 5_000 })
})

test('childTraceparent: 100,000 new traces and children, every id valid, none repeated', () => {
  const spans = new Set<string>()
  const traces = new Set<string>()
  let parent = childTraceparent(undefined)
  for (let i = 0; i < 50_000; i++) {
    const root = childTraceparent(undefined)
    const child = childTraceparent(parent)
    for (const t of [root, child]) assert.ok(TRACEPARENT.test(t), t)
    const r = parseTraceparent(root)!
    const c = parseTraceparent(child)!
    assert.equal(c.traceId, parseTraceparent(parent)!.traceId, 'a child keeps the trace id')
    traces.add(r.traceId)
    spans.add(r.spanId).add(c.spanId)
    if (i % 1000 === 0) parent = root
  }
  assert.equal(traces.size, 50_000)
  assert.equal(spans.size, 100_000)
})
