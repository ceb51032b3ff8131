import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { compareTrimRank, type RankKey } from '../../src/manager/rank.js'
import type { Priority } from '../../src/index.js'
import { shuffled } from '../helpers/shuffle.js'

// ── helpers ────────────────────────────────────────────────────────────────

function key (over: Partial<RankKey> = {}): RankKey {
  return { priority: 'medium', longTerm: false, value: 0, idle: true, inbound: true, openedAt: 0, ...over }
}

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0)
/** The opposite sign, without producing -0 (strict assertions tell 0 and -0 apart). */
const opposite = (s: number): number => (s === 0 ? 0 : -s)

// ── compareTrimRank ────────────────────────────────────────────────────────

test('the 16-case js-libp2p matrix sorts untagged before tagged, idle before busy, inbound before outbound, new before old', () => {
  const now = 1_000_000
  const cases: Array<{ name: string; k: RankKey }> = []
  for (const tagged of [false, true]) {
    for (const streams of [false, true]) {
      for (const inbound of [true, false]) {
        for (const young of [true, false]) {
          const name = `${tagged ? 'tagged' : 'untagged'}/${streams ? 'streams' : 'no-streams'}/${inbound ? 'inbound' : 'outbound'}/${young ? 'new' : 'old'}`
          cases.push({ name, k: key({ value: tagged ? 100 : 0, idle: !streams, inbound, openedAt: young ? now - 10 : now - 600_000 }) })
        }
      }
    }
  }
  // `cases` is built in the expected order (outermost loop = most significant key).
  const expected = cases.map((c) => c.name)
  const input = shuffled(cases, 7)
  assert.notDeepEqual(input.map((c) => c.name), expected, 'the input must start out of order')
  const sorted = input.sort((a, b) => compareTrimRank(a.k, b.k)).map((c) => c.name)
  assert.deepEqual(sorted, expected)
  assert.equal(sorted[0], 'untagged/no-streams/inbound/new')
  assert.equal(sorted[15], 'tagged/streams/outbound/old')
})

test('each tie-breaker decides only when every earlier key is equal', () => {
  // [a, b, expected sign of compareTrimRank(a, b)]
  const table: Array<[string, RankKey, RankKey, number]> = [
    ['banned before high, even when long-term and valuable', key({ priority: 'banned', longTerm: true, value: 1000 }), key({ priority: 'high' }), -1],
    ['banned before low', key({ priority: 'banned' }), key({ priority: 'low' }), -1],
    ['two banned peers fall through to the next keys', key({ priority: 'banned', value: 1 }), key({ priority: 'banned', value: 2 }), -1],
    ['non-long-term high before long-term low', key({ priority: 'high' }), key({ priority: 'low', longTerm: true }), -1],
    ['non-long-term with a big tag before long-term without tags', key({ value: 1000 }), key({ longTerm: true }), -1],
    ['low before medium', key({ priority: 'low' }), key({ priority: 'medium' }), -1],
    ['medium before high', key({ priority: 'medium' }), key({ priority: 'high' }), -1],
    ['low with a big tag before medium without tags', key({ priority: 'low', value: 1000 }), key({ priority: 'medium', value: 0 }), -1],
    ['priority wins over busy/outbound/old', key({ priority: 'low', idle: false, inbound: false, openedAt: 0 }), key({ priority: 'high', openedAt: 5 }), -1],
    ['lower tag value first', key({ value: 3 }), key({ value: 4 }), -1],
    ['negative tag value before zero', key({ value: -1 }), key({ value: 0 }), -1],
    ['tag value wins over idle', key({ value: 1, idle: true }), key({ value: 2, idle: false }), -1],
    ['tag value wins over idle (reversed)', key({ value: 2, idle: true }), key({ value: 1, idle: false }), 1],
    ['idle before busy', key({ idle: true }), key({ idle: false }), -1],
    ['idle wins over direction', key({ idle: true, inbound: false }), key({ idle: false, inbound: true }), -1],
    ['inbound before outbound', key({ inbound: true }), key({ inbound: false }), -1],
    ['direction wins over age', key({ inbound: true, openedAt: 0 }), key({ inbound: false, openedAt: 100 }), -1],
    ['newest before oldest', key({ openedAt: 100 }), key({ openedAt: 50 }), -1],
    ['oldest after newest', key({ openedAt: 50 }), key({ openedAt: 100 }), 1],
    ['equal keys compare 0', key({ priority: 'low', value: 5, idle: false, inbound: false, openedAt: 9 }), key({ priority: 'low', value: 5, idle: false, inbound: false, openedAt: 9 }), 0]
  ]
  for (const [name, a, b, expected] of table) {
    assert.equal(sign(compareTrimRank(a, b)), expected, name)
    assert.equal(sign(compareTrimRank(b, a)), opposite(expected), `${name} (swapped)`)
  }
})

const arbPriority = fc.constantFrom<Priority>('banned', 'low', 'medium', 'high')
const arbKey: fc.Arbitrary<RankKey> = fc.record({
  priority: arbPriority,
  longTerm: fc.boolean(),
  value: fc.integer({ min: -3, max: 3 }),
  idle: fc.boolean(),
  inbound: fc.boolean(),
  openedAt: fc.integer({ min: 0, max: 3 })
})

test('compareTrimRank is a total preorder: antisymmetric, reflexive and transitive', () => {
  fc.assert(fc.property(arbKey, arbKey, arbKey, (a, b, c) => {
    assert.equal(compareTrimRank(a, a), 0)
    assert.equal(sign(compareTrimRank(a, b)), opposite(sign(compareTrimRank(b, a))))
    if (compareTrimRank(a, b) <= 0 && compareTrimRank(b, c) <= 0) assert.ok(compareTrimRank(a, c) <= 0)
  }), { numRuns: 2000 })
})
