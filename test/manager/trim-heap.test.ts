import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createConnectionManager } from '../../src/index.js'
import { IndexedHeap } from '../../src/manager/indexed-heap.js'
import { compareTrimRank } from '../../src/manager/rank.js'
import { TrimHeap } from '../../src/manager/trim-heap.js'
import type { PeerRecord } from '../../src/manager/peer-record.js'
import type { Priority } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'
import { connectedRecord } from '../helpers/trim-records.js'

const arbInit = fc.record({
  priority: fc.constantFrom<Priority>('banned', 'low', 'medium', 'high'),
  longTerm: fc.boolean(),
  value: fc.constantFrom(-1.5, 0, 1, 2.25, 3),
  streams: fc.constantFrom<number | undefined>(undefined, 0, 1),
  inbound: fc.boolean(),
  openedAt: fc.integer({ min: 0, max: 3 })
})

function idleOf (r: PeerRecord): boolean {
  const s = r.conn!.conn.streams
  return s === undefined || s === 0
}

test('the trim heap walks, takes and removes peers exactly as an IndexedHeap ordered by compareTrimRank does (ties included)', () => {
  fc.assert(fc.property(
    fc.array(arbInit, { minLength: 1, maxLength: 60 }),
    fc.array(fc.nat(), { maxLength: 20 }),
    fc.nat({ max: 70 }),
    (inits, removals, k) => {
      // Two sets of equal records: one per heap (each heap writes its position into its own records).
      const a = inits.map((i) => connectedRecord(i))
      const b = inits.map((i) => connectedRecord(i))
      for (const r of [...a, ...b]) r.idle = idleOf(r)
      const mine = new TrimHeap()
      const theirs = new IndexedHeap<PeerRecord, 'heapIndex'>(compareTrimRank, 'heapIndex')
      a.forEach((r) => { mine.upsert(r) })
      b.forEach((r) => { theirs.upsert(r) })
      for (const at of removals) {
        const i = at % a.length
        mine.remove(a[i])
        theirs.remove(b[i])
      }
      const pos = (rs: PeerRecord[], list: Iterable<PeerRecord>): number[] => [...list].map((r) => rs.indexOf(r))
      assert.deepEqual(pos(a, mine.items), pos(b, theirs.items), 'the same layout')
      assert.deepEqual(pos(a, mine.ascending()), pos(b, theirs.ascending()), 'the same walk')
      assert.deepEqual(pos(a, mine.lowest(k)), pos(b, theirs.ascending()).slice(0, k), 'lowest(k) is the first k of the walk')
      const sorted = [...mine.ascending()]
      for (let i = 1; i < sorted.length; i++) assert.ok(compareTrimRank(sorted[i - 1], sorted[i]) <= 0, 'in trim order')
    }
  ), { numRuns: 300 })
})

test('removing many at once leaves the others in heap order: the k lowest (a top of the heap, removed together) or any other set (one by one)', () => {
  fc.assert(fc.property(
    fc.array(arbInit, { minLength: 1, maxLength: 60 }),
    fc.nat({ max: 70 }),
    fc.array(fc.nat(), { maxLength: 20 }),
    fc.boolean(),
    (inits, k, picks, lowest) => {
      const rs = inits.map((i) => connectedRecord(i))
      for (const r of rs) r.idle = idleOf(r)
      const heap = new TrimHeap()
      rs.forEach((r) => { heap.upsert(r) })
      const gone = lowest ? heap.lowest(k) : [...new Set(picks.map((p) => rs[p % rs.length]))]
      heap.removeMany(gone)
      const left = heap.items
      assert.equal(left.length, rs.length - gone.length)
      for (const r of gone) assert.equal(r.heapIndex, -1, 'a removed peer has no place')
      assert.deepEqual(new Set(left), new Set(rs.filter((r) => !gone.includes(r))), 'the others stay')
      for (let i = 1; i < left.length; i++) assert.ok(compareTrimRank(left[(i - 1) >> 1], left[i]) <= 0, 'parent before child')
      left.forEach((r, i) => { assert.equal(heap.at(i), r) })
      // Still usable: each removal and insertion afterwards keeps the order.
      const more = heap.lowest(3)
      heap.removeMany(more)
      for (const r of more) heap.upsert(r)
      const after = [...heap.ascending()]
      for (let i = 1; i < after.length; i++) assert.ok(compareTrimRank(after[i - 1], after[i]) <= 0, 'in trim order')
      assert.equal(after.length, left.length)
    }
  ), { numRuns: 500 })
})

