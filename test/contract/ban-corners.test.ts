import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, memoryStore } from '../../src/index.js'
import { heldDials, inbound } from './held-dials.js'

// "Bans can be lost in corners": each corner a ban may pass through — set before the peer is known,
// while a dial is in flight, from the store, across stop/start, during initial sync, by address,
// from inside an event listener — and the ban holds: closed at once, refused later, never dialled.

test('a peer banned before it is known stays banned when addPeers names it later without a priority, and is never dialled', async () => {
  const { m, clock, dialled } = heldDials()
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  m.addPeers([{ id: 'x', address: 'mem://x' }, { id: 'y', address: 'mem://y' }])
  m.start()
  await clock.advance(120_000)
  assert.equal(m.getPeer('x')?.priority, 'banned')
  assert.ok(dialled.includes('mem://y'), 'the other peer is dialled')
  assert.ok(!dialled.includes('mem://x'), 'the banned one never')
  await m.close()
})

test('a prioritise hook that answers banned when a peer is added keeps it from ever being dialled', async () => {
  const { m, clock, dialled } = heldDials({ prioritise: (p) => p.id === 'x' ? 'banned' : undefined })
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  m.start()
  await clock.advance(120_000)
  assert.equal(m.getPeer('x')?.priority, 'banned')
  assert.deepEqual(dialled, [])
  await m.close()
})

test('a ban that lands while a dial to the peer is in flight closes the connection the dial brings, which is never counted', async () => {
  const { m, clock, landing } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  m.start()
  await clock.advance(10)
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  const conn = landing('mem://x')
  assert.ok(conn !== undefined, 'the dial was in flight')
  await clock.advance(10)
  assert.equal(conn.closeReason, 'banned')
  assert.equal(m.getPeer('x')?.connected, false)
  assert.equal(m.stats().connections, 0)
  await m.close()
})

test('connectNow of a peer banned while its dial is in flight rejects ERR_BANNED, and the connection it brings is closed banned (regression: it rejected ERR_DIAL_FAILED)', async () => {
  const { m, clock, landing } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  let refusals = 0
  m.events.addEventListener('connection:refused', () => { refusals++ })
  const result = m.connectNow('x').then(() => undefined, (err: unknown) => err)
  await clock.advance(1)
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  const conn = landing('mem://x')
  const err = await result
  assert.ok(err instanceof PeerwardenError, 'connectNow rejected')
  assert.equal(err.code, 'ERR_BANNED')
  assert.equal(conn?.closeReason, 'banned')
  assert.equal(m.listConnections().length, 0)
  assert.equal(m.stats().connections, 0)
  assert.equal(refusals, 1, 'refused once, though both the transport and the dial reported it (regression: twice)')
  assert.equal(m.explain('x').filter((d) => d.action === 'refuse').length, 1)
  await m.close()
})

test('connectNow by address of a peer whose id is banned while the dial is in flight rejects ERR_BANNED once the handshake names it', async () => {
  const { m, clock, landing } = heldDials()
  const result = m.connectNow('mem://x').then(() => undefined, (err: unknown) => err)
  await clock.advance(1)
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  const conn = landing('mem://x', 'x')
  const err = await result
  assert.ok(err instanceof PeerwardenError, 'connectNow rejected')
  assert.equal(err.code, 'ERR_BANNED')
  assert.equal(conn?.closeReason, 'banned')
  assert.equal(m.stats().connections, 0)
  await m.close()
})

test('connectNow of a peer banned while its dial is in flight rejects ERR_BANNED when the dial then fails, with the failure as its cause', async () => {
  const { m, clock, held } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  const result = m.connectNow('x').then(() => undefined, (err: unknown) => err)
  await clock.advance(1)
  assert.equal(held.length, 1, 'the dial is in flight')
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  await clock.advance(20_000) // the dial times out
  const err = await result
  assert.ok(err instanceof PeerwardenError, 'connectNow rejected')
  assert.equal(err.code, 'ERR_BANNED')
  assert.ok(err.cause instanceof PeerwardenError && err.cause.code === 'ERR_DIAL_TIMEOUT', 'the dial\'s own failure is the cause')
  await m.close()
})

test('a permanent peer and a long-term peer, once banned, are closed at once and never redialled', async () => {
  const { m, clock, landing, dialled } = heldDials()
  m.addPeers([{ id: 'lt', address: 'mem://lt', longTerm: true }, { id: 'perm', address: 'mem://perm' }])
  const permanent = m.connectNow('perm', { permanent: true })
  await clock.advance(1)
  const permConn = landing('mem://perm')
  await permanent
  m.start()
  await clock.advance(10)
  const ltConn = landing('mem://lt')
  assert.equal(m.stats().connections, 2)
  m.setPriority([{ peer: 'perm', priority: 'banned' }, { peer: 'lt', priority: 'banned' }])
  assert.equal(permConn?.closeReason, 'banned')
  assert.equal(ltConn?.closeReason, 'banned')
  const before = dialled.length
  await clock.advance(30 * 60_000)
  assert.equal(dialled.length, before, 'neither is dialled again')
  await m.close()
})

