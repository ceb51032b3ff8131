import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AddressStats } from '../../src/manager/address-stats.js'
import { compareCandidates, pickCandidates } from '../../src/manager/dial-order.js'
import { orderAddresses } from '../../src/manager/dial-scheduler.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import { shuffled } from '../helpers/shuffle.js'

// ── helpers ────────────────────────────────────────────────────────────────

type RecordInit = Partial<Pick<PeerRecord, 'priority' | 'longTerm' | 'bootstrap' | 'failures' | 'lastConnected' | 'successes' | 'value' | 'attempts' | 'topics' | 'addresses'>>

function rec (id: string, init: RecordInit = {}): PeerRecord {
  const r = new PeerRecord(id, id, 0)
  Object.assign(r, init)
  return r
}

const notNeeded = (): boolean => false
const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0)
const cmp = (a: PeerRecord, b: PeerRecord, needed: (r: PeerRecord) => boolean = notNeeded): number => sign(compareCandidates(a, b, needed))

/** `better` must come strictly before `worse`, both ways round. */
function before (better: PeerRecord, worse: PeerRecord, needed: (r: PeerRecord) => boolean = notNeeded, why = ''): void {
  assert.equal(cmp(better, worse, needed), -1, `${better.key} before ${worse.key} ${why}`)
  assert.equal(cmp(worse, better, needed), 1, `${worse.key} after ${better.key} ${why}`)
}

// ── compareCandidates, one key at a time ───────────────────────────────────

test('two records with equal keys are dialled first known, first served', () => {
  assert.equal(cmp(rec('a'), rec('b')), -1)
  const init: RecordInit = { priority: 'high', longTerm: true, failures: 1, lastConnected: 50, successes: 2, value: 7, attempts: 3 }
  assert.equal(cmp(rec('a', init), rec('b', init)), -1)
  const late = rec('late', init)
  const early = rec('early', init)
  assert.equal(cmp(late, early), -1, 'creation order, not the id, breaks the tie')
})

test('bootstrap peers come last, even against a low-priority, sunk, never-connected peer', () => {
  before(rec('normal'), rec('boot', { bootstrap: true }))
  before(rec('normal', { priority: 'low', failures: 10, attempts: 10 }), rec('boot', { bootstrap: true, priority: 'high', longTerm: true, lastConnected: 5, successes: 9, value: 100 }))
  // Among bootstrap peers the other keys still order them.
  before(rec('b1', { bootstrap: true, priority: 'high' }), rec('b2', { bootstrap: true }))
})

test('a peer with sinkAfter (3) consecutive failures sinks below every peer that has not, whatever its priority', () => {
  before(rec('fresh'), rec('sunk', { failures: 3 }))
  before(rec('two-failures', { failures: 2, priority: 'low' }), rec('sunk', { failures: 3, priority: 'high', value: 100 }))
  assert.equal(cmp(rec('x', { failures: 3 }), rec('y', { failures: 7 })), -1, 'all sunk peers sink together (then first known first)')
})

test('a long-term peer never sinks', () => {
  before(rec('lt', { longTerm: true, failures: 10 }), rec('fresh'))
  before(rec('lt', { longTerm: true, failures: 10 }), rec('sunk', { failures: 3 }))
})

test('higher priority comes first: high, then medium, then low', () => {
  before(rec('high', { priority: 'high' }), rec('medium', { priority: 'medium' }))
  before(rec('medium', { priority: 'medium' }), rec('low', { priority: 'low' }))
  before(rec('high', { priority: 'high' }), rec('low', { priority: 'low' }))
  // Priority outranks every later key.
  before(rec('high', { priority: 'high' }), rec('medium', { longTerm: true, lastConnected: 9, successes: 9, value: 99 }), () => true)
})

test('among equal priorities, long-term peers come first', () => {
  before(rec('lt', { longTerm: true }), rec('plain', { lastConnected: 9, successes: 9, value: 99 }))
})

