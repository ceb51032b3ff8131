import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager } from '../../src/index.js'
import type { Connection, ConnectionManager, ConnectionManagerOptions, Decision, DialFailure, PeerInfo, Priority } from '../../src/index.js'
import { ManualClock, MemoryNetwork, testConnection } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'
import { collect } from '../helpers/events.js'
import { manager } from '../helpers/manager.js'

/** A manager dialing over a MemoryNetwork from node 'me', on a ManualClock starting at 1000. */
function networked (extra: Partial<ConnectionManagerOptions> = {}): { m: ConnectionManager; clock: ManualClock; net: MemoryNetwork } {
  const clock = new ManualClock(1000)
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, ...extra })
  me.bind(m)
  return { m, clock, net }
}

// ── events ──────────────────────────────────────────────────────────────────

test('peer:connected, peer:disconnected, connection:closed and peer:priority carry the documented details', async () => {
  const { m } = manager()
  const connected = collect<{ peer: string; connection: Connection }>(m.events, 'peer:connected')
  const disconnected = collect<{ peer: string }>(m.events, 'peer:disconnected')
  const closed = collect<{ connection: Connection; reason: string }>(m.events, 'connection:closed')
  const priorities = collect<{ peer: string; priority: Priority }>(m.events, 'peer:priority')
  const a = testConnection('a')
  const b = testConnection('b', { direction: 'outbound' })
  m.connected(a)
  m.connected(b)
  assert.deepEqual(connected, [{ peer: 'a', connection: a }, { peer: 'b', connection: b }])
  assert.equal(connected[0].connection, a)

  // The transport reports a close: no close event (the manager did not close it), only peer:disconnected.
  m.disconnected(a)
  assert.deepEqual(disconnected, [{ peer: 'a' }])
  assert.equal(closed.length, 0)

  // The manager closes a connection: connection:closed with the reason it gave the connection.
  await m.disconnect('b')
  assert.deepEqual(closed, [{ connection: b, reason: b.closeReason }])
  assert.equal(typeof b.closeReason, 'string')
  assert.deepEqual(disconnected, [{ peer: 'a' }, { peer: 'b' }])

  m.setPriority([{ peer: 'b', priority: 'high' }])
  assert.deepEqual(priorities, [{ peer: 'b', priority: 'high' }])
  m.setPriority([{ peer: 'b', priority: 'high' }])
  assert.equal(priorities.length, 1, 'no event when the priority does not change')
  await m.close()
})

test('connection:refused carries the connection and the close reason', async () => {
  const { m } = manager({ deny: ['bad'] })
  const refused = collect<{ connection: Connection; reason: string }>(m.events, 'connection:refused')
  const c = testConnection('bad')
  m.connected(c)
  assert.equal(refused.length, 1)
  assert.equal(refused[0].connection, c)
  assert.equal(refused[0].reason, 'denied')
  await m.close()
})

test('trim carries how many peers were closed and why', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 10, gracePeriod: 100 })
  const trims = collect<{ closed: number; reason: string }>(m.events, 'trim')
  m.start()
  for (const p of ['a', 'b', 'c', 'd']) m.connected(testConnection(p))
  await clock.advance(200)
  await m.trim()
  assert.equal(m.stats().connections, 1)
  assert.equal(trims.length, 1)
  assert.equal(trims[0].closed, 3)
  assert.equal(typeof trims[0].reason, 'string')
  assert.ok(trims[0].reason.length > 0)
  await m.trim() // at lowWater already: closes nobody, and says nothing
  assert.equal(trims.length, 1)
  await m.close()
})

