import assert from 'node:assert/strict'
import { test } from 'node:test'
import { admit, type AdmissionInput } from '../../src/manager/admission.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import type { Priority } from '../../src/index.js'

function victim (priority: Priority): PeerRecord {
  const r = new PeerRecord(`v-${priority}`, `v-${priority}`, 0)
  r.priority = priority
  return r
}

const base: AdmissionInput = { priority: 'medium', allowed: false, forced: false, count: 0, highWater: 4, victim: undefined, trimmable: 0 }

test('admit() as a table: banned first, then below the bound, then forced or allow-listed, then only by outranking or equalling the victim', () => {
  const low = victim('low')
  const high = victim('high')
  // [name, input, accept, evicts, close]
  const table: Array<[string, Partial<AdmissionInput>, boolean, PeerRecord | undefined, string | undefined]> = [
    ['a banned peer is refused even below the bound', { priority: 'banned' }, false, undefined, 'banned'],
    ['a banned peer is refused even when forced', { priority: 'banned', forced: true, count: 9 }, false, undefined, 'banned'],
    ['below the bound: accepted', { count: 3 }, true, undefined, undefined],
    ['at the bound, forced: evicts the victim', { count: 4, forced: true, victim: high, trimmable: 1 }, true, high, undefined],
    ['at the bound, allow-listed: evicts the victim', { count: 4, allowed: true, victim: low, trimmable: 1 }, true, low, undefined],
    ['at the bound, forced with nothing trimmable: accepted over the bound', { count: 4, forced: true }, true, undefined, undefined],
    ['at the bound, nothing trimmable: refused', { count: 4 }, false, undefined, 'over-limit'],
    ['at the bound, no victim it may take: refused', { count: 4, trimmable: 2 }, false, undefined, 'over-limit'],
    ['at the bound, a low newcomer and a higher victim: refused', { count: 4, priority: 'low', victim: high, trimmable: 1 }, false, undefined, 'over-limit'],
    ['at the bound, an equal victim: evicted', { count: 4, priority: 'low', victim: low, trimmable: 1 }, true, low, undefined],
    ['at the bound, a lower victim: evicted', { count: 4, priority: 'high', victim: low, trimmable: 1 }, true, low, undefined],
    ['above the bound (forced connections): same as at it', { count: 6, priority: 'medium', victim: low, trimmable: 3 }, true, low, undefined]
  ]
  for (const [name, over, accept, evicts, close] of table) {
    const d = admit({ ...base, ...over })
    assert.equal(d.accept, accept, name)
    if (d.accept) assert.equal(d.evict, evicts, `${name}: evicts`)
    else assert.equal(d.close, close, `${name}: close reason`)
    assert.ok(d.reason.length > 0, `${name}: says why`)
  }
})
