import assert from 'node:assert/strict'
import { test } from 'node:test'
import { heldDials, inbound } from './held-dials.js'

// "The bound can be lost in corners": dials that land after inbound connections filled the bound,
// peers the manager may not trim (permanent, long-term, a topic's min), initial sync — in each the
// connection count stays at or under highWater.

test('dials in flight that land after inbound connections filled highWater never take the count above it, whether those are in their grace period or past it', async () => {
  for (const wait of [0, 30_000]) {
    const { m, clock, held } = heldDials({ lowWater: 4, highWater: 4 })
    m.addPeers(['a', 'b', 'c', 'd'].map((id) => ({ id, address: `mem://${id}` })))
    m.start()
    await clock.advance(10)
    assert.equal(held.length, 4, 'four dials in flight')
    for (const id of ['p', 'q', 'r', 's']) assert.equal(m.connected(inbound(id)), true)
    await clock.advance(wait)
    for (const dial of held.splice(0)) dial.land()
    await clock.advance(10)
    assert.equal(m.stats().connections, 4, `after waiting ${wait} ms`)
    await m.close()
  }
})

test('dials toward lowWater and toward a topic quota racing inbound connections keep the count at highWater', async () => {
  const low = heldDials({ lowWater: 10, highWater: 10 })
  low.m.addPeers(Array.from({ length: 20 }, (_, i) => ({ id: `n${i}`, address: `mem://n${i}` })))
  low.m.start()
  await low.clock.advance(10)
  for (let i = 0; i < 8; i++) low.m.connected(inbound(`in${i}`))
  for (const dial of low.held.splice(0)) dial.land()
  await low.clock.advance(10)
  assert.equal(low.m.stats().connections, 10)
  await low.m.close()

  const quota = heldDials({ lowWater: 1, highWater: 3 })
  quota.m.setTopicQuota('t', { min: 3 })
  quota.m.addPeers(Array.from({ length: 5 }, (_, i) => ({ id: `t${i}`, address: `mem://t${i}`, topics: ['t'] })))
  quota.m.start()
  await quota.clock.advance(10)
  assert.ok(quota.held.length >= 3, 'the quota dials')
  for (const id of ['p', 'q', 'r']) quota.m.connected(inbound(id))
  for (const dial of quota.held.splice(0)) dial.land()
  await quota.clock.advance(10)
  assert.equal(quota.m.stats().connections, 3)
  await quota.m.close()
})

test('permanent peers filling highWater: a stranger is refused over-limit and the count stays', async () => {
  const { m, clock, landing } = heldDials({ lowWater: 2, highWater: 2 })
  for (const id of ['a', 'b']) {
    const done = m.connectNow(`mem://${id}`, { permanent: true })
    await clock.advance(1)
    landing(`mem://${id}`, id)
    await done
  }
  m.start()
  await clock.advance(60_000)
  const stranger = inbound('z')
  assert.equal(m.connected(stranger), false)
  assert.equal(stranger.closeReason, 'over-limit')
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['a', 'b'])
  await m.close()
})

test('long-term peers filling highWater are trimmed last, not never: a newcomer takes one\'s place and the count stays', async () => {
  const { m, clock } = heldDials({ lowWater: 2, highWater: 2 })
  m.addPeers([{ id: 'a', address: 'mem://a', longTerm: true }, { id: 'b', address: 'mem://b', longTerm: true }])
  for (const id of ['a', 'b']) m.connected(inbound(id))
  await clock.advance(60_000)
  assert.equal(m.connected(inbound('z')), true)
  assert.equal(m.stats().connections, 2)
  assert.ok(m.getPeer('z')?.connected)
  await m.close()
})

test('peers a topic quota needs, filling highWater: a stranger of no topic is refused over-limit', async () => {
  const { m, clock } = heldDials({ lowWater: 2, highWater: 2 })
  m.setTopicQuota('t', { min: 2 })
  m.addPeers([{ id: 'a', address: 'mem://a', topics: ['t'] }, { id: 'b', address: 'mem://b', topics: ['t'] }])
  for (const id of ['a', 'b']) m.connected(inbound(id))
  await clock.advance(60_000)
  const stranger = inbound('z')
  assert.equal(m.connected(stranger), false)
  assert.equal(stranger.closeReason, 'over-limit')
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('initial sync at highWater: the sync peer\'s dial is refused while the inbound peers are in grace, and takes a place once they are past it; the count never exceeds highWater', async () => {
  const { m, clock, held, landing } = heldDials({ lowWater: 2, highWater: 2 })
  m.addPeers([{ id: 'a', address: 'mem://a' }])
  m.start()
  m.initialSync.start('a')
  for (const id of ['p', 'q']) m.connected(inbound(id))
  await clock.advance(10)
  assert.equal(landing('mem://a')?.closeReason, 'over-limit')
  assert.equal(m.stats().connections, 2)
  for (let i = 0; i < 20 && m.getPeer('a')?.connected !== true; i++) {
    await clock.advance(10_000)
    for (const dial of held.splice(0)) dial.land()
    assert.ok(m.stats().connections <= 2)
  }
  assert.equal(m.getPeer('a')?.connected, true, 'the sync peer got in')
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('a dial and an inbound connection of the same peer at highWater 1 end as one connection', async () => {
  const { m, clock, landing } = heldDials({ lowWater: 1, highWater: 1 })
  m.addPeers([{ id: 'a', address: 'mem://a' }])
  m.start()
  await clock.advance(10)
  m.connected(inbound('a'))
  landing('mem://a')
  await clock.advance(10)
  assert.equal(m.stats().connections, 1)
  await m.close()
})

test('a connectNow and an allow-listed newcomer at highWater take a trimmable peer\'s place rather than pass the bound', async () => {
  const { m, clock, landing } = heldDials({ lowWater: 2, highWater: 2, allow: ['friend'] })
  for (const id of ['a', 'b']) m.connected(inbound(id))
  await clock.advance(30_000)
  const now = m.connectNow('mem://z')
  await clock.advance(1)
  landing('mem://z', 'z')
  await now
  assert.equal(m.stats().connections, 2, 'connectNow evicted one')
  await clock.advance(30_000)
  assert.equal(m.connected(inbound('friend')), true)
  assert.equal(m.stats().connections, 2, 'the allow-listed newcomer evicted one')
  assert.ok(m.getPeer('z')?.connected === true || m.getPeer('friend')?.connected === true)
  await m.close()
})

test('a bootstrap connection, which does not count toward lowWater, still counts toward highWater', async () => {
  const { m, clock, held } = heldDials({ lowWater: 2, highWater: 3 })
  m.addPeers([{ id: 'boot', address: 'mem://boot', bootstrap: true }])
  m.start()
  await clock.advance(10)
  for (const dial of held.splice(0)) dial.land()
  assert.equal(m.getPeer('boot')?.connected, true)
  m.addPeers(['a', 'b', 'c', 'd'].map((id) => ({ id, address: `mem://${id}` })))
  await clock.advance(10)
  for (const id of ['p', 'q']) m.connected(inbound(id))
  for (const dial of held.splice(0)) dial.land()
  await clock.advance(10)
  assert.ok(m.stats().connections <= 3, `${m.stats().connections} connections`)
  await m.close()
})
