import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodeRpc, decodeRpcBySchema, MAX_COMMAND_LENGTH, MAX_ERROR_CODE, MAX_ERROR_MESSAGE } from '../../src/mesh/messages.js'
import { jsonOnce } from '../../src/mesh/rpc-wire.js'
import c from '../../src/node/vendor/compact-encoding.js'

// A hostile peer against the RPC decoder's hand-written fast path: the peer writes JSON text, not
// values, so the cases are texts (duplicate keys, `__proto__` and `constructor` keys, numbers JSON
// reads as Infinity, -0 or past 2^53, deep nesting, long strings, lone surrogates, extra and missing
// fields), decoded as the channel decodes them (jsonOnce), then by `decodeRpc` and by the schema
// alone. The two must agree on every case: accept the same, give the same message, refuse with the
// same reason; and neither may throw. 24,000 cases (PEERWARDEN_FUZZ_RUNS scales them).

const RUNS = Number(process.env.PEERWARDEN_FUZZ_RUNS ?? 8) * 1_000
const SEED = process.env.PEERWARDEN_FUZZ_SEED === undefined ? undefined : Number(process.env.PEERWARDEN_FUZZ_SEED)
const { utf8 } = c as unknown as { utf8: unknown }

/** The text as the channel receives it: length-prefixed UTF-8, decoded by the RPC channel's codec. */
function received (text: string): unknown {
  const codec = c as unknown as { encode: (enc: unknown, v: string) => Uint8Array; decode: (enc: unknown, b: Uint8Array) => unknown }
  return codec.decode(jsonOnce, codec.encode(utf8, text))
}

/** Both decoders on one text: they agree, and neither throws. */
function agree (text: string): boolean {
  const raw = received(text)
  const fast = decodeRpc(raw)
  const slow = decodeRpcBySchema(raw)
  assert.equal(fast.ok, slow.ok, `accepted by one decoder only: ${text.slice(0, 300)}`)
  if (fast.ok && slow.ok) {
    assert.deepEqual(fast.value, slow.value, text.slice(0, 300))
    assert.deepEqual(Object.keys(fast.value), Object.keys(slow.value), text.slice(0, 300))
    if (fast.value.t === 'result' && !fast.value.ok && slow.value.t === 'result' && !slow.value.ok) {
      assert.deepEqual(Object.keys(fast.value.error), Object.keys(slow.value.error), text.slice(0, 300))
    }
    // Nothing but own data: no key a peer named `__proto__` became a prototype.
    assert.equal(Object.getPrototypeOf(fast.value), Object.prototype)
  } else {
    assert.equal(fast.ok ? '' : fast.why, slow.ok ? '' : slow.why, `the refusal names the field as the schema does: ${text.slice(0, 300)}`)
  }
  return fast.ok
}

const hex = (n: number, ch = 'a'): string => ch.repeat(n)
const TRACE = `00-${hex(32)}-${hex(16, 'b')}-01`

/** Number texts: as JSON writes them, and as a peer may (JSON.parse reads 1e400 as Infinity). */
const numberText = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom('0', '-0', '1', '1.0', '1e0', '1E2', '0.5', '-1', '32', '33', '9007199254740991', '9007199254740992',
    '9007199254740993', '1e21', '1e308', '1e400', '-1e400', '1e-400', '0e0', '123456789012345678901234567890'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x))
)
/** String texts: short, at and past each limit, escapes and lone surrogates. */
const stringText = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.constantFrom(
    JSON.stringify('x'.repeat(MAX_COMMAND_LENGTH)), JSON.stringify('x'.repeat(MAX_COMMAND_LENGTH + 1)),
    JSON.stringify('m'.repeat(MAX_ERROR_MESSAGE)), JSON.stringify('m'.repeat(MAX_ERROR_MESSAGE + 1)),
    JSON.stringify('c'.repeat(MAX_ERROR_CODE)), JSON.stringify('c'.repeat(MAX_ERROR_CODE + 1)),
    JSON.stringify('é'.repeat(MAX_COMMAND_LENGTH)), '"\\ud800"', '"\\u0000"', '"call"', '"result"', '"ack"', '"cancel"',
    '"admit"', '"drain"', '"drain-ack"', '"__proto__"', '"constructor"', JSON.stringify(TRACE), JSON.stringify(`${TRACE}\n`),
    JSON.stringify(TRACE.toUpperCase()), JSON.stringify(`00-${hex(32, '0')}-${hex(16, 'b')}-01`), JSON.stringify('x'.repeat(20_000))
  )
)
/** Nesting a parser or a recursive check could choke on. */
const deepText = fc.constantFrom(1, 10, 100, 20_000).chain((depth) =>
  fc.constantFrom('[', '{"a":').map((open) => open.repeat(depth) + '0' + (open === '[' ? ']' : '}').repeat(depth)))
const valueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: numberText },
  { weight: 3, arbitrary: stringText },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', 'false', '[]', '{}', '{"message":"m"}', '{"message":"m","code":"E"}',
    '{"message":"m","code":null}', '{"code":"E"}', '{"__proto__":{"message":"m"}}', '{"message":"m","__proto__":{"code":"E"}}',
    '["m"]', '{"constructor":{"prototype":{"x":1}}}') },
  { weight: 1, arbitrary: deepText },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((x) => JSON.stringify(x)) }
)