test('dial:started and dial:failed carry the peer, the address, the error and the virtual time', async () => {
  const { m, clock, net } = networked()
  net.addNode('r').behaviour = 'refuse'
  const started = collect<{ peer?: string; address: string }>(m.events, 'dial:started')
  const failed = collect<DialFailure>(m.events, 'dial:failed')
  m.addPeers([{ id: 'r', addresses: ['mem://r'] }])
  await clock.advance(250)
  await assert.rejects(m.connectNow('r'), hasCode('ERR_DIAL_FAILED'))
  assert.deepEqual(started, [{ peer: 'r', address: 'mem://r' }])
  assert.equal(failed.length, 1)
  assert.equal(failed[0].peer, 'r')
  assert.equal(failed[0].address, 'mem://r')
  assert.equal(failed[0].at, 1250)
  assert.ok(failed[0].error instanceof PeerwardenError)
  assert.equal((failed[0].error as PeerwardenError).code, 'ERR_DIAL_FAILED')
  assert.equal(m.getPeer('r')?.failures, 1)
  await m.close()
})

test('removing a listener that was never added (or removing one twice) leaves the others listening', async () => {
  const { m } = manager()
  const seenByB: string[] = []
  const a = (): void => {}
  const b = (e: CustomEvent<{ peer: string }>): void => { seenByB.push(e.detail.peer) }
  m.events.addEventListener('peer:connected', a)
  m.events.addEventListener('peer:connected', b)
  m.events.removeEventListener('peer:connected', a)
  m.events.removeEventListener('peer:connected', a)
  m.events.removeEventListener('peer:connected', () => {})
  m.connected(testConnection('x'))
  assert.deepEqual(seenByB, ['x'])
  // Adding the same listener twice registers it once: one remove silences it.
  m.events.addEventListener('peer:connected', b)
  m.events.removeEventListener('peer:connected', b)
  m.connected(testConnection('y'))
  assert.deepEqual(seenByB, ['x'])
  await m.close()
})

test('a transport\'s own error reaches dial:failed and errors() as ERR_DIAL_FAILED, with the original as its cause', async () => {
  const clock = new ManualClock(1000)
  const refused = new Error('ECONNREFUSED 127.0.0.1:9')
  const m = createConnectionManager({ dial: async () => { throw refused }, localPeer: 'me', clock })
  const failed = collect<DialFailure>(m.events, 'dial:failed')
  await assert.rejects(m.connectNow('tcp://127.0.0.1:9'), hasCode('ERR_DIAL_FAILED'))
  assert.equal(failed.length, 1)
  assert.ok(failed[0].error instanceof PeerwardenError)
  assert.equal((failed[0].error as PeerwardenError).code, 'ERR_DIAL_FAILED')
  assert.equal(failed[0].error.cause, refused)
  assert.match(failed[0].error.message, /ECONNREFUSED/)
  await m.close()
})

test('a dial the caller calls off is no failure: ERR_ABORTED to the caller, no dial:failed, no backoff; a late connection is closed as abandoned', async () => {
  const clock = new ManualClock(1000)
  const late: Array<ReturnType<typeof testConnection>> = []
  // A transport that ignores the signal and delivers after 100 ms.
  const dial = async (address: string): Promise<Connection> => await new Promise((resolve) => {
    clock.setTimeout(() => { const c = testConnection('p', { direction: 'outbound', address }); late.push(c); resolve(c) }, 100)
  })
  const m = createConnectionManager({ dial, localPeer: 'me', clock })
  const failed = collect<DialFailure>(m.events, 'dial:failed')
  m.addPeers([{ id: 'p', addresses: ['mem://p'] }])
  const controller = new AbortController()
  const dialing = m.connectNow('p', { signal: controller.signal })
  await clock.advance(10)
  controller.abort()
  await assert.rejects(dialing, hasCode('ERR_ABORTED'))
  assert.equal(failed.length, 0)
  assert.equal(m.getPeer('p')?.failures, 0)
  await clock.advance(200)
  assert.equal(late.length, 1)
  assert.equal(late[0].closeReason, 'abandoned')
  assert.equal(m.stats().connections, 0)
  await m.close()
})

// ── observePeers ────────────────────────────────────────────────────────────

