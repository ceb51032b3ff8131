import assert from 'node:assert/strict'
import { test } from 'node:test'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// Topic quotas and the bound: a quota's `min` keeps peers of the topic from being trimmed, but never
// above highWater — the bound wins.

test('a topic quota whose min is above highWater does not keep the count above highWater (regression: quota min 3 with setWatermarks(1, 2) kept 3 connections)', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 5, gracePeriod: 10, silencePeriod: 100 })
  m.start()
  m.setTopicQuota('chat', { min: 3 })
  for (const p of ['a', 'b', 'c']) {
    m.addPeers([{ id: p, topics: ['chat'] }])
    m.connected(testConnection(p))
  }
  await clock.advance(20)
  m.setWatermarks(1, 2)
  await clock.advance(60_000)
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('stats() shows each quota with its min as set and as capped by highWater', async () => {
  const { m } = manager({ lowWater: 1, highWater: 2 })
  m.setTopicQuota('chat', { min: 3, max: 4 })
  m.addPeers([{ id: 'a', topics: ['chat'] }])
  m.connected(testConnection('a'))
  assert.deepEqual(m.stats().topics, [{ topic: 'chat', min: 3, max: 4, effectiveMin: 2, connected: 1 }])
  await m.close()
})

test('a trim that takes a peer below its topic\'s min because of the bound says so in explain()', async () => {
  const { m, clock } = manager({ lowWater: 2, highWater: 3, gracePeriod: 10 })
  m.start()
  m.setTopicQuota('chat', { min: 3 })
  for (const p of ['a', 'b', 'c']) {
    m.addPeers([{ id: p, topics: ['chat'] }])
    m.connected(testConnection(p))
  }
  await clock.advance(20)
  m.setWatermarks(1, 2)
  assert.equal(m.stats().connections, 2)
  const trimmed = ['a', 'b', 'c'].find((p) => m.getPeer(p)?.connected !== true)!
  assert.ok(m.explain(trimmed).some((d) => /capped by highWater/.test(d.reason)), JSON.stringify(m.explain(trimmed)))
  await m.close()
})

test('quotas of several topics that add up above highWater yield to the bound, lowest-ranked peers first', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 5, gracePeriod: 10, silencePeriod: 100 })
  m.start()
  m.setTopicQuota('a', { min: 2 })
  m.setTopicQuota('b', { min: 2 })
  for (const [p, t] of [['a1', 'a'], ['a2', 'a'], ['b1', 'b'], ['b2', 'b']]) {
    m.addPeers([{ id: p, topics: [t] }])
    m.connected(testConnection(p))
  }
  m.tagPeer('a1', 'keep', 10)
  m.tagPeer('b1', 'keep', 10)
  await clock.advance(20)
  m.setWatermarks(1, 2)
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['a1', 'b1'])
  await clock.advance(60_000)
  assert.equal(m.stats().connections, 2)
  await m.close()
})