test('takeLowest(k) takes out the k lowest ranks in trim order and leaves the others in heap order', () => {
  fc.assert(fc.property(
    fc.array(arbInit, { minLength: 1, maxLength: 60 }),
    fc.nat({ max: 70 }),
    (inits, k) => {
      const rs = inits.map((i) => connectedRecord(i))
      for (const r of rs) r.idle = idleOf(r)
      const heap = new TrimHeap()
      rs.forEach((r) => { heap.upsert(r) })
      const sorted = [...rs].sort(compareTrimRank)
      const taken = heap.takeLowest(k)
      assert.equal(taken.length, Math.min(k, rs.length))
      // The same ranks as the first k in trim order, in that order (which of exactly equal ranks is the heap's choice).
      taken.forEach((r, i) => { assert.equal(compareTrimRank(r, sorted[i]), 0, `the ${i}-th taken has the ${i}-th rank`) })
      for (const r of taken) assert.equal(r.heapIndex, -1, 'a taken peer has no place')
      const left = heap.items
      assert.deepEqual(new Set(left), new Set(rs.filter((r) => !taken.includes(r))), 'the others stay')
      for (let i = 1; i < left.length; i++) assert.ok(compareTrimRank(left[(i - 1) >> 1], left[i]) <= 0, 'parent before child')
      left.forEach((r, i) => { assert.equal(heap.at(i), r) })
    }
  ), { numRuns: 500 })
})

test('a rank change re-keyed in the trim heap moves the peer (rekey after a value, priority or idleness change)', () => {
  const heap = new TrimHeap()
  const rs = [0, 1, 2, 3].map((v) => connectedRecord({ value: v }))
  rs.forEach((r) => { heap.upsert(r) })
  assert.equal(heap.peek(), rs[0])
  rs[0].value = 10
  heap.rekey(rs[0])
  assert.equal(heap.peek(), rs[1])
  rs[2].priority = 'banned'
  heap.upsert(rs[2])
  assert.equal(heap.peek(), rs[2], 'banned first')
  rs[2].priority = 'medium'
  heap.upsert(rs[2])
  rs[1].idle = false
  heap.rekey(rs[1])
  assert.deepEqual(heap.lowest(4), [rs[1], rs[2], rs[3], rs[0]], 'value before idleness: value 1 (busy) still before value 2')
})

async function manager (n: number): Promise<{ m: ReturnType<typeof createConnectionManager>; conns: TestConnection[] }> {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async () => { throw new Error('no dial') }, clock, lowWater: n - 1, highWater: n + 10, gracePeriod: 1000 })
  const conns = Array.from({ length: n }, (_, i) => new TestConnection({ peer: `p${i}`, direction: 'inbound' }))
  for (const c of conns) {
    assert.ok(m.connected(c))
    await clock.advance(1)
  }
  // The same rank but for idleness and age: the newest (p{n-1}) goes first when every peer is idle.
  await clock.advance(2000)
  m.start()
  return { m, conns }
}

test('streamsChanged: a reported stream keeps the peer from being trimmed, without the manager reading the others', async () => {
  const { m, conns } = await manager(4)
  for (const c of conns) m.streamsChanged(c) // the transport reports every connection
  const reads = conns.map(() => 0)
  conns.forEach((c, i) => {
    let streams = c.streams
    Object.defineProperty(c, 'streams', { get: () => { reads[i]++; return streams }, set: (v: number | undefined) => { streams = v } })
  })
  conns[3].streams = 1
  m.streamsChanged(conns[3])
  reads.fill(0)
  await m.trim()
  assert.equal(conns[3].closed, false, 'busy: stays')
  assert.equal(conns[2].closed, true, 'the newest idle peer goes')
  assert.deepEqual(reads.slice(0, 2), [0, 0], 'no sampling of the peers that report')
  await m.close()
})

test('connections that never report are still read before a trim (a busy one is kept), and an unknown connection is ignored', async () => {
  const { m, conns } = await manager(4)
  conns[3].streams = 2 // not reported: the trim samples it
  m.streamsChanged(new TestConnection({ peer: 'stranger' }))
  await m.trim()
  assert.equal(conns[3].closed, false)
  assert.equal(conns[2].closed, true)
  await m.close()
})

test('once some connections report, the ones that do not are still read before a trim', async () => {
  const { m, conns } = await manager(4)
  for (const c of conns.slice(0, 3)) m.streamsChanged(c)
  conns[3].streams = 1 // never reported: read at the trim
  await m.trim()
  assert.equal(conns[3].closed, false, 'busy, though it never reported')
  assert.equal(conns[2].closed, true)
  await m.close()
})