test('observePeers calls at once with the current list, then once per burst of changes, until unsubscribed', async () => {
  const { m, clock } = manager()
  m.addPeers([{ id: 'a' }])
  const calls: Array<readonly PeerInfo[]> = []
  const unsubscribe = m.observePeers((peers) => { calls.push(peers) })
  assert.equal(calls.length, 1, 'called synchronously on subscribe')
  assert.deepEqual(calls[0].map((p) => p.id), ['a'])

  for (let i = 1; i <= 5; i++) m.tagPeer('a', `t${i}`, i)
  assert.equal(calls.length, 1, 'not called synchronously for each change')
  await Promise.resolve()
  assert.equal(calls.length, 2, 'one notification for the burst of 5 tagPeer calls')
  assert.equal(calls[1].find((p) => p.id === 'a')?.value, 15)

  await clock.advance(0)
  assert.equal(calls.length, 2, 'no extra notification after the burst')

  m.addPeers([{ id: 'b' }])
  m.connected(testConnection('b'))
  m.protect('b', 'keep')
  await clock.advance(0)
  assert.equal(calls.length, 3)
  const b = calls[2].find((p) => p.id === 'b')
  assert.equal(b?.connected, true)
  assert.equal(b?.protected, true)

  unsubscribe()
  m.tagPeer('a', 't1', 100)
  m.forgetPeer('b')
  await clock.advance(0)
  assert.equal(calls.length, 3, 'nothing after unsubscribe')
  await m.close()
})

test('observePeers coalesces per subscriber: two listeners each get one call per burst', async () => {
  const { m, clock } = manager()
  let first = 0
  let second = 0
  m.observePeers(() => { first++ })
  const stop = m.observePeers(() => { second++ })
  m.tagPeer('x', 'a', 1)
  m.tagPeer('x', 'b', 2)
  await clock.advance(0)
  assert.deepEqual([first, second], [2, 2])
  stop()
  m.tagPeer('x', 'c', 3)
  await clock.advance(0)
  assert.deepEqual([first, second], [3, 2])
  await m.close()
})

// ── explain ─────────────────────────────────────────────────────────────────

test('explain lists accept, protect, refuse and trim decisions with reasons naming the rule and the numbers', async () => {
  const { m, clock } = manager({ lowWater: 0, highWater: 2, gracePeriod: 100 })
  m.start()
  m.connected(testConnection('p0'))
  await clock.advance(10)
  m.connected(testConnection('p1'))
  const accept = m.explain('p0').at(-1)
  assert.equal(accept?.action, 'accept')
  assert.equal(accept?.at, 0)
  assert.match(accept?.reason ?? '', /highWater/)

  m.protect('p1', 'keep')
  const protect = m.explain('p1').at(-1)
  assert.equal(protect?.action, 'protect')
  assert.match(protect?.reason ?? '', /keep/)

  // At highWater 2 with p0 in grace and p1 protected: nothing is trimmable, p2 is refused.
  m.connected(testConnection('p2'))
  const refuse = m.explain('p2').at(-1)
  assert.equal(refuse?.action, 'refuse')
  assert.match(refuse?.reason ?? '', /over-limit/)
  assert.match(refuse?.reason ?? '', /highWater\D*2\b/)

  // Past p0's grace: p3 evicts p0 at once, and p0's last decision says why.
  await clock.advance(200)
  m.connected(testConnection('p3'))
  const evicted = m.explain('p0').at(-1)
  assert.equal(evicted?.action, 'trim')
  assert.equal(evicted?.at, 210)
  assert.match(evicted?.reason ?? '', /highWater\D*2\b/)

  // An explicit trim goes down to lowWater 0: p3 (once out of grace) is the one trimmable peer.
  await clock.advance(200)
  await m.trim()
  const trimmed = m.explain('p3').at(-1)
  assert.equal(trimmed?.action, 'trim')
  assert.equal(trimmed?.at, 410)
  assert.match(trimmed?.reason ?? '', /(lowWater|target)\D*0\b/)
  assert.deepEqual(m.explain('p3').map((d) => d.action), ['accept', 'trim'])
  assert.equal(m.explain('p1').at(-1)?.action, 'protect', 'the protected peer was not trimmed')
  await m.close()
})

