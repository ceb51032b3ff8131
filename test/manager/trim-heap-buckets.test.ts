import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createConnectionManager } from '../../src/index.js'
import { compareTrimRank } from '../../src/manager/rank.js'
import { TrimBuckets } from '../../src/manager/trim-heap-buckets.js'
import type { PeerRecord } from '../../src/manager/peer-record.js'
import type { Priority } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'
import { collect } from '../helpers/events.js'
import { connectedRecord } from '../helpers/trim-records.js'

type Op =
  | { kind: 'add'; value: number; streams: number | undefined; inbound: boolean; priority: Priority; longTerm: boolean; openedAt: number }
  | { kind: 'remove'; at: number }
  | { kind: 'rekey'; at: number; value: number; idle: boolean; openedAt: number }
  | { kind: 'take'; k: number }

// Few tag values and opening times: big buckets, exact ties, and members that join older than the
// bucket's newest (the side heap, sorted into the run once it holds more than half).
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      value: fc.constantFrom(-1.5, 0, 1, 2.25),
      streams: fc.constantFrom<number | undefined>(undefined, 0, 1),
      inbound: fc.boolean(),
      priority: fc.constantFrom<Priority>('banned', 'low', 'medium', 'medium', 'medium', 'high'),
      longTerm: fc.boolean(),
      openedAt: fc.integer({ min: 0, max: 40 })
    }).map((o) => ({ kind: 'add' as const, ...o }))
  },
  { weight: 3, arbitrary: fc.nat().map((at) => ({ kind: 'remove' as const, at })) },
  {
    weight: 3,
    arbitrary: fc.record({ at: fc.nat(), value: fc.constantFrom(0, 1, 2.25), idle: fc.boolean(), openedAt: fc.integer({ min: 0, max: 40 }) })
      .map((o) => ({ kind: 'rekey' as const, ...o }))
  },
  { weight: 1, arbitrary: fc.nat({ max: 12 }).map((k) => ({ kind: 'take' as const, k })) }
)

/** The buckets hold exactly `members`, walked (and peeked, and listed by lowest(k)) in the order of a full sort. */
function assertSorted (b: TrimBuckets, members: readonly PeerRecord[], k: number): void {
  const walked = [...b.ascending()]
  assert.equal(b.size, members.length)
  assert.deepEqual(new Set(walked), new Set(members), 'every member once')
  assert.equal(walked.length, members.length)
  const sorted = members.slice().sort(compareTrimRank)
  walked.forEach((r, i) => { assert.equal(compareTrimRank(r, sorted[i]), 0, `the ${i}-th walked has the ${i}-th rank of a full sort`) })
  assert.equal(b.peek(), walked[0], 'peek() is the first walked')
  assert.deepEqual(b.lowest(k), walked.slice(0, k), 'lowest(k) is the first k walked')
  assert.deepEqual(new Set(b.items), new Set(members))
}

test('the bucketed trim index walks, lists and takes peers in the order of a full sort by compareTrimRank, through insertions, rank changes and removals', () => {
  fc.assert(fc.property(fc.array(arbOp, { minLength: 1, maxLength: 400 }), fc.nat({ max: 20 }), (ops, k) => {
    const b = new TrimBuckets()
    const members: PeerRecord[] = []
    for (const op of ops) {
      if (op.kind === 'add') {
        const r = connectedRecord(op)
        r.idle = op.streams === undefined || op.streams === 0
        b.upsert(r)
        members.push(r)
      } else if (op.kind === 'remove' && members.length > 0) {
        const [r] = members.splice(op.at % members.length, 1)
        b.remove(r)
        assert.equal(r.heapIndex, -1)
      } else if (op.kind === 'rekey' && members.length > 0) {
        const r = members[op.at % members.length]
        r.value = op.value
        r.idle = op.idle
        r.openedAt = op.openedAt
        b.rekey(r)
      } else if (op.kind === 'take') {
        const sorted = members.slice().sort(compareTrimRank)
        const taken = b.takeLowest(op.k)
        assert.equal(taken.length, Math.min(op.k, sorted.length))
        taken.forEach((r, i) => {
          assert.equal(compareTrimRank(r, sorted[i]), 0, `the ${i}-th taken has the ${i}-th rank`)
          assert.equal(r.heapIndex, -1, 'a taken peer has no place')
          members.splice(members.indexOf(r), 1)
        })
      }
    }
    assertSorted(b, members, k)
  }), { numRuns: 300 })
})

