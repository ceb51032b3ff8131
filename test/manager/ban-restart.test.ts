import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager, memoryStore } from '../../src/index.js'
import type { ConnectionManager, PeerStore } from '../../src/index.js'
import { ManualClock, MemoryNetwork } from '../../src/testing/index.js'

// Bans must hold in every corner: here, across a restart from the peer store, and when the banned
// peer is met again through a topic the manager dials for.

/** A manager as node 'me' on `net`, on `store`, dialing over the network; every dial recorded. */
function managerOn (net: MemoryNetwork, clock: ManualClock, store: PeerStore, dialled: string[]): ConnectionManager {
  const me = net.node('mem://me') ?? net.addNode('me')
  const m = createConnectionManager({
    localPeer: 'me',
    clock,
    random: () => 0.5,
    lowWater: 4,
    highWater: 8,
    store,
    dial: async (address, opts) => { dialled.push(address); return await me.dial(address, opts) }
  })
  me.bind(m)
  return m
}

test('a ban survives a restart from the store: the restarted manager never dials the peer, refuses it inbound, and connectNow fails ERR_BANNED', async () => {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  for (const id of ['good', 'evil']) net.addNode(id)
  const store = memoryStore()
  const dialled: string[] = []
  const first = managerOn(net, clock, store, dialled)
  first.addPeers([{ id: 'good', address: 'mem://good' }, { id: 'evil', address: 'mem://evil', longTerm: true }])
  first.start()
  await clock.advance(1000)
  assert.equal(first.getPeer('evil')?.connected, true, 'the peer was connected before the ban')
  first.setPriority([{ peer: 'evil', priority: 'banned' }])
  await first.close()

  dialled.length = 0
  const second = managerOn(net, clock, store, dialled)
  await second.ready()
  second.start()
  await clock.advance(120_000)
  assert.equal(second.getPeer('evil')?.priority, 'banned', 'the ban was restored')
  assert.ok(dialled.includes('mem://good'), 'the restarted manager dials its other peers')
  assert.ok(!dialled.includes('mem://evil'), 'it never dials the banned one')
  // The banned peer dials in: refused.
  await net.node('mem://evil')!.dial('mem://me', { signal: new AbortController().signal }).catch(() => {})
  await clock.advance(10)
  assert.equal(second.getPeer('evil')?.connected, false, 'refused inbound')
  await assert.rejects(second.connectNow('mem://evil'), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_BANNED')
  assert.equal(second.stats().banned, 1)
  await second.close()
})

test('a banned peer met again through a topic under its quota is never dialled, and its topic hint does not lift the ban', async () => {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  for (const id of ['a', 'b', 'evil']) net.addNode(id)
  const dialled: string[] = []
  const m = managerOn(net, clock, memoryStore(), dialled)
  m.setPriority([{ peer: 'evil', priority: 'banned' }])
  m.setTopicQuota('chat', { min: 3 })
  m.start()
  // Found on the topic, as discovery reports peers: the banned one among them, as a hint.
  m.addPeers([{ id: 'a', address: 'mem://a', topics: ['chat'] }, { id: 'evil', addresses: ['mem://evil'], topics: ['chat'], hint: true }, { id: 'b', address: 'mem://b', topics: ['chat'] }])
  await clock.advance(120_000)
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['a', 'b'])
  assert.ok(!dialled.includes('mem://evil'), 'the quota never dials a banned topic peer')
  assert.equal(m.getPeer('evil')?.priority, 'banned')
  await m.close()
})