test('explain lists the ban and the close it caused, newest last', async () => {
  const { m, clock } = manager()
  m.connected(testConnection('x'))
  await clock.advance(5)
  m.setPriority([{ peer: 'x', priority: 'banned' }])
  const decisions = m.explain('x')
  assert.deepEqual(decisions.map((d) => d.action), ['accept', 'ban', 'close'])
  assert.match(decisions[1].reason, /banned/)
  assert.match(decisions[2].reason, /banned/)
  assert.equal(decisions[2].at, 5)
  assert.deepEqual(m.explain('nobody'), [])
  await m.close()
})

test('explain returns a copy that callers cannot use to rewrite history', async () => {
  const { m } = manager()
  m.connected(testConnection('x'))
  const list = m.explain('x')
  list[0].action = 'tampered' as Decision['action']
  list.push({ at: 1, action: 'fake' as Decision['action'], reason: 'fake' })
  assert.deepEqual(m.explain('x').map((d) => d.action), ['accept'])
  await m.close()
})

// ── stats ───────────────────────────────────────────────────────────────────

test('stats counts known peers, connections by direction, protected and banned peers', async () => {
  const { m } = manager()
  assert.deepEqual(m.stats(), { known: 0, connections: 0, inbound: 0, outbound: 0, dialing: 0, protected: 0, banned: 0, denyEntries: 0, allowEntries: 0, refused: {}, closed: {}, lowWater: 32, highWater: 96, maxPeers: 20_000, evicted: 0, addressWaits: 0, hookErrors: 0, connectionLimitRefusals: 0, decisions: 0, topics: [] })
  m.addPeers([{ id: 'k1' }, { id: 'k2' }, { address: 'tcp://1.2.3.4:5' }])
  m.connected(testConnection('i1'))
  m.connected(testConnection('i2'))
  m.connected(testConnection('o1', { direction: 'outbound' }))
  m.protect('k1', 'a')
  m.protect('k1', 'b')
  m.protect('i1', 'a')
  m.setPriority([{ peer: 'k2', priority: 'banned' }, { peer: 'x', priority: 'banned' }])
  assert.deepEqual(m.stats(), { known: 7, connections: 3, inbound: 2, outbound: 1, dialing: 0, protected: 2, banned: 2, denyEntries: 0, allowEntries: 0, refused: {}, closed: {}, lowWater: 32, highWater: 96, maxPeers: 20_000, evicted: 0, addressWaits: 0, hookErrors: 0, connectionLimitRefusals: 0, decisions: 8, topics: [] })
  m.setWatermarks(2, 5)
  assert.deepEqual([m.stats().lowWater, m.stats().highWater], [2, 5])

  m.unprotect('k1', 'a')
  assert.equal(m.stats().protected, 2, 'k1 is still protected under b')
  m.unprotect('k1', 'b')
  assert.equal(m.stats().protected, 1)
  m.setPriority([{ peer: 'x', priority: 'medium' }])
  assert.equal(m.stats().banned, 1)
  m.forgetPeer('k2')
  assert.equal(m.stats().banned, 0)
  assert.equal(m.stats().known, 6)
  await m.close()
})

test('stats follows disconnections reported by the transport', async () => {
  const { m } = manager()
  const i = testConnection('i')
  const o = testConnection('o', { direction: 'outbound' })
  m.connected(i)
  m.connected(o)
  m.disconnected(i)
  assert.deepEqual([m.stats().connections, m.stats().inbound, m.stats().outbound], [1, 0, 1])
  m.disconnected(i)
  assert.equal(m.stats().connections, 1, 'a repeated disconnection is harmless')
  m.disconnected(o)
  assert.deepEqual([m.stats().connections, m.stats().inbound, m.stats().outbound], [0, 0, 0])
  assert.equal(m.stats().known, 2, 'disconnected peers stay known')
  await m.close()
})

