import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { compareTrimRank } from '../../src/manager/rank.js'
import { TrimIndex } from '../../src/manager/trim-index.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import type { Priority } from '../../src/index.js'
import { testConnection } from '../../src/testing/index.js'
import { connectedRecord, connOf } from '../helpers/trim-records.js'

// ── TrimIndex ──────────────────────────────────────────────────────────────

const arbRecordInit = fc.record({
  priority: fc.constantFrom<Priority>('low', 'medium', 'high'),
  longTerm: fc.boolean(),
  value: fc.integer({ min: 0, max: 4 }),
  streams: fc.constantFrom<number | undefined>(undefined, 0, 1, 3),
  inbound: fc.boolean(),
  openedAt: fc.integer({ min: 0, max: 5 })
})

type IndexOp =
  | { kind: 'add'; init: { priority: Priority; longTerm: boolean; value: number; streams: number | undefined; inbound: boolean; openedAt: number } }
  | { kind: 'remove'; at: number }
  | { kind: 'value'; at: number; value: number }
  | { kind: 'priority'; at: number; priority: Priority }
  | { kind: 'streams'; at: number; streams: number | undefined }

const arbIndexOp: fc.Arbitrary<IndexOp> = fc.oneof(
  { weight: 4, arbitrary: arbRecordInit.map((init) => ({ kind: 'add' as const, init })) },
  { weight: 1, arbitrary: fc.nat().map((at) => ({ kind: 'remove' as const, at })) },
  { weight: 2, arbitrary: fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 4 }) }).map((o) => ({ kind: 'value' as const, ...o })) },
  { weight: 1, arbitrary: fc.record({ at: fc.nat(), priority: fc.constantFrom<Priority>('low', 'medium', 'high') }).map((o) => ({ kind: 'priority' as const, ...o })) },
  { weight: 1, arbitrary: fc.record({ at: fc.nat(), streams: fc.constantFrom<number | undefined>(undefined, 0, 2) }).map((o) => ({ kind: 'streams' as const, ...o })) }
)

function assertSortedPermutation (index: TrimIndex, members: readonly PeerRecord[]): void {
  const walked = [...index.ascending()]
  assert.equal(walked.length, members.length, 'ascending() yields every indexed peer once')
  assert.equal(new Set(walked).size, walked.length, 'no peer twice')
  for (const m of members) assert.ok(walked.includes(m), `${m.key} is yielded`)
  // The sequence of keys equals the sorted sequence of keys (ties may come in any order).
  const sortedKeys = members.slice().sort(compareTrimRank)
  for (let i = 0; i < walked.length; i++) {
    assert.equal(compareTrimRank(walked[i], sortedKeys[i]), 0, `position ${i} holds a peer of the rank sorting puts there`)
  }
  assert.equal(index.size, members.length)
  if (members.length > 0) assert.equal(compareTrimRank(index.lowest()!, sortedKeys[0]), 0, 'lowest() is a lowest-ranked peer')
  else assert.equal(index.lowest(), undefined)
}

test('ascending() yields exactly the sorted order of the indexed peers for random contents and updates', () => {
  fc.assert(fc.property(fc.array(arbIndexOp, { maxLength: 60, size: 'max' }), (ops) => {
    const index = new TrimIndex(0, () => true)
    const members: PeerRecord[] = []
    for (const op of ops) {
      if (op.kind === 'add') {
        const r = connectedRecord(op.init)
        index.opened(r, 10)
        members.push(r)
      } else if (members.length > 0) {
        const r = members[op.at % members.length]
        if (op.kind === 'remove') {
          index.remove(r)
          r.conn = undefined
          members.splice(members.indexOf(r), 1)
        } else if (op.kind === 'value') {
          r.value = op.value
          index.update(r, 10)
        } else if (op.kind === 'priority') {
          r.priority = op.priority
          index.update(r, 10)
        } else {
          connOf(r).streams = op.streams
          index.update(r, 10) // refresh re-samples the streams
          assert.equal(r.idle, op.streams === undefined || op.streams === 0)
        }
      }
      assertSortedPermutation(index, members)
    }
  }), { numRuns: 300 })
})

