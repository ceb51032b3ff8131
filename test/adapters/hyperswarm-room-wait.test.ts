import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { createConnectionManager } from '../../src/manager/index.js'
import { Room } from '../../src/adapters/hyperswarm/room.js'
import { DEFAULT_ROOM } from '../../src/adapters/room-policy.js'
import { ManualClock, MemoryNetwork } from '../../src/testing/index.js'

async function full (): Promise<{ m: ReturnType<typeof createConnectionManager>; net: MemoryNetwork }> {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, lowWater: 2, highWater: 3, gracePeriod: 60_000 })
  me.bind(m)
  for (const id of ['a', 'b', 'c']) await net.addNode(id).dial('mem://me', { signal: new AbortController().signal })
  assert.equal(m.stats().connections, 3)
  // Peers the manager knows (found on a topic): strangers share one release per `memory`.
  m.addPeers(['x', 'y', 'z'].map((id) => ({ id, address: `mem://${id}` })))
  return { m, net }
}

/**
 * A Room on `m` with a 40 ms interval, recording whom it dials back (a waiting peer, when its release
 * comes); closed when the test ends. Its
 * clock (its pacing and its wait for the next release) is a ManualClock of its own, moved only by
 * `advance`: on the wall clock a loaded machine could let the interval pass between two steps of a
 * test (then the second refusal was released at once).
 */
function roomOn (t: TestContext, m: ReturnType<typeof createConnectionManager>): { room: Room; dialled: string[]; advance: (ms: number) => Promise<void> } {
  const dialled: string[] = []
  // The manager's ManualClock starts at 0 and stays there: the connections' ages are the room's time
  // (younger than its tenure throughout).
  const clock = new ManualClock()
  const room = new Room(m, clock, (peer) => { dialled.push(peer) }, { ...DEFAULT_ROOM, interval: 40, memory: 30_000 })
  t.after(() => { room.close() })
  return { room, dialled, advance: async (ms) => { await clock.advance(ms) } }
}

test('room: a peer given room is let in on its own handshake, not dialled back (regression: the dial back raced the peer\'s pending attempt, Hyperswarm\'s deduplication closed it about half the time, and late joiners waited 4–52 s for their next retry)', async (t) => {
  const { m } = await full()
  const { room, dialled } = roomOn(t, m)
  assert.equal(room.refused('x'), true, 'a connection gave way: the firewall lets this handshake in')
  assert.equal(m.stats().connections, 2)
  assert.ok(m.admits('x'), 'the manager admits it now')
  assert.deepEqual(dialled, [], 'no dial back to race the peer\'s own attempt')
  await m.close()
})

test('room: a peer refused within the interval of the last release gets the next one (released and dialled back when the interval is over)', async (t) => {
  const { m, net } = await full()
  const { room, dialled, advance } = roomOn(t, m)
  assert.equal(room.refused('x'), true, 'the first refused peer is let in at once')
  assert.equal(m.stats().connections, 2)
  // The slot is taken again before the next refusal: we are at the bound.
  await net.addNode('d').dial('mem://me', { signal: new AbortController().signal })
  assert.equal(room.refused('y'), false)
  assert.deepEqual(dialled, [], 'within the interval: no release yet')
  await advance(39)
  assert.deepEqual(dialled, [], 'not before the interval is over')
  await advance(1) // the interval is over: the Room's 40 ms timer fires
  assert.deepEqual(dialled, ['y'], 'the waiting peer got the next release (its own attempt has failed by now: dialled back)')
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('room: when room opened meanwhile, the waiting peer is only dialled back, nobody else is released', async (t) => {
  const { m, net } = await full()
  const { room, dialled, advance } = roomOn(t, m)
  assert.equal(room.refused('x'), true)
  const d = net.addNode('d')
  await d.dial('mem://me', { signal: new AbortController().signal })
  assert.equal(room.refused('y'), false)
  // Before the interval is over, a peer leaves: there is room again.
  const [conn] = m.listConnections().filter((c) => c.peer === 'd')
  assert.ok(conn !== undefined)
  await m.disconnect('d')
  assert.equal(m.stats().connections, 2)
  await advance(40)
  assert.deepEqual(dialled, ['y'])
  assert.equal(m.stats().connections, 2, 'no second release: there was room')
  await m.close()
})

test('room: at highWater 1 the one connection gives way and the refused peer is let in (regression: setWatermarks(0, 0) threw out of the firewall)', async (t) => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, lowWater: 0, highWater: 1, gracePeriod: 60_000 })
  me.bind(m)
  await net.addNode('a').dial('mem://me', { signal: new AbortController().signal })
  assert.equal(m.stats().connections, 1)
  const { room, dialled } = roomOn(t, m)
  assert.equal(room.refused('x'), true)
  assert.deepEqual(dialled, [])
  assert.equal(m.stats().connections, 0)
  assert.equal(m.stats().highWater, 1, 'the bound is left as it was')
  await m.close()
})

test('room: strangers (peers the manager does not know) share one release per memory; a known peer still gets its own', async (t) => {
  const { m, net } = await full()
  const { room, dialled, advance } = roomOn(t, m)
  assert.equal(room.refused('s1'), true, 'the first stranger gets a release')
  await net.addNode('d').dial('mem://me', { signal: new AbortController().signal })
  await advance(1_000)
  assert.equal(room.refused('s2'), false, 'a second stranger within memory gets none')
  assert.equal(m.stats().connections, 3)
  await advance(80)
  assert.deepEqual(dialled, [], 'and does not wait for one')
  assert.equal(room.refused('x'), true, 'a known peer gets its release')
  await net.addNode('e').dial('mem://me', { signal: new AbortController().signal })
  await advance(30_000)
  assert.equal(room.refused('s3'), true, 'after memory, the next stranger gets one')
  assert.deepEqual(dialled, [])
  await m.close()
})