// ── peers ───────────────────────────────────────────────────────────────────

test('addPeers by id and by address only, then getPeer and listPeers describe them', async () => {
  const { m } = manager()
  m.addPeers([
    { id: 'a', addresses: ['tcp://1.1.1.1:1', 'tcp://1.1.1.1:2'], priority: 'high', topics: ['chat'], longTerm: true },
    { address: 'tcp://2.2.2.2:2', bootstrap: true }
  ])
  const a = m.getPeer('a')
  assert.equal(a?.id, 'a')
  assert.deepEqual(a?.addresses, ['tcp://1.1.1.1:1', 'tcp://1.1.1.1:2'])
  assert.equal(a?.priority, 'high')
  assert.deepEqual(a?.topics, ['chat'])
  assert.equal(a?.longTerm, true)
  assert.equal(a?.connected, false)
  const anon = m.getPeer('tcp://2.2.2.2:2')
  assert.equal(anon?.id, undefined)
  assert.deepEqual(anon?.addresses, ['tcp://2.2.2.2:2'])
  assert.equal(anon?.bootstrap, true)
  assert.equal(anon?.priority, 'medium')
  assert.equal(m.listPeers().length, 2)
  assert.equal(m.getPeer('tcp://1.1.1.1:2')?.id, 'a', 'getPeer accepts an address')
  assert.equal(m.getPeer('unknown'), undefined)
  // Adding the same peer again merges instead of duplicating.
  m.addPeers([{ id: 'a', address: 'tcp://1.1.1.1:3' }])
  assert.equal(m.listPeers().length, 2)
  assert.deepEqual(m.getPeer('a')?.addresses, ['tcp://1.1.1.1:1', 'tcp://1.1.1.1:2', 'tcp://1.1.1.1:3'])
  await m.close()
})

test('a peer added by address only merges with the connection that comes from that address and names its id', async () => {
  const { m } = manager()
  m.addPeers([{ address: 'tcp://5.6.7.8:9', priority: 'high', topics: ['t'] }])
  m.tagPeer('other', 'x', 1)
  assert.equal(m.stats().known, 2)
  const c = testConnection('q', { direction: 'outbound', address: 'tcp://5.6.7.8:9' })
  assert.equal(m.connected(c), true)
  assert.equal(m.stats().known, 2, 'one record, not two')
  const q = m.getPeer('q')
  assert.equal(q?.id, 'q')
  assert.equal(q?.connected, true)
  assert.equal(q?.priority, 'high', 'what was known by address carries over')
  assert.deepEqual(q?.topics, ['t'])
  assert.deepEqual(q?.addresses, ['tcp://5.6.7.8:9'])
  assert.equal(m.getPeer('tcp://5.6.7.8:9')?.id, 'q')
  assert.equal(m.listPeers().filter((p) => p.addresses.includes('tcp://5.6.7.8:9')).length, 1)
  await m.close()
})

test('addPeers with an id and an address known only by address merges both into one record', async () => {
  const { m } = manager()
  m.addPeers([{ address: 'tcp://5.6.7.8:9' }])
  m.addPeers([{ id: 'q' }])
  m.addPeers([{ id: 'q', address: 'tcp://5.6.7.8:9' }])
  assert.equal(m.stats().known, 1)
  assert.deepEqual(m.getPeer('q')?.addresses, ['tcp://5.6.7.8:9'])
  await m.close()
})

