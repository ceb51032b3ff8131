import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

// stats().refused and stats().closed: the refusals and the closes by reason since creation (the
// concepts promised "trims, refusals by reason" among the figures of stats(), and no figure counted them).

const from = (peer: string, address: string, direction: 'inbound' | 'outbound' = 'inbound'): TestConnection => new TestConnection({ peer, direction, address })

test('stats().refused counts the connections connected() refused, by reason, and stats().closed the ones the manager closed, by reason', async () => {
  const clock = new ManualClock(0)
  const m = createConnectionManager({ localPeer: 'me', clock, random: () => 0.5, lowWater: 1, highWater: 2, gracePeriod: 1_000, deny: ['10.9.0.0/16'], dial: async () => { throw new Error('no dials') } })
  assert.deepEqual(m.stats().refused, {})
  assert.deepEqual(m.stats().closed, {})
  m.connected(from('a', 'tcp://10.0.0.1:1'))
  m.connected(from('b', 'tcp://10.0.0.2:1'))
  m.connected(from('c', 'tcp://10.0.0.3:1')) // at highWater, a and b in grace: over-limit
  m.connected(from('d', 'tcp://10.9.1.1:1')) // denied
  m.connected(from('a', 'tcp://10.0.0.1:2')) // a second inbound of a: duplicate
  assert.deepEqual(m.stats().refused, { 'over-limit': 1, denied: 1, duplicate: 1 })
  m.setPriority([{ peer: 'b', priority: 'banned' }]) // closes b
  m.connected(from('b', 'tcp://10.0.0.2:2')) // refused banned
  await clock.advance(2_000)
  m.connected(from('e', 'tcp://10.0.0.5:1'))
  m.connected(from('f', 'tcp://10.0.0.6:1')) // at highWater: evicts a (out of grace)
  await m.trim() // down to lowWater 1: nothing trimmable beyond the newcomers in grace
  await clock.advance(2_000)
  await m.trim() // e and f out of grace: one goes
  await m.stop() // the last one closes 'stopped'
  assert.deepEqual(m.stats().refused, { 'over-limit': 1, denied: 1, duplicate: 1, banned: 1 })
  assert.deepEqual(m.stats().closed, { banned: 1, trimmed: 2, stopped: 1 })
  const copy = m.stats().closed
  copy.trimmed = 99
  assert.equal(m.stats().closed.trimmed, 2, 'a copy: the caller cannot rewrite the figures')
  await m.close()
})
