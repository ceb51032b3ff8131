import assert from 'node:assert/strict'
import { test } from 'node:test'
import { selectVictims, trimCount } from '../../src/manager/trim-rules.js'
import type { PeerRecord } from '../../src/manager/peer-record.js'
import { connectedRecord } from '../helpers/trim-records.js'

// ── selectVictims ──────────────────────────────────────────────────────────

test('selectVictims takes the first count peers in order that canClose accepts', () => {
  const rs = [0, 1, 2, 3, 4, 5].map((i) => connectedRecord({ value: i }))
  const cases: Array<[string, number, (r: PeerRecord) => boolean, number[]]> = [
    ['zero takes nothing', 0, () => true, []],
    ['a negative count takes nothing', -2, () => true, []],
    ['takes the first three', 3, () => true, [0, 1, 2]],
    ['takes everything when asked for more than there is', 10, () => true, [0, 1, 2, 3, 4, 5]],
    ['skips the peers canClose refuses', 3, (r) => r.value % 2 === 1, [1, 3, 5]],
    ['takes fewer when canClose refuses too many', 3, (r) => r.value === 4, [4]]
  ]
  for (const [name, count, canClose, expected] of cases) {
    assert.deepEqual(selectVictims(rs, count, (r) => canClose(r)).map((r) => r.value), expected, name)
  }
  assert.deepEqual(selectVictims(rs, 2).map((r) => r.value), [0, 1], 'the default canClose accepts everything')
})

test('selectVictims shows canClose the peers already taken and stops pulling once it has enough', () => {
  const rs = [0, 1, 2, 3, 4, 5].map((i) => connectedRecord({ value: i }))
  const seen: number[][] = []
  let pulled = 0
  function * lazy (): Generator<PeerRecord> {
    for (const r of rs) { pulled++; yield r }
  }
  // A quota-like rule: at most one even-valued peer may be taken.
  const taken = selectVictims(lazy(), 3, (r, already) => {
    seen.push(already.map((x) => x.value))
    return r.value % 2 === 1 || already.every((x) => x.value % 2 === 1)
  })
  assert.deepEqual(taken.map((r) => r.value), [0, 1, 3])
  assert.deepEqual(seen, [[], [0], [0, 1], [0, 1]])
  assert.equal(pulled, 4, 'the fifth and sixth peers are never pulled from the iterator')
})

// ── trimCount ──────────────────────────────────────────────────────────────

test('a watermark trim counts only trimmable connections against lowWater yet always restores highWater when it can (trimCount)', () => {
  // [mode, connections, trimmable, lowWater, highWater, expected]
  const table: Array<['watermark' | 'limit', number, number, number, number, number]> = [
    ['watermark', 10, 10, 4, 12, 6], // below highWater: trimmable down to lowWater
    ['watermark', 10, 3, 4, 12, 0], // fewer trimmable than lowWater: nothing
    ['watermark', 10, 6, 4, 12, 2], // 4 untrimmable do not count: 6 trimmable, 2 go
    ['watermark', 15, 5, 4, 12, 3], // over highWater: at least the excess (3) when possible
    ['watermark', 15, 2, 4, 12, 2], // over highWater with too few trimmable: all of them
    ['watermark', 15, 0, 4, 12, 0],
    ['limit', 15, 10, 4, 12, 3], // a lowered limit: just back to highWater
    ['limit', 15, 2, 4, 12, 2],
    ['limit', 12, 12, 4, 12, 0] // at highWater: nothing
  ]
  for (const [mode, connections, trimmable, lowWater, highWater, expected] of table) {
    assert.equal(trimCount(mode, { connections, trimmable, lowWater, highWater }), expected, `${mode} ${connections}/${trimmable} low ${lowWater} high ${highWater}`)
  }
})