test('forgetPeer removes a disconnected peer and keeps only the live connection of a connected one', async () => {
  const { m } = manager()
  m.addPeers([{ id: 'gone', address: 'tcp://1.1.1.1:1', priority: 'high' }])
  m.tagPeer('gone', 'x', 5)
  m.protect('gone', 'keep')
  m.forgetPeer('gone')
  assert.equal(m.getPeer('gone'), undefined)
  assert.equal(m.getPeer('tcp://1.1.1.1:1'), undefined)
  assert.equal(m.getTagInfo('gone'), undefined)
  assert.equal(m.isProtected('gone'), false)
  assert.deepEqual(m.stats(), { known: 0, connections: 0, inbound: 0, outbound: 0, dialing: 0, protected: 0, banned: 0, denyEntries: 0, allowEntries: 0, refused: {}, closed: {}, lowWater: 32, highWater: 96, maxPeers: 20_000, evicted: 0, addressWaits: 0, hookErrors: 0, connectionLimitRefusals: 0, decisions: 0, topics: [] })

  const c = testConnection('live')
  m.connected(c)
  m.tagPeer('live', 'x', 5)
  m.forgetPeer('live')
  assert.equal(c.closed, false)
  assert.equal(m.stats().connections, 1)
  assert.equal(m.getPeer('live')?.value, 0)
  m.forgetPeer('never-seen')
  await m.close()
})

// ── errors(), connectNow ────────────────────────────────────────────────────

test('errors() yields every failed dial of connectNow, in order, until close()', async () => {
  const { m, clock, net } = networked()
  net.addNode('r').behaviour = 'refuse'
  const events = collect<DialFailure>(m.events, 'dial:failed')
  const it = m.errors()[Symbol.asyncIterator]()
  m.addPeers([{ id: 'r', addresses: ['mem://r', 'mem://nobody'] }])
  await assert.rejects(m.connectNow('r'), hasCode('ERR_DIAL_FAILED'))
  await clock.advance(100)
  await assert.rejects(m.connectNow('mem://ghost'), hasCode('ERR_DIAL_FAILED'))

  const yielded: DialFailure[] = []
  for (let i = 0; i < 3; i++) {
    const r = await it.next()
    assert.equal(r.done, false)
    yielded.push(r.value as DialFailure)
  }
  assert.deepEqual(yielded.map((f) => [f.peer, f.address, f.at]), [
    ['r', 'mem://r', 1000],
    ['r', 'mem://nobody', 1000],
    [undefined, 'mem://ghost', 1100]
  ])
  for (const f of yielded) {
    assert.ok(f.error instanceof PeerwardenError)
    assert.equal((f.error as PeerwardenError).code, 'ERR_DIAL_FAILED')
  }
  assert.match(yielded[0].error.message, /refused/)
  assert.deepEqual(events, yielded, 'dial:failed saw the same failures')
  assert.equal(events[0], yielded[0], 'the very same object')

  const pending = it.next()
  await m.close()
  assert.deepEqual(await pending, { value: undefined, done: true })
})

test('two errors() iterators each see every failure', async () => {
  const { m, net } = networked()
  net.addNode('r').behaviour = 'refuse'
  const one = m.errors()[Symbol.asyncIterator]()
  const two = m.errors()[Symbol.asyncIterator]()
  m.addPeers([{ id: 'r', address: 'mem://r' }])
  await assert.rejects(m.connectNow('r'))
  assert.equal((await one.next()).value?.address, 'mem://r')
  assert.equal((await two.next()).value?.address, 'mem://r')
  await m.close()
})

test('connectNow to a hanging node rejects with ERR_DIAL_TIMEOUT after dialTimeout of virtual time', async () => {
  const { m, clock, net } = networked({ dialTimeout: 500 })
  net.addNode('h').behaviour = 'hang'
  const failed = collect<DialFailure>(m.events, 'dial:failed')
  m.addPeers([{ id: 'h', address: 'mem://h' }])
  let outcome: unknown
  const done = m.connectNow('h').then(() => { outcome = 'resolved' }, (err: unknown) => { outcome = err })
  await clock.advance(499)
  assert.equal(outcome, undefined, 'still dialing before the timeout')
  assert.equal(m.stats().dialing, 1)
  await clock.advance(1)
  await done
  hasCode('ERR_DIAL_TIMEOUT')(outcome)
  assert.equal(m.stats().dialing, 0)
  assert.equal(failed.length, 1)
  assert.equal(failed[0].at, 1500)
  assert.equal((failed[0].error as PeerwardenError).code, 'ERR_DIAL_TIMEOUT')
  assert.equal(clock.pending, 0, 'no timer left behind')
  await m.close()
})