test('among equal priorities, peers that serve a topic below its min come first', () => {
  const needed = (r: PeerRecord): boolean => r.topics.includes('chat')
  before(rec('chat', { topics: ['chat'] }), rec('other', { lastConnected: 9, successes: 9, value: 99 }), needed)
  assert.equal(cmp(rec('chat', { topics: ['chat'] }), rec('other')), -1, 'not needed: no preference (then first known first)')
  assert.equal(cmp(rec('other2'), rec('chat2', { topics: ['chat'] })), -1, 'not needed: no preference either way')
  // long-term still outranks needed
  before(rec('lt', { longTerm: true }), rec('chat', { topics: ['chat'] }), needed)
})

test('peers connected before come first, the more recently the earlier', () => {
  before(rec('seen', { lastConnected: 1 }), rec('never', { value: 99 }))
  before(rec('recent', { lastConnected: 500 }), rec('older', { lastConnected: 100, successes: 50 }))
})

test('with the same last connection, the peer connected more often comes first', () => {
  before(rec('often', { lastConnected: 100, successes: 5 }), rec('rarely', { lastConnected: 100, successes: 1, value: 99 }))
})

test('then the higher tag value comes first', () => {
  before(rec('rich', { value: 10 }), rec('poor', { value: 2 }))
  before(rec('zero', { value: 0 }), rec('negative', { value: -5 }))
  before(rec('rich', { value: 10, attempts: 4 }), rec('poor', { value: 2 }), notNeeded, 'value outranks never-tried')
})

test('last, a never-tried peer comes before one tried and never connected', () => {
  before(rec('untried', { attempts: 0 }), rec('tried', { attempts: 1, failures: 1 }))
  assert.equal(cmp(rec('t1', { attempts: 1 }), rec('t2', { attempts: 7 })), -1, 'how often does not matter (then first known first)')
  assert.equal(cmp(rec('t3', { attempts: 7 }), rec('t4', { attempts: 1 })), -1, 'how often does not matter either way')
})

test('the comparator is antisymmetric and transitive over a mixed population', () => {
  const pop: PeerRecord[] = []
  let i = 0
  for (const bootstrap of [false, true]) {
    for (const failures of [0, 3]) {
      for (const priority of ['high', 'medium', 'low'] as const) {
        for (const longTerm of [false, true]) {
          for (const lastConnected of [NaN, 10, 20]) {
            pop.push(rec(`p${i++}`, { bootstrap, failures, priority, longTerm, lastConnected, successes: i % 3, value: i % 4, attempts: (i % 2) + failures }))
          }
        }
      }
    }
  }
  const needed = (r: PeerRecord): boolean => Number(r.key.slice(1)) % 5 === 0
  for (const a of pop) {
    for (const b of pop) {
      const ab = cmp(a, b, needed)
      const ba = cmp(b, a, needed)
      assert.equal(ab === 0 ? 0 : -ab, ba === 0 ? 0 : ba, `${a.key} vs ${b.key}`)
    }
  }
  // Transitivity: a sorted order never has a later element strictly before an earlier one.
  const sorted = pop.slice().sort((a, b) => compareCandidates(a, b, needed))
  for (let x = 0; x < sorted.length; x++) {
    for (let y = x + 1; y < sorted.length; y++) {
      assert.ok(cmp(sorted[x], sorted[y], needed) <= 0, `${sorted[x].key} then ${sorted[y].key}`)
    }
  }
})

// ── pickCandidates ──────────────────────────────────────────────────────────

function population (): PeerRecord[] {
  const out: PeerRecord[] = []
  const priorities = ['high', 'medium', 'low'] as const
  for (let i = 0; i < 40; i++) {
    out.push(rec(`r${i}`, {
      priority: priorities[i % 3],
      bootstrap: i % 11 === 0,
      failures: i % 7 === 0 ? 3 : 0,
      longTerm: i % 13 === 0,
      lastConnected: i % 4 === 0 ? i : NaN,
      value: i % 5,
      attempts: i % 2
    }))
  }
  return shuffled(out, 11)
}

const byRank = (a: PeerRecord, b: PeerRecord): number => compareCandidates(a, b, notNeeded)