type Field = [string, string]
/** An honest message of every call, as fields in order. */
const honest: fc.Arbitrary<Field[]> = fc.oneof(
  fc.tuple(fc.nat(), fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), fc.oneof(fc.constant(null), fc.nat()), fc.option(fc.integer({ min: 1, max: 32 }), { nil: undefined }), fc.boolean())
    .map(([id, cmd, args, deadline, attempt, traced]): Field[] => [['t', '"call"'], ['id', String(id)], ['cmd', JSON.stringify(cmd)],
      ['args', JSON.stringify(args)], ['deadline', JSON.stringify(deadline)], ...(attempt === undefined ? [] : [['attempt', String(attempt)] as Field]),
      ...(traced ? [['trace', JSON.stringify(TRACE)] as Field] : [])]),
  fc.tuple(fc.constantFrom('ack', 'cancel'), fc.nat()).map(([t, id]): Field[] => [['t', `"${t}"`], ['id', String(id)]]),
  fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([id, value]): Field[] => [['t', '"result"'], ['id', String(id)], ['ok', 'true'], ['value', JSON.stringify(value)]]),
  fc.tuple(fc.nat(), fc.string({ maxLength: 20 }), fc.option(fc.string({ maxLength: 8 }), { nil: undefined })).map(([id, message, code]): Field[] =>
    [['t', '"result"'], ['id', String(id)], ['ok', 'false'], ['error', JSON.stringify(code === undefined ? { message } : { message, code })]])
)
const keyName = fc.constantFrom('t', 'id', 'cmd', 'args', 'deadline', 'attempt', 'trace', 'ok', 'value', 'error', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'length', 'extra')

/** One hostile change to a message's fields. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: valueText }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), value: valueText, before: fc.boolean() }),
  fc.record({ op: fc.constant('add' as const), key: keyName, value: valueText }),
  fc.record({ op: fc.constant('hide' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), to: fc.nat() })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

function mutate (fields: Field[], m: Mutation): Field[] {
  const out = fields.slice()
  if (out.length === 0 && m.op !== 'add') return out
  const at = 'at' in m ? m.at % Math.max(out.length, 1) : 0
  switch (m.op) {
    case 'drop': out.splice(at, 1); break
    case 'set': out[at] = [out[at][0], m.value]; break
    case 'duplicate': out.splice(m.before ? at : at + 1, 0, [out[at][0], m.value]); break
    case 'add': out.push([m.key, m.value]); break
    // The field moved under a `__proto__` key: JSON.parse makes that an own property, never a prototype.
    case 'hide': out[at] = ['__proto__', `{${JSON.stringify(out[at][0])}:${out[at][1]}}`]; break
    case 'swap': { const to = m.to % out.length; [out[at], out[to]] = [out[to], out[at]]; break }
  }
  return out
}
const text = (fields: Field[]): string => `{${fields.map(([k, value]) => `${JSON.stringify(k)}:${value}`).join(',')}}`

test('decodeRpc and the schema agree on hostile JSON texts: structured mutations of every call message (duplicate and prototype keys, huge numbers, deep nesting, long strings)', () => {
  let accepted = 0
  fc.assert(fc.property(honest, fc.array(mutation, { maxLength: 4 }), (fields, mutations) => {
    if (agree(text(mutations.reduce(mutate, fields)))) accepted++
  }), { numRuns: RUNS * 2, seed: SEED })
  // The mutations keep many messages valid, so the accepting side is exercised too.
  assert.ok(accepted > RUNS / 4, `only ${accepted} of ${RUNS * 2} cases were accepted`)
})

test('decodeRpc and the schema agree on random JSON texts and bytes', () => {
  const shaped = fc.dictionary(keyName, valueText, { maxKeys: 8 }).map((o) => text(Object.entries(o)))
  const anyText = fc.oneof(shaped, valueText, fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')))
  fc.assert(fc.property(anyText, (t) => { agree(t) }), { numRuns: RUNS, seed: SEED })
})

test('decodeRpc: the hostile shapes a reviewer would try first', () => {
  const call = (extra: string): string => `{"t":"call","id":1,"cmd":"echo","args":null,"deadline":5${extra}}`
  // Duplicate keys: JSON.parse keeps the last, both decoders see that one.
  assert.equal(agree(`{"t":"call","id":1,"cmd":"echo","args":null,"deadline":5,"id":-1}`), false)
  assert.equal(agree(`{"t":"call","id":-1,"cmd":"echo","args":null,"deadline":5,"id":1}`), true)
  // A required field under `__proto__` is still missing.
  assert.equal(agree('{"t":"call","id":1,"cmd":"echo","__proto__":{"args":1},"deadline":5}'), false)
  assert.equal(agree('{"t":"result","id":1,"ok":false,"error":{"__proto__":{"message":"m"}}}'), false)
  // Numbers JSON reads as Infinity, or past 2^53.
  assert.equal(agree(call('').replace('"deadline":5', '"deadline":1e400')), false)
  assert.equal(agree(call('').replace('"id":1', '"id":9007199254740993')), false)
  assert.equal(agree(call(',"attempt":1e400')), false)
  assert.equal(agree(call(',"attempt":1.0')), true)
  // Deep nesting in what the handler owns is taken as it is (JSON.parse reads it without recursion).
  assert.equal(agree(call('').replace('"args":null', `"args":${'['.repeat(100_000)}${']'.repeat(100_000)}`)), true)
  // Bytes that are not one JSON text: a refusal, not a throw.
  assert.equal(agree(`{"t":"ack","id":1,"x":${'['.repeat(100_000)}}`), false)
})
