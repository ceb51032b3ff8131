import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { ManualClock, MemoryNetwork } from '../../src/testing/index.js'

// docs/concepts.md: "permanent: redialled after every loss", and initial sync closes outbound
// connections "permanent peers aside" and dials only the sync peer. Together: a permanent peer lost
// during initial sync is redialled (found untested when the redial rule was deleted).

test('a permanent peer lost during initial sync is redialled, while no other peer is dialled', async () => {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const [sync, other, permanent] = ['s', 'o', 'p'].map((id) => net.addNode(id))
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, random: () => 0.5, lowWater: 2 })
  me.bind(m)
  const started: string[] = []
  m.events.addEventListener('dial:started', (e) => { started.push(e.detail.address) })
  m.addPeers([{ id: 's', address: 'mem://s' }, { id: 'o', address: 'mem://o' }])
  m.start()
  await clock.advance(0)
  m.addPeers([{ id: 'p', address: 'mem://p' }])
  await m.connectNow('p', { permanent: true })
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['o', 'p', 's'])

  m.initialSync.start('s')
  await clock.advance(0)
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['p', 's'], 'the sync peer and the permanent peer stay')
  started.length = 0

  const toMe = permanent!.connections().find((c) => c.peer === 'me')
  assert.ok(toMe !== undefined)
  toMe.close('bye')
  assert.equal(m.getPeer('p')?.connected, false)
  await clock.advance(120_000)
  assert.equal(m.getPeer('p')?.connected, true, 'the permanent peer is back')
  assert.ok(started.includes('mem://p'))
  assert.ok(!started.includes('mem://o'), 'initial sync still dials nothing else')
  assert.ok(sync !== undefined && other !== undefined)
  await m.close()
})