test('pickCandidates returns the best k records, best first, as a full stable sort would', () => {
  const records = population()
  const expected = records.slice().sort(byRank)
  for (const k of [1, 2, 3, 5, 8, 17, 40]) {
    const picked = pickCandidates(records, k, () => true, byRank)
    assert.deepEqual(picked.map((r) => r.key), expected.slice(0, k).map((r) => r.key), `k = ${k}`)
  }
})

test('pickCandidates skips what eligible refuses', () => {
  const records = population()
  const eligible = (r: PeerRecord): boolean => r.priority !== 'high' && !r.bootstrap
  const expected = records.filter(eligible).sort(byRank)
  const picked = pickCandidates(records, 6, eligible, byRank)
  assert.equal(picked.length, 6)
  assert.ok(picked.every(eligible))
  assert.deepEqual(picked.map((r) => r.key), expected.slice(0, 6).map((r) => r.key))
})

test('pickCandidates returns fewer than k when fewer are eligible, and nothing for k <= 0', () => {
  const records = [rec('a', { priority: 'low' }), rec('b', { priority: 'high' }), rec('c'), rec('d', { bootstrap: true })]
  assert.deepEqual(pickCandidates(records, 10, (r) => r.key !== 'c', byRank).map((r) => r.key), ['b', 'a', 'd'])
  assert.deepEqual(pickCandidates(records, 0, () => true, byRank), [])
  assert.deepEqual(pickCandidates(records, -3, () => true, byRank), [])
  assert.deepEqual(pickCandidates([], 5, () => true, byRank), [])
})

test('pickCandidates breaks ties by input order', () => {
  const records = ['e', 'd', 'c', 'b', 'a'].map((id) => rec(id))
  assert.deepEqual(pickCandidates(records, 3, () => true, byRank).map((r) => r.key), ['e', 'd', 'c'])
  const mixed = [rec('x'), rec('h1', { priority: 'high' }), rec('y'), rec('h2', { priority: 'high' })]
  assert.deepEqual(pickCandidates(mixed, 3, () => true, byRank).map((r) => r.key), ['h1', 'h2', 'x'])
})

test('pickCandidates accepts any iterable (the peer book hands it an iterator)', () => {
  const records = [rec('a', { priority: 'low' }), rec('b', { priority: 'high' }), rec('c')]
  const picked = pickCandidates(new Map(records.map((r) => [r.key, r])).values(), 2, () => true, byRank)
  assert.deepEqual(picked.map((r) => r.key), ['b', 'c'])
})

// ── orderAddresses ──────────────────────────────────────────────────────────

test('orderAddresses keeps the given order when nothing is known about the addresses, and returns a copy', () => {
  const r = rec('p', { addresses: ['mem://a', 'mem://b', 'mem://c'] })
  const ordered = orderAddresses(r)
  assert.deepEqual(ordered, ['mem://a', 'mem://b', 'mem://c'])
  assert.notEqual(ordered, r.addresses)
  ordered.reverse()
  assert.deepEqual(r.addresses, ['mem://a', 'mem://b', 'mem://c'], 'the record is not changed')
})

test('orderAddresses puts the address that worked most recently first and failing ones last', () => {
  const r = rec('p', { addresses: ['mem://fails-twice', 'mem://fails-once', 'mem://unknown', 'mem://old-ok', 'mem://new-ok'] })
  r.addressStats = AddressStats.from([
    ['mem://fails-twice', { ok: -Infinity, fails: 2 }],
    ['mem://fails-once', { ok: 900, fails: 1 }],
    ['mem://old-ok', { ok: 100, fails: 0 }],
    ['mem://new-ok', { ok: 500, fails: 0 }]
  ])
  assert.deepEqual(orderAddresses(r), ['mem://new-ok', 'mem://old-ok', 'mem://unknown', 'mem://fails-once', 'mem://fails-twice'])
})

test('orderAddresses keeps the given order among addresses with the same record', () => {
  const r = rec('p', { addresses: ['mem://x', 'mem://y', 'mem://z'] })
  r.addressStats = AddressStats.from([['mem://y', { ok: -Infinity, fails: 1 }]])
  assert.deepEqual(orderAddresses(r), ['mem://x', 'mem://z', 'mem://y'])
})
