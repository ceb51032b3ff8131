import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager, memoryStore } from '../../src/index.js'
import type { ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

// A record known by address only learns its id (a connection, or addPeers with id and address); when
// the id already has a record, the two merge. The stronger setting wins: banned over anything,
// permanent / long-term / bootstrap kept, topics united, tags summed by name.

const A = 'tcp://10.0.0.1:4001'

test('a record known by address merges into the id\'s record keeping long-term, permanent and topics (regression: only the addresses survived)', async () => {
  const clock = new ManualClock()
  const dial: ConnectionManagerOptions['dial'] = async (address) => testConnection('bob', { direction: 'outbound', address })
  const m = createConnectionManager({ dial, clock })
  m.tagPeer('bob', 'app', 2)
  m.addPeers([{ address: A, longTerm: true, topics: ['chat'] }])
  await m.connectNow(A, { permanent: true })
  const bob = m.getPeer('bob')
  assert.equal(bob?.connected, true)
  assert.equal(bob?.longTerm, true)
  assert.equal(bob?.protected, true, 'permanent: protected')
  assert.equal(m.isProtected('bob'), true)
  assert.deepEqual(bob?.topics, ['chat'])
  assert.deepEqual(bob?.addresses, [A])
  assert.equal(bob?.value, 2)
  assert.equal(m.getPeer(A)?.id, 'bob', 'the address now names bob')
  assert.equal(m.stats().known, 1)
  await m.close()
})

test('a ban given by address survives the merge: the peer dialling in from that address is refused (regression: it was accepted)', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  m.tagPeer('bob', 'app', 1)
  m.setPriority([{ peer: A, priority: 'banned' }])
  assert.equal(m.stats().banned, 1)
  const conn = testConnection('bob', { direction: 'inbound', address: A })
  assert.equal(m.connected(conn), false)
  assert.equal(conn.closeReason, 'banned')
  assert.equal(m.getPeer('bob')?.priority, 'banned')
  assert.equal(m.stats().banned, 1, 'one banned peer, counted once')
  await m.close()
})

test('merging two banned records counts one ban (regression: stats().banned kept counting the lost record)', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  m.setPriority([{ peer: 'bob', priority: 'banned' }, { peer: A, priority: 'banned' }])
  assert.equal(m.stats().banned, 2)
  m.addPeers([{ id: 'bob', address: A }])
  assert.equal(m.stats().known, 1)
  assert.equal(m.stats().banned, 1)
  await m.close()
})

test('a merge into a connected peer that brings a ban closes its connection with banned', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  const bob = testConnection('bob', { direction: 'inbound', address: 'tcp://10.0.0.9:5000' })
  assert.equal(m.connected(bob), true)
  m.setPriority([{ peer: A, priority: 'banned' }])
  m.addPeers([{ id: 'bob', address: A }])
  assert.equal(bob.closeReason, 'banned')
  assert.equal(m.stats().connections, 0)
  await m.close()
})

test('a merge unites topics, sums tags by name, keeps bootstrap and the higher priority, and the store keeps one row', async () => {
  const store = memoryStore()
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), store })
  m.addPeers([{ id: 'bob', topics: ['a'], priority: 'low' }])
  m.tagPeer('bob', 'x', 1)
  m.addPeers([{ address: A, topics: ['b'], bootstrap: true, priority: 'high' }])
  m.addPeers([{ id: 'bob', address: A }])
  const bob = m.getPeer('bob')
  assert.deepEqual(bob?.topics.slice().sort(), ['a', 'b'])
  assert.equal(bob?.bootstrap, true)
  assert.equal(bob?.priority, 'high')
  assert.equal(bob?.value, 1)
  await m.close()
  const rows = await store.load()
  assert.deepEqual(rows.map((r) => r.key), ['bob'])
})