test('resample() re-reads every peer\'s streams and restores the order', () => {
  const index = new TrimIndex(0, () => true)
  const rs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => connectedRecord({ openedAt: i, streams: 0 }))
  for (const r of rs) index.opened(r, 10)
  // Streams change behind the index's back: the even ones get busy.
  rs.forEach((r, i) => { if (i % 2 === 0) connOf(r).streams = 1 })
  index.resample()
  const order = [...index.ascending()].map((r) => r.openedAt)
  assert.deepEqual(order, [7, 5, 3, 1, 6, 4, 2, 0], 'idle (odd) peers first, each group newest first')
})

test('the grace FIFO promotes a peer into the heap exactly when its grace period ends', () => {
  const index = new TrimIndex(100, () => true)
  const a = connectedRecord({ openedAt: 0 })
  const b = connectedRecord({ openedAt: 10 })
  const c = connectedRecord({ openedAt: 20 })
  index.opened(a, 0)
  index.opened(b, 10)
  index.opened(c, 20)
  assert.equal(index.size, 0, 'nobody is trimmable inside the grace period')
  assert.equal(index.inGrace(a, 99), true)
  index.promote(99)
  assert.equal(index.size, 0)
  index.promote(100)
  assert.deepEqual([index.has(a), index.has(b), index.has(c)], [true, false, false])
  assert.equal(index.inGrace(a, 100), false)
  index.promote(119)
  assert.deepEqual([index.has(a), index.has(b), index.has(c)], [true, true, false])
  index.promote(500)
  assert.deepEqual([index.has(a), index.has(b), index.has(c)], [true, true, true])
  assert.equal(index.size, 3)
})

test('connections that open and close inside the grace period keep the grace FIFO bounded, and the open ones are still promoted in order', () => {
  const index = new TrimIndex(1_000_000, () => true)
  const open: PeerRecord[] = []
  let most = 0
  for (let i = 0; i < 100_000; i++) {
    const r = connectedRecord({ openedAt: i })
    index.opened(r, i)
    if (i % 1000 === 0) open.push(r) // one in a thousand stays open
    else r.conn = undefined // the rest close at once
    most = Math.max(most, index.graceWaiting)
  }
  assert.ok(most <= 2 * open.length + 1025, `the FIFO held at most ${most} entries for ${open.length} open connections`)
  index.promote(1_000_000 + 50_000)
  assert.deepEqual(open.map((r) => index.has(r)), open.map((r) => r.openedAt <= 50_000), 'exactly the open connections past their grace are promoted')
  index.promote(3_000_000)
  assert.equal(index.size, open.length)
  assert.equal(index.graceWaiting, 0)
})

test('the grace FIFO skips peers that left or reconnected, and the peers the manager deems ineligible', () => {
  const ineligible = new Set<PeerRecord>()
  const index = new TrimIndex(100, (r) => !ineligible.has(r))
  const gone = connectedRecord({ openedAt: 0 })
  const back = connectedRecord({ openedAt: 0 })
  const guarded = connectedRecord({ openedAt: 0 })
  for (const r of [gone, back, guarded]) index.opened(r, 0)
  ineligible.add(guarded)
  gone.conn = undefined // disconnected before its grace ended
  // `back` disconnects and reconnects at 50: a new grace period starts.
  back.openedAt = 50
  index.opened(back, 50)
  index.promote(100)
  assert.equal(index.has(gone), false, 'a disconnected peer is not promoted')
  assert.equal(index.has(back), false, 'the old FIFO entry does not promote the new connection early')
  assert.equal(index.has(guarded), false, 'an ineligible peer is not promoted')
  index.promote(150)
  assert.equal(index.has(back), true, 'the new entry promotes it when its own grace ends')
  ineligible.delete(guarded)
  index.update(guarded, 150)
  assert.equal(index.has(guarded), true, 'a refresh after it became eligible adds it')
  assert.equal(index.size, 2)
})

