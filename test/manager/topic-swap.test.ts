import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// At the bound, a newcomer of a topic may take a topic peer's place: the topic keeps its count.
// Regression: seven corestore nodes at lowWater = highWater = 3 (the node's quota min is 3 too)
// settled into a full group of four, writer included, whose every connection kept the topic at its
// min, so each refused every other reader ('over-limit'); three readers never got a block.

async function fullOfTopicPeers (): Promise<ReturnType<typeof manager>> {
  const h = manager({ lowWater: 3, highWater: 3, gracePeriod: 10 })
  h.m.start()
  h.m.setTopicQuota('chat', { min: 3 })
  for (const p of ['a', 'b', 'c']) {
    h.m.addPeers([{ id: p, topics: ['chat'] }])
    assert.equal(h.m.connected(testConnection(p)), true)
  }
  await h.clock.advance(20)
  return h
}

test('a full node whose every connection keeps a topic at its min admits a newcomer of that topic in place of one of them', async () => {
  const { m } = await fullOfTopicPeers()
  m.addPeers([{ id: 'd', topics: ['chat'] }])
  assert.equal(m.connected(testConnection('d')), true)
  assert.equal(m.stats().connections, 3)
  assert.equal(m.getPeer('d')?.connected, true)
  assert.equal(['a', 'b', 'c'].filter((p) => m.getPeer(p)?.connected === true).length, 2)
  assert.deepEqual(m.stats().topics, [{ topic: 'chat', min: 3, effectiveMin: 3, connected: 3 }])
  await m.close()
})

test('a newcomer of no quota topic is still refused there; a newcomer of the topic after them is admitted', async () => {
  const { m } = await fullOfTopicPeers()
  assert.equal(m.connected(testConnection('x')), false, 'a stranger may not take the place of a peer the topic needs')
  m.addPeers([{ id: 'y', topics: ['other'] }])
  assert.equal(m.connected(testConnection('y')), false)
  m.addPeers([{ id: 'd', topics: ['chat'] }])
  assert.equal(m.connected(testConnection('d')), true)
  assert.equal(m.stats().connections, 3)
  await m.close()
})

test('admits() agrees with connected() when the newcomer serves the topic only through its address record', async () => {
  // Found by the property test: admits() previewed the merge of the peer's own record with the one
  // known by its address without the address record's topics, so it refused what connected() took.
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials') }, clock, lowWater: 0, highWater: 1, gracePeriod: 50, silencePeriod: 100 })
  const [a0, a2] = ['tcp://10.1.0.1:1', 'tcp://10.1.0.3:1']
  assert.equal(m.connected(testConnection('b', { direction: 'inbound', address: a0 })), true)
  m.setTopicQuota('t1', { min: 1 })
  m.addPeers([{ address: a0, topics: ['t1'] }, { address: a2, topics: ['t1'] }])
  m.addPeers([{ id: 'b', address: a0 }])
  await clock.advance(1000)
  m.addPeers([{ id: 'a', address: a0 }])
  const said = m.admits('a', a2)
  assert.equal(said, true, 'a serves t1 through the record known by its address: it may take b\'s place')
  assert.equal(m.connected(testConnection('a', { direction: 'inbound', address: a2 })), said)
  await m.close()
})
