import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RendezvousTable } from '../../src/node/rendezvous.js'

/** A table on a fake clock that the test moves by hand. */
function table (limits?: { perTopic: number; maxTopics: number; maxTtl: number }): { rv: RendezvousTable; at: (t: number) => void } {
  let now = 0
  const rv = limits === undefined ? new RendezvousTable(() => now) : new RendezvousTable(() => now, limits)
  return { rv, at: (t) => { now = t } }
}

const ids = (regs: Array<{ id: string }>): string[] => regs.map((r) => r.id)

test('an announcement is returned until its ttl has passed, then never again', () => {
  const { rv, at } = table()
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 1000)
  at(0)
  assert.deepEqual(ids(rv.lookup('t')), ['a'])
  at(999)
  assert.deepEqual(ids(rv.lookup('t')), ['a'])
  at(1001)
  assert.deepEqual(rv.lookup('t'), [])
  at(500) // even if the clock were read earlier again, the expired entry is gone for good
  assert.deepEqual(rv.lookup('t'), [])
  assert.equal(rv.size, 0, 'a topic whose registrations all expired is dropped')
})

test('a registration carries the announced addresses and its expiry time', () => {
  const { rv, at } = table()
  at(100)
  rv.announce('t', 'a', ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2'], 1000)
  assert.deepEqual(rv.lookup('t'), [{ id: 'a', addresses: ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2'], expires: 1100 }])
})

test('a ttl longer than maxTtl is capped at maxTtl', () => {
  const { rv, at } = table({ perTopic: 10, maxTopics: 10, maxTtl: 5000 })
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 1_000_000)
  at(4999)
  assert.deepEqual(ids(rv.lookup('t')), ['a'])
  at(5001)
  assert.deepEqual(rv.lookup('t'), [])
})

test('announcing again replaces the previous registration of the same peer', () => {
  const { rv, at } = table()
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 1000)
  at(600)
  rv.announce('t', 'a', ['tcp://127.0.0.1:2'], 1000)
  const regs = rv.lookup('t')
  assert.equal(regs.length, 1, 'one registration per peer and topic')
  assert.deepEqual(regs[0].addresses, ['tcp://127.0.0.1:2'])
  at(1200) // past the first announcement's expiry, within the second's
  assert.deepEqual(ids(rv.lookup('t')), ['a'])
  at(1601)
  assert.deepEqual(rv.lookup('t'), [])
})

test('a re-announcement with a shorter ttl shortens the registration', () => {
  const { rv, at } = table()
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 10_000)
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 100)
  at(101)
  assert.deepEqual(rv.lookup('t'), [])
})

test('a full topic evicts the registration that expires soonest', () => {
  const { rv } = table({ perTopic: 3, maxTopics: 10, maxTtl: 1_000_000 })
  rv.announce('t', 'p1', ['tcp://127.0.0.1:1'], 500)
  rv.announce('t', 'p2', ['tcp://127.0.0.1:2'], 100)
  rv.announce('t', 'p3', ['tcp://127.0.0.1:3'], 300)
  rv.announce('t', 'p4', ['tcp://127.0.0.1:4'], 400)
  assert.deepEqual(ids(rv.lookup('t')).sort(), ['p1', 'p3', 'p4'])
  rv.announce('t', 'p5', ['tcp://127.0.0.1:5'], 1000)
  assert.deepEqual(ids(rv.lookup('t')).sort(), ['p1', 'p4', 'p5'], 'p3 (expiring at 300) goes next')
})

test('re-announcing in a full topic does not evict anyone', () => {
  const { rv } = table({ perTopic: 2, maxTopics: 10, maxTtl: 1_000_000 })
  rv.announce('t', 'p1', ['tcp://127.0.0.1:1'], 100)
  rv.announce('t', 'p2', ['tcp://127.0.0.1:2'], 200)
  rv.announce('t', 'p1', ['tcp://127.0.0.1:1'], 300)
  assert.deepEqual(ids(rv.lookup('t')).sort(), ['p1', 'p2'])
})

test('the table holds at most maxTopics topics and takes new ones again once a topic is gone', () => {
  const { rv } = table({ perTopic: 10, maxTopics: 2, maxTtl: 1_000_000 })
  rv.announce('t1', 'a', ['tcp://127.0.0.1:1'], 1000)
  rv.announce('t2', 'a', ['tcp://127.0.0.1:1'], 1000)
  rv.announce('t3', 'a', ['tcp://127.0.0.1:1'], 1000)
  assert.equal(rv.size, 2)
  assert.deepEqual(rv.lookup('t3'), [], 'a topic beyond maxTopics is not stored')
  // Existing topics still take new registrations at the cap.
  rv.announce('t1', 'b', ['tcp://127.0.0.1:2'], 1000)
  assert.deepEqual(ids(rv.lookup('t1')).sort(), ['a', 'b'])
  rv.unannounce('t2', 'a')
  assert.equal(rv.size, 1)
  rv.announce('t3', 'a', ['tcp://127.0.0.1:1'], 1000)
  assert.deepEqual(ids(rv.lookup('t3')), ['a'])
})

test('lookup returns the freshest registrations first and at most limit of them', () => {
  const { rv, at } = table()
  at(0)
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 1000)
  at(10)
  rv.announce('t', 'b', ['tcp://127.0.0.1:2'], 1000)
  at(20)
  rv.announce('t', 'c', ['tcp://127.0.0.1:3'], 1000)
  at(30)
  rv.announce('t', 'd', ['tcp://127.0.0.1:4'], 1000)
  assert.deepEqual(ids(rv.lookup('t')), ['d', 'c', 'b', 'a'])
  assert.deepEqual(ids(rv.lookup('t', 2)), ['d', 'c'])
  // A peer that refreshes its announcement becomes the freshest.
  at(40)
  rv.announce('t', 'a', ['tcp://127.0.0.1:1'], 1000)
  assert.deepEqual(ids(rv.lookup('t', 2)), ['a', 'd'])
})

test('lookup of an unknown topic is empty and topics do not leak into each other', () => {
  const { rv } = table()
  rv.announce('t1', 'a', ['tcp://127.0.0.1:1'], 1000)
  assert.deepEqual(rv.lookup('nope'), [])
  assert.deepEqual(rv.lookup('t2'), [])
  assert.deepEqual(ids(rv.lookup('t1')), ['a'])
})

test('unannounce removes only that peer from only that topic, and is harmless when nothing matches', () => {
  const { rv } = table()
  rv.announce('t1', 'a', ['tcp://127.0.0.1:1'], 1000)
  rv.announce('t1', 'b', ['tcp://127.0.0.1:2'], 1000)
  rv.announce('t2', 'a', ['tcp://127.0.0.1:1'], 1000)
  rv.unannounce('t1', 'a')
  assert.deepEqual(ids(rv.lookup('t1')), ['b'])
  assert.deepEqual(ids(rv.lookup('t2')), ['a'])
  rv.unannounce('t1', 'zzz')
  rv.unannounce('unknown', 'a')
  assert.deepEqual(ids(rv.lookup('t1')), ['b'])
  rv.unannounce('t1', 'b')
  assert.deepEqual(rv.lookup('t1'), [])
  assert.equal(rv.size, 1)
})