for (const n of [3, 40]) {
  test(`a peer reopened within the same millisecond is promoted once among ${n} expiring peers`, () => {
    const index = new TrimIndex(100, () => true)
    const rs = Array.from({ length: n }, (_, i) => connectedRecord({ openedAt: 0, value: i }))
    for (const r of rs) index.opened(r, 0)
    // rs[0]'s connection is replaced at t=0 (a duplicate that wins the tie-break): a second FIFO entry.
    const r0 = rs[0]
    r0.conn = { conn: testConnection(r0.key, { direction: 'outbound' }), record: r0, openedAt: 0 }
    r0.inbound = false
    index.opened(r0, 0)
    index.promote(100) // with more than 32 due at once, the bulk path runs
    assert.equal(index.size, n, 'every peer is in the heap exactly once')
    const walked = [...index.ascending()]
    assert.equal(new Set(walked).size, walked.length, 'ascending() yields no peer twice')
    assert.equal(walked.length, n)
    index.remove(r0)
    assert.equal(index.has(r0), false)
    assert.equal([...index.ascending()].includes(r0), false, 'after remove() no copy of the peer is left behind')
    assert.equal(index.size, n - 1)
  })
}

test('with a zero grace period a peer is trimmable as soon as it opens', () => {
  const index = new TrimIndex(0, () => true)
  const r = connectedRecord({ openedAt: 5 })
  index.opened(r, 5)
  assert.equal(index.has(r), true)
  assert.equal(index.inGrace(r, 5), false)
})

test('lowest() re-checks the peer it returns when its streams changed since they were sampled', () => {
  const index = new TrimIndex(0, () => true)
  const older = connectedRecord({ openedAt: 1, streams: 0 })
  const newer = connectedRecord({ openedAt: 2, streams: 0 })
  index.opened(older, 10)
  index.opened(newer, 10)
  assert.equal(index.lowest(), newer, 'both idle: the newest is lowest')
  connOf(newer).streams = 4 // the transport opened streams without telling the manager
  assert.equal(index.lowest(), older, 'the busy peer is re-ranked above the idle one')
  assert.equal(newer.idle, false, 'the new sample is kept')
  connOf(newer).streams = 0
  connOf(older).streams = 1
  assert.equal(index.lowest(), newer, 'the re-check follows the streams both ways')
  assert.deepEqual([...index.ascending()], [newer, older])
})

test('bulk promotion, ordered() for large trims and removeMany() keep exactly the sorted order', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ init: arbRecordInit, eligible: fc.boolean(), removed: fc.boolean(), reopened: fc.nat(9).map((n) => n === 0) }), { maxLength: 150, size: 'max' }),
    (items) => {
      const ineligible = new Set<PeerRecord>()
      const index = new TrimIndex(10, (r) => !ineligible.has(r))
      // Connections open in time order (the clock never goes back), so the grace FIFO is sorted.
      const sorted = items.slice().sort((a, b) => a.init.openedAt - b.init.openedAt)
      const all = sorted.map(({ init, eligible, reopened }) => {
        const r = connectedRecord(init)
        if (!eligible) ineligible.add(r)
        index.opened(r, r.openedAt)
        // A peer whose connection was replaced within the same millisecond (a duplicate settled by the
        // tie-break, or a reconnect) has two FIFO entries with the same opening time.
        if (reopened) index.opened(r, r.openedAt)
        return r
      })
      assert.equal(index.size, 0, 'all in grace')
      index.promote(100) // every grace period ended: more than 32 at once takes the bulk path
      let members = all.filter((r) => !ineligible.has(r))
      assertSortedPermutation(index, members)
      for (const wanted of [1, 64, 65, members.length + 1]) {
        const walked = [...index.ordered(wanted)]
        const expected = members.slice().sort(compareTrimRank)
        assert.equal(walked.length, members.length)
        walked.forEach((r, i) => { assert.equal(compareTrimRank(r, expected[i]), 0, `ordered(${wanted}) position ${i}`) })
      }
      const gone = members.filter((r) => sorted[all.indexOf(r)].removed)
      index.removeMany(gone)
      for (const r of gone) assert.equal(index.has(r), false)
      members = members.filter((r) => !gone.includes(r))
      assertSortedPermutation(index, members)
    }
  ), { numRuns: 200 })
})
