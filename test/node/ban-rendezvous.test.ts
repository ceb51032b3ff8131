import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { createConnectionManager } from '../../src/manager/index.js'
import { RendezvousTable } from '../../src/node/rendezvous.js'
import { TopicDirectory } from '../../src/node/topic-directory.js'
import { ManualClock } from '../../src/testing/manual-clock.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// Bug: a peer we banned after it registered at our rendezvous table stayed there until its
// registration expired (ten minutes at most), so we kept handing it out to every newcomer that
// asked for the topic. A ban now withdraws its registrations at once.

const T = { timeout: 30_000 }
const TOPIC = 'banned-after-registering'
const key = discoveryKey(TOPIC)

function table (point: PeerNode): RendezvousTable {
  return (point as unknown as { rendezvous: RendezvousTable }).rendezvous
}

/** A point and a node `x` registered there for the topic (for longer than the test lasts), still connected. */
async function registered (t: TestContext): Promise<{ point: PeerNode; x: PeerNode }> {
  const point = await testNode(t, { announceTtl: 600_000, manager: { lowWater: 0, highWater: 20 } })
  const x = await testNode(t, { announceTtl: 600_000, refreshInterval: 600_000, manager: { lowWater: 0, highWater: 20 } })
  await x.manager.connectNow(point.addresses[0]!)
  await x.join(TOPIC)
  await until(() => table(point).holds(key, x.id), 5000, 'the point to register x')
  return { point, x }
}

/** The peers a newcomer learns when it asks `point` for the topic. */
async function handedOut (t: TestContext, point: PeerNode): Promise<Set<string>> {
  const asker = await testNode(t, { bootstrap: [`${point.addresses[0]}#${point.id}`], manager: { lowWater: 1, highWater: 20 } })
  const learnt = new Set<string>()
  asker.manager.observePeers((peers) => { for (const p of peers) if (p.id !== undefined) learnt.add(p.id) })
  await asker.join(TOPIC)
  await until(() => asker.flushed(TOPIC), 10_000, 'the asker to look the topic up')
  return learnt
}

test('a peer banned while connected leaves our rendezvous table at once and is not handed out', T, async (t) => {
  const { point, x } = await registered(t)
  point.manager.setPriority([{ peer: x.id, priority: 'banned' }])
  assert.equal(table(point).holds(key, x.id), false, 'the ban withdrew its registration')
  assert.equal(table(point).registrations, 0, 'nothing of it is left in the table')
  assert.equal((await handedOut(t, point)).has(x.id), false, 'a newcomer asking for the topic does not learn it')
})

test('a peer banned after it disconnected, its registration still live, leaves our rendezvous table at once', T, async (t) => {
  const { point, x } = await registered(t)
  await x.manager.disconnect(point.id)
  await until(() => point.connections().length === 0, 5000, 'the point to see the close')
  assert.equal(table(point).holds(key, x.id), true, 'the registration outlives the connection')
  point.manager.setPriority([{ peer: x.id, priority: 'banned' }])
  assert.equal(table(point).holds(key, x.id), false, 'the ban withdrew its registration')
  assert.equal((await handedOut(t, point)).has(x.id), false, 'a newcomer asking for the topic does not learn it')
})

test('a banned peer lifted from the ban may register again', T, async (t) => {
  const { point, x } = await registered(t)
  point.manager.setPriority([{ peer: x.id, priority: 'banned' }])
  assert.equal(table(point).holds(key, x.id), false)
  point.manager.setPriority([{ peer: x.id, priority: 'medium' }])
  await until(() => x.connections().length === 0, 5000, 'x to see the ban close')
  await x.manager.connectNow(point.addresses[0]!)
  await until(() => table(point).holds(key, x.id), 5000, 'the point to register x again from its hello or announce')
})

test('the directory never hands out a banned peer, whatever the order of the ban and its registration (virtual time)', async () => {
  const clock = new ManualClock()
  const manager = createConnectionManager({ dial: async () => { throw new Error('no dials here') }, clock })
  const rendezvous = new RendezvousTable(() => clock.now())
  const directory = new TopicDirectory({ localId: 'us', manager, rendezvous, addresses: () => [], connections: () => [], announces: () => false })
  const evil = 'a'.repeat(64)
  const good = 'b'.repeat(64)
  rendezvous.announce(key, evil, ['127.0.0.1:4001'], 60_000)
  rendezvous.announce(key, good, ['127.0.0.1:4002'], 60_000)
  // Banned with nobody listening to the manager: only the directory's own check stands between the table and the asker.
  manager.setPriority([{ peer: evil, priority: 'banned' }])
  assert.deepEqual(directory.known(key, 'asker').map((p) => p.id), [good])
  assert.equal(rendezvous.holds(key, evil), false, 'the banned registration is dropped when met')
  await manager.close()
})
