import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AddressStats } from '../../src/manager/address-stats.js'

test('address stats record a fresh stat on first use and hand back the same one after, first address or not', () => {
  const stats = new AddressStats()
  assert.equal(stats.get('mem://a'), undefined)
  const a = stats.of('mem://a')
  assert.deepEqual(a, { ok: -Infinity, fails: 0 })
  a.fails = 2
  const b = stats.of('mem://b')
  b.ok = 5
  assert.equal(stats.of('mem://a'), a)
  assert.equal(stats.get('mem://b'), b)
  assert.equal(stats.get('mem://c'), undefined)
  assert.deepEqual([...stats.entries()], [['mem://a', { ok: -Infinity, fails: 2 }], ['mem://b', { ok: 5, fails: 0 }]])
})

test('merged address stats keep the stats of the record merged into and add the others', () => {
  const into = AddressStats.from([['mem://a', { ok: 1, fails: 0 }]])
  const from = AddressStats.from([['mem://a', { ok: -Infinity, fails: 3 }], ['mem://b', { ok: 2, fails: 1 }]])
  const merged = AddressStats.merged(from, into)
  assert.deepEqual(merged.get('mem://a'), { ok: 1, fails: 0 })
  assert.deepEqual(merged.get('mem://b'), { ok: 2, fails: 1 })
  assert.deepEqual(AddressStats.merged(from, undefined).get('mem://a'), { ok: -Infinity, fails: 3 })
})