test('a ban holds across stop() and start(): the peer is never dialled and is refused inbound', async () => {
  const { m, clock, dialled } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }, { id: 'y', address: 'mem://y' }])
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  m.start()
  await clock.advance(10)
  await m.stop()
  m.start()
  await clock.advance(120_000)
  assert.ok(dialled.includes('mem://y'))
  assert.ok(!dialled.includes('mem://x'))
  const conn = inbound('x')
  assert.equal(m.connected(conn), false)
  assert.equal(conn.closeReason, 'banned')
  await m.close()
})

test('a ban restored from the store holds against addPeers called before it loaded, and closes a connection accepted before it loaded', async () => {
  const store = memoryStore()
  const first = heldDials({ store })
  first.m.addPeers([{ id: 'x', address: 'mem://x' }])
  first.m.setPriority([{ peer: 'x', priority: 'banned' }])
  await first.m.close()

  const { m, clock, dialled } = heldDials({ store })
  // Before start(): the store is not read yet, so the peer comes in and is named as any other.
  const early = inbound('x')
  m.connected(early)
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  m.start()
  await m.ready()
  await clock.advance(120_000)
  assert.equal(m.getPeer('x')?.priority, 'banned', 'the stored ban wins over the default priority addPeers gave')
  assert.equal(early.closeReason, 'banned', 'the connection taken before the store loaded is closed once it has')
  assert.ok(!dialled.includes('mem://x'))
  assert.equal(m.connected(inbound('x')), false)
  await m.close()
})

test('initial sync never dials a banned peer, even one it is told to sync with, and a ban of the sync peer closes it for good', async () => {
  const named = heldDials()
  named.m.addPeers([{ id: 'x', address: 'mem://x' }])
  named.m.setPriority([{ peer: 'x', priority: 'banned' }])
  named.m.start()
  named.m.initialSync.start('x')
  await named.clock.advance(120_000)
  assert.deepEqual(named.dialled, [])
  await named.m.close()

  const { m, clock, landing, dialled } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }, { id: 'y', address: 'mem://y' }])
  m.start()
  m.initialSync.start('x')
  await clock.advance(10)
  const conn = landing('mem://x')
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  assert.equal(conn?.closeReason, 'banned')
  const before = dialled.filter((a) => a === 'mem://x').length
  await clock.advance(120_000)
  assert.equal(dialled.filter((a) => a === 'mem://x').length, before, 'the banned sync peer is not dialled again')
  await m.close()
})

test('a ban given by the address a live inbound connection came from closes that connection (regression: only the next connection from there was refused)', async () => {
  const { m } = heldDials()
  const conn = inbound('x', 'tcp://10.0.0.5:40123')
  assert.equal(m.connected(conn), true)
  m.setPriority([{ peer: 'tcp://10.0.0.5:40123', priority: 'banned' }])
  assert.equal(conn.closeReason, 'banned')
  assert.equal(m.getPeer('x')?.priority, 'banned', 'the peer behind the address is the one banned')
  assert.equal(m.connected(inbound('x', 'tcp://10.0.0.5:40999')), false, 'and it stays refused from anywhere')
  assert.equal(m.stats().banned, 1)
  await m.close()
})

test('a ban given inside a peer:connected listener closes the connection and leaves nothing counted', async () => {
  const { m } = heldDials()
  m.events.addEventListener('peer:connected', (e) => {
    if (e.detail.peer === 'x') m.setPriority([{ peer: 'x', priority: 'banned' }])
  })
  const conn = inbound('x')
  m.connected(conn)
  assert.equal(conn.closeReason, 'banned')
  assert.equal(m.stats().connections, 0)
  assert.deepEqual(m.listConnections(), [])
  await m.close()
})

test('setLongTerm and connectNow({ permanent }) of a banned peer neither lift the ban nor dial it', async () => {
  const { m, clock, dialled } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  m.setLongTerm('x', true)
  await assert.rejects(m.connectNow('x', { permanent: true }), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_BANNED')
  m.start()
  await clock.advance(120_000)
  assert.equal(m.getPeer('x')?.priority, 'banned')
  assert.deepEqual(dialled, [])
  await m.close()
})

test('a ban in the store holds before start(): the manager reads its store from creation and refuses the banned peer\'s connection (regression: the store was read only at start(), so it was accepted)', async () => {
  const store = memoryStore()
  const first = heldDials({ store })
  first.m.setPriority([{ peer: 'x', priority: 'banned' }])
  await first.m.close()

  const { m, dialled } = heldDials({ store })
  await new Promise((resolve) => { setImmediate(resolve) })
  const conn = inbound('x')
  assert.equal(m.connected(conn), false)
  assert.equal(conn.closeReason, 'banned')
  assert.equal(m.admits('x'), false)
  assert.deepEqual(dialled, [], 'reading the store dials nobody: the manager is still off')
  assert.equal(m.running, false)
  await m.close()
})