test('connectNow returns a connection that counts even above highWater', async () => {
  const { m, net } = networked({ lowWater: 0, highWater: 2, gracePeriod: 10_000 })
  net.addNode('c')
  m.start()
  m.connected(testConnection('p0'))
  m.connected(testConnection('p1'))
  const refusedByLimit = testConnection('p2')
  assert.equal(m.connected(refusedByLimit), false, 'the bound holds for ordinary inbound connections')
  m.addPeers([{ id: 'c', address: 'mem://c' }])
  const conn = await m.connectNow('c')
  assert.equal(conn.peer, 'c')
  assert.equal(conn.direction, 'outbound')
  assert.equal(m.stats().connections, 3)
  assert.equal(m.stats().outbound, 1)
  assert.equal(m.getPeer('c')?.connected, true)
  assert.ok(m.listConnections().some((c) => c.id === conn.id))
  // Asking again returns the same live connection without dialing.
  assert.equal(await m.connectNow('c'), conn)
  await m.close()
})

test('connectNow refuses a banned peer with ERR_BANNED and a denied one with ERR_DENIED, without dialing', async () => {
  const { m, net } = networked({ deny: ['d'] })
  const started = collect(m.events, 'dial:started')
  net.addNode('b')
  net.addNode('d')
  m.addPeers([{ id: 'b', address: 'mem://b' }, { id: 'd', address: 'mem://d' }])
  m.setPriority([{ peer: 'b', priority: 'banned' }])
  await assert.rejects(m.connectNow('b'), hasCode('ERR_BANNED'))
  await assert.rejects(m.connectNow('d'), hasCode('ERR_DENIED'))
  assert.equal(started.length, 0)
  await m.close()
})

test('stats().protected counts permanent peers, as isProtected() does (regression: it left them out)', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async (address) => testConnection('perm', { direction: 'outbound', address }), clock })
  m.addPeers([{ id: 'perm', address: 'tcp://1.1.1.1:1' }])
  await m.connectNow('perm', { permanent: true })
  m.protect('tagged', 'app')
  assert.equal(m.isProtected('perm'), true)
  assert.equal(m.stats().protected, 2)
  m.protect('perm', 'app')
  assert.equal(m.stats().protected, 2, 'a permanent peer that is also protected by a tag counts once')
  m.forgetPeer('perm')
  assert.equal(m.stats().protected, 1)
  await m.close()
})

test('a prioritise hook that throws leaves the peer its priority, reports hook:error, and connected() accounts the connection (regression: connected() threw)', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({
    dial: async () => { throw new Error('no') },
    clock,
    prioritise: (p) => { if (p.id === 'boom') throw new Error('hook bug'); return p.id === 'bad' ? 'nonsense' as never : undefined }
  })
  const errors: Array<{ hook: string; peer: string; error: Error }> = []
  m.events.addEventListener('hook:error', (e) => { errors.push(e.detail) })
  m.setPriority([{ peer: 'boom', priority: 'high' }])
  const conn = testConnection('boom')
  assert.equal(m.connected(conn), true)
  assert.equal(conn.closed, false)
  assert.equal(m.getPeer('boom')?.priority, 'high')
  assert.equal(m.stats().connections, 1)
  assert.equal(errors.length, 1)
  assert.equal(errors[0].hook, 'prioritise')
  assert.equal(errors[0].peer, 'boom')
  assert.match(errors[0].error.message, /hook bug/)
  m.addPeers([{ id: 'bad', address: 'tcp://1.1.1.1:1' }])
  assert.equal(m.getPeer('bad')?.priority, 'medium', 'an answer that is no priority is the hook\'s error too')
  assert.equal(errors.length, 2)
  assert.equal(m.stats().hookErrors, 2)
  assert.ok(m.explain('boom').some((d) => d.action === 'hook-error'))
  await m.close()
})
