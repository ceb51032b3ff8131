import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addressRange, EvictionRanges, MAX_RANGES } from '../../src/manager/address-range.js'

/** A public address in the i-th /24 of 20.0.0.0/8 (a distinct range for every i < 65,536). */
const publicAt = (i: number, host = 7): string => `tcp://20.${(i >> 8) & 255}.${i & 255}.${host}:4001`

test('addressRange gives the public /24 of an IPv4 address, and none for loopback, private or reserved ones', () => {
  assert.equal(addressRange('tcp://20.1.2.3:4001', true), '20.1.2')
  assert.equal(addressRange('tcp://20.1.2.3:4001', true), '20.1.2', 'remembered: the same answer again')
  assert.equal(addressRange('tcp://127.0.0.1:4001', true), undefined)
  assert.equal(addressRange('tcp://10.1.2.3:4001', true), undefined)
  assert.equal(addressRange('tcp://192.168.1.9:4001', true), undefined)
  assert.equal(addressRange('tcp://100.64.0.1:4001', true), undefined, 'carrier-grade NAT')
  assert.equal(addressRange('tcp://240.0.0.1:4001', true), undefined, 'reserved')
  assert.equal(addressRange('tcp://10.1.2.3:4001'), '10.1.2', 'any IPv4 without publicOnly')
  assert.equal(addressRange('/dns4/example.org/tcp/4001', true), undefined, 'no IP literal')
})

test('a range that took a place waits gracePeriod; the answer follows the address asked about', () => {
  const r = new EvictionRanges()
  assert.equal(r.mayEvict(publicAt(1), 0), true)
  r.evicted(publicAt(1), 0, 1000)
  assert.equal(r.mayEvict(publicAt(1, 99), 999), false, 'another host of the same /24')
  assert.equal(r.mayEvict(publicAt(2), 999), true, 'another /24')
  // evicted() after mayEvict() of another address: the range is the one of the address given.
  r.evicted(publicAt(3), 10, 1000)
  assert.equal(r.mayEvict(publicAt(3), 500), false)
  assert.equal(r.mayEvict(publicAt(1), 1000), true, 'the wait is over at gracePeriod')
  assert.equal(r.mayEvict('tcp://10.0.0.1:1', 0), true, 'a private address is never limited')
  assert.equal(r.mayEvict(undefined, 0), true, 'nor a connection without an address')
  r.evicted(undefined, 0, 1000)
  r.evicted('tcp://127.0.0.1:1', 0, 1000)
  assert.equal(r.size, 2, 'neither takes an entry')
})

test('a flood from more ranges than the budget within one grace period keeps at most MAX_RANGES entries and forgets the oldest first', () => {
  const r = new EvictionRanges()
  const n = MAX_RANGES + 500
  for (let i = 0; i < n; i++) {
    assert.equal(r.mayEvict(publicAt(i), i), true)
    r.evicted(publicAt(i), i, 1_000_000)
    assert.ok(r.size <= MAX_RANGES, `${r.size} entries after ${i + 1} ranges`)
  }
  assert.equal(r.size, MAX_RANGES)
  assert.equal(r.mayEvict(publicAt(0), n), true, 'the oldest range was forgotten')
  assert.equal(r.mayEvict(publicAt(499), n), true)
  assert.equal(r.mayEvict(publicAt(500), n), false, 'the oldest one kept still waits')
  assert.equal(r.mayEvict(publicAt(n - 1), n), false, 'the newest waits')
})

test('expired entries are dropped as newcomers arrive, and a range that takes a place again is the newest', () => {
  const r = new EvictionRanges()
  for (let i = 0; i < 100; i++) r.evicted(publicAt(i), i, 1000)
  assert.equal(r.size, 100)
  // Range 0 takes a place again: it moves last and outlives the others.
  r.evicted(publicAt(0), 500, 1000)
  // At 1200, ranges 1..99 (ends 1001..1099) have expired; range 0 (ends 1500) has not.
  r.evicted(publicAt(1000), 1200, 1000)
  assert.equal(r.size, 2, 'the expired ones went, the live ones stay')
  assert.equal(r.mayEvict(publicAt(0), 1200), false)
  assert.equal(r.mayEvict(publicAt(1000), 1200), false)
  assert.equal(r.mayEvict(publicAt(5), 1200), true)
})

test('a relayed newcomer counts in its relay\'s range followed by /relayed: it neither waits for the relay\'s range nor makes it wait', () => {
  const relayed = `tcp://20.1.2.3:4001/relay/${'cd'.repeat(32)}`
  assert.equal(addressRange(relayed, true), '20.1.2/relayed')
  assert.equal(addressRange(`tcp://10.1.2.3:4001/relay/${'cd'.repeat(32)}`, true), undefined, 'through a private relay: not limited, as the relay')
  const r = new EvictionRanges()
  r.evicted('tcp://20.1.2.9:4001', 0, 1000)
  assert.equal(r.mayEvict(relayed, 10), true)
  r.evicted(relayed, 10, 1000)
  assert.equal(r.mayEvict(`tcp://20.1.2.3:4001/relay/${'ef'.repeat(32)}`, 20), false, 'another customer of a relay in that range')
})
