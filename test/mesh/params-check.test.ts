import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import * as v from 'valibot'
import { compiledParams, FAILED } from '../../src/mesh/params-check.js'
import { argsRefused, checkArgs, defineSchema, Schema } from '../../src/mesh/schema.js'

// The compiled `params` checks against valibot itself, on random schemas of the parts they compile
// and random values near those schemas: the same verdict and the same output (values and key order).

type Gen = { schema: v.GenericSchema; value: fc.Arbitrary<unknown> }

const anything = fc.oneof(fc.jsonValue(), fc.constantFrom(undefined, NaN, -0, Infinity, -Infinity, 2 ** 53, 0.5, '', [], {}, [undefined], { __proto__: null }))

/** A leaf schema and values that mostly fit it. */
const leaf: fc.Arbitrary<Gen> = fc.oneof(
  fc.constant({ schema: v.string(), value: fc.string({ maxLength: 6 }) }),
  fc.constant({ schema: v.number(), value: fc.double() }),
  fc.constant({ schema: v.boolean(), value: fc.boolean() }),
  fc.constant({ schema: v.null(), value: fc.constant(null) }),
  fc.constant({ schema: v.unknown(), value: fc.jsonValue() }),
  fc.constant({ schema: v.literal('a'), value: fc.constantFrom('a', 'b') }),
  fc.constant({ schema: v.picklist(['x', 'y', 2]), value: fc.constantFrom('x', 'y', 'z', 2, '2') }),
  fc.tuple(fc.nat(4), fc.nat(4)).map(([a, b]) => ({ schema: v.pipe(v.string(), v.minLength(a), v.maxLength(a + b)), value: fc.string({ maxLength: 10 }) })),
  fc.nat(3).map((n) => ({ schema: v.pipe(v.string(), v.length(n), v.title('t')), value: fc.string({ maxLength: 4 }) })),
  fc.constant({ schema: v.pipe(v.string(), v.nonEmpty(), v.regex(/^[a-c]+$/)), value: fc.string({ unit: fc.constantFrom('a', 'b', 'd'), maxLength: 3 }) }),
  fc.tuple(fc.integer({ min: -5, max: 5 }), fc.nat(10)).map(([lo, span]) => ({ schema: v.pipe(v.number(), v.integer(), v.minValue(lo), v.maxValue(lo + span)), value: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.double()) })),
  fc.constant({ schema: v.pipe(v.number(), v.finite()), value: fc.double() }),
  fc.constant({ schema: v.pipe(v.number(), v.safeInteger()), value: fc.oneof(fc.integer(), fc.constantFrom(2 ** 53, 2 ** 53 - 1, 1.5)) })
)

const wrappers: Record<'optional' | 'nullable' | 'nullish', (s: v.GenericSchema) => v.GenericSchema> = { optional: (s) => v.optional(s), nullable: (s) => v.nullable(s), nullish: (s) => v.nullish(s) }

/** Schemas up to `depth` levels of objects, arrays and wrappers over the leaves, with values near them. */
const gen: (depth: number) => fc.Arbitrary<Gen> = (depth) => depth === 0
  ? leaf
  : fc.oneof(
      { weight: 2, arbitrary: leaf },
      { weight: 1, arbitrary: gen(depth - 1).map((g) => ({ schema: v.array(g.schema), value: fc.array(fc.oneof({ weight: 9, arbitrary: g.value }, { weight: 1, arbitrary: anything }), { maxLength: 4 }) })) },
      { weight: 1, arbitrary: fc.tuple(gen(depth - 1), fc.constantFrom(wrappers.optional, wrappers.nullable, wrappers.nullish)).map(([g, wrap]) => ({ schema: wrap(g.schema), value: fc.oneof(g.value, fc.constantFrom(undefined, null)) })) },
      {
        weight: 3,
        arbitrary: fc.uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c', 'toString', 'constructor', 'length'), gen(depth - 1)), { selector: ([k]) => k, maxLength: 4 }).map((fields) => ({
          schema: v.object(Object.fromEntries(fields.map(([k, g]) => [k, g.schema]))),
          value: fc.oneof(
            { weight: 8, arbitrary: fc.record(Object.fromEntries([...fields.map(([k, g]): [string, fc.Arbitrary<unknown>] => [k, g.value]), ['extra', anything]]), { requiredKeys: [] }) },
            { weight: 1, arbitrary: anything })
        }))
      }
    )

const sample = gen(3).chain((g) => fc.tuple(fc.constant(g.schema), g.value))

test('a compiled params check gives valibot\'s verdict and output (values and key order) on random schemas and values', () => {
  fc.assert(fc.property(sample, ([schema, value]) => {
    const check = compiledParams(schema)
    assert.notEqual(check, undefined, 'every generated schema compiles')
    const slow = v.safeParse(schema, value)
    const fast = check!(value, true)
    assert.equal(fast !== FAILED, slow.success, `verdict for ${JSON.stringify(value)}`)
    if (slow.success) {
      assert.deepEqual(fast, slow.output)
      assert.equal(JSON.stringify(fast), JSON.stringify(slow.output))
      // Without `build` it checks only: the same verdict, the input itself.
      assert.equal(check!(value, false), value)
    }
  }), { numRuns: 3000 })
})

test('schemas with a part that is not compiled are left to valibot', () => {
  for (const schema of [
    v.pipe(v.string(), v.transform((s) => s.length)),
    v.pipe(v.number(), v.check((n) => n > 1)),
    v.optional(v.number(), 5),
    v.fallback(v.number(), 1),
    v.object({ a: v.date() }),
    v.pipe(v.string(), v.regex(/a/g)),
    v.exactOptional(v.number()),
    v.union([v.string(), v.number()])
  ] as v.GenericSchema[]) assert.equal(compiledParams(schema), undefined)
})

test('checkArgs: a refusal still names the field (valibot tells why), an accepted call gets the stripped copy', () => {
  const schema = new Schema(defineSchema({
    Api: { _connect: ['W'] },
    W: { _commands: { _balanced: { f: { params: v.object({ n: v.pipe(v.number(), v.integer()), s: v.optional(v.string()) }), method: () => 1 } } } }
  }))
  const command = schema.role('W')!.commands.get('f')!
  const bad = checkArgs(command, { n: 1.5 })
  assert.equal(bad.ok, false)
  assert.match((bad as { error: Error }).error.message, /^W\.f: args\.n: /)
  const input = { n: 2, extra: true }
  const good = checkArgs(command, input)
  assert.deepEqual(good, { ok: true, value: { n: 2 } })
  // The caller's check: the same verdict and message, nothing built.
  assert.equal(argsRefused(command, input), undefined)
  assert.equal(argsRefused(command, { n: 1.5 })?.message, (bad as { error: Error }).error.message)
  // A getter that throws is a refusal, not a crash (as with valibot alone).
  const hostile = Object.defineProperty({}, 'n', { enumerable: true, get () { throw new Error('boom') } })
  assert.match((checkArgs(command, hostile) as { error: Error }).error.message, /could not be checked/)
})