/** A seeded generator in [0, 1) (mulberry32): the same sequence for a seed on every run. */
function seeded (seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6D2B79F5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('a bucket of 2,000 peers of one rank but their age, joining in any order and leaving from anywhere, is walked and taken newest first', () => {
  // 24 shuffles, from a few older joiners (the side heap) to mostly older ones (sorted into the run
  // again and again); leavers from the middle leave tombstones, compacted once they are many.
  for (let seed = 1; seed <= 24; seed++) {
    const rand = seeded(seed)
    const older = [0.05, 0.3, 0.6, 0.95][seed % 4]
    const b = new TrimBuckets()
    let members: PeerRecord[] = []
    const takeAndCheck = (k: number): void => {
      const sorted = members.slice().sort(compareTrimRank)
      const taken = b.takeLowest(k)
      taken.forEach((r, i) => { assert.equal(r.openedAt, sorted[i].openedAt, `seed ${seed}: the ${i}-th taken is the ${i}-th newest`) })
      members = members.filter((r) => r.heapIndex !== -1)
    }
    for (let i = 0; i < 2000; i++) {
      const r = connectedRecord({ openedAt: rand() < older ? Math.floor(rand() * i) : i, inbound: true })
      r.idle = true
      b.upsert(r)
      members.push(r)
      if (rand() < 0.25) b.remove(members.splice(Math.floor(rand() * members.length), 1)[0])
      if (i % 250 === 249) takeAndCheck(Math.floor(rand() * 40))
    }
    assertSorted(b, members, 50)
    // Most leave from anywhere (tombstones, compacted), then the rest are re-ranked in place and taken.
    for (let i = members.length * 0.7; i > 0; i--) b.remove(members.splice(Math.floor(rand() * members.length), 1)[0])
    for (const r of members.slice(0, 50)) { r.openedAt = Math.floor(rand() * 3000); b.rekey(r) }
    assertSorted(b, members, 50)
    takeAndCheck(members.length - 100)
    assertSorted(b, members, 10)
  }
})

test('a rank change moves the peer (rekey after a value, priority or idleness change)', () => {
  const b = new TrimBuckets()
  const rs = [0, 1, 2, 3].map((v) => connectedRecord({ value: v }))
  rs.forEach((r) => { b.upsert(r) })
  assert.equal(b.peek(), rs[0])
  rs[0].value = 10
  b.rekey(rs[0])
  assert.equal(b.peek(), rs[1])
  rs[2].priority = 'banned'
  b.upsert(rs[2])
  assert.equal(b.peek(), rs[2], 'banned first')
  rs[2].priority = 'medium'
  b.upsert(rs[2])
  rs[1].idle = false
  b.rekey(rs[1])
  assert.deepEqual(b.lowest(4), [rs[1], rs[2], rs[3], rs[0]], 'value before idleness: value 1 (busy) still before value 2')
  b.removeMany(rs)
  assert.equal(b.size, 0)
  assert.equal(b.peek(), undefined)
})

test('trim() closes exactly the lowest-ranked peers a full sort puts first, for random tags, streams and ages in virtual time', async () => {
  for (let seed = 1; seed <= 12; seed++) {
    let x = seed
    const rand = (n: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return x % n }
    const clock = new ManualClock()
    const m = createConnectionManager({ dial: async () => { throw new Error('no dial') }, clock, lowWater: 150, highWater: 400, gracePeriod: 1000 })
    const conns: TestConnection[] = []
    for (let i = 0; i < 300; i++) {
      const c = new TestConnection({ peer: `p${i}`, direction: rand(2) === 0 ? 'inbound' : 'outbound', streams: rand(3) === 0 ? 1 : 0 })
      assert.ok(m.connected(c))
      if (rand(2) === 0) m.streamsChanged(c)
      conns.push(c)
      await clock.advance(rand(3))
    }
    await clock.advance(2000)
    for (const c of conns) m.tagPeer(c.peer, 'v', rand(5))
    // Some change after they were indexed: a tag moves a peer to another bucket, a stream to the other flag.
    for (let i = 0; i < 60; i++) {
      const c = conns[rand(conns.length)]
      m.tagPeer(c.peer, 'w', rand(3))
      c.streams = rand(2)
      m.streamsChanged(c)
    }
    const info = new Map(m.listConnections().map((ci) => [ci.peer, ci]))
    const key = (c: TestConnection): { priority: Priority; longTerm: boolean; value: number; idle: boolean; inbound: boolean; openedAt: number } =>
      ({ priority: 'medium', longTerm: false, value: info.get(c.peer)!.value, idle: c.streams === 0, inbound: c.direction === 'inbound', openedAt: info.get(c.peer)!.openedAt })
    const sorted = conns.map(key).sort(compareTrimRank)
    const closed = collect<{ connection: TestConnection }>(m.events, 'connection:closed')
    await m.trim()
    assert.equal(closed.length, 150, `seed ${seed}: down to lowWater`)
    closed.forEach(({ connection: c }, i) => { assert.equal(compareTrimRank(key(c), sorted[i]), 0, `seed ${seed}: the ${i}-th closed has the ${i}-th rank of a full sort`) })
    await m.close()
  }
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
