import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import type { Connection, PeerInfo, Priority } from '../../src/index.js'
import { ManualClock, MemoryNetwork, testConnection } from '../../src/testing/index.js'
import { collect } from '../helpers/events.js'
import { manager } from '../helpers/manager.js'

// ── deny list ───────────────────────────────────────────────────────────────

test('a deny list matches peer ids, IPv4/IPv6 addresses and CIDRs in every address form', async () => {
  const table: Array<[entry: string, peer: string, address: string | undefined, denied: boolean]> = [
    ['peer-x', 'peer-x', undefined, true],
    ['peer-x', 'peer-y', undefined, false],
    ['peer-x', 'peer-x', 'tcp://9.9.9.9:1', true],
    ['1.2.3.4', 'p', 'tcp://1.2.3.4:5', true],
    ['1.2.3.4', 'p', 'tcp://1.2.3.5:5', false],
    ['1.2.3.4', 'p', '/ip4/1.2.3.4/tcp/5', true],
    ['1.2.3.4', 'p', '1.2.3.4', true],
    ['1.2.3.4', 'p', '1.2.3.4:5', true],
    ['::1', 'p', 'tcp://[::1]:5', true],
    ['::1', 'p', '/ip6/::1/tcp/5', true],
    ['::1', 'p', 'tcp://[::2]:5', false],
    ['1.2.3.0/24', 'p', '/ip4/1.2.3.200/tcp/5', true],
    ['1.2.3.0/24', 'p', '1.2.3.9', true],
    ['1.2.3.0/24', 'p', 'tcp://1.2.4.1:5', false],
    ['2001:db8:1:2::/64', 'p', '/ip6/2001:db8:1:2::99/tcp/5', true],
    ['2001:db8:1:2::/64', 'p', 'tcp://[2001:db8:1:2:ffff:ffff:ffff:ffff]:5', true],
    ['2001:db8:1:2::/64', 'p', 'tcp://[2001:db8:1:3::1]:5', false],
    // IPv4-mapped IPv6 addresses match IPv4 ranges, and mapped ranges match plain IPv4.
    ['1.2.3.0/24', 'p', 'tcp://[::ffff:1.2.3.4]:5', true],
    ['1.2.3.4', 'p', '::ffff:1.2.3.4', true],
    ['::ffff:1.2.3.0/120', 'p', 'tcp://1.2.3.77:5', true],
    ['::ffff:1.2.3.0/120', 'p', 'tcp://1.2.4.77:5', false],
    // IPv4 ranges never match IPv6 addresses that are not mapped, and the reverse.
    ['1.2.3.0/24', 'p', 'tcp://[2001:db8::1]:5', false],
    ['::/0', 'p', 'tcp://1.2.3.4:5', false],
    ['10.0.0.0/8', 'p', 'mem://a', false],
    // Multiserver addresses (SSB): the net layer's host; the shs key's '/' does not hide it.
    ['10.0.0.0/8', 'p', 'net:10.9.8.7:8008~shs:Ab/cd+ef=', true],
    ['10.0.0.0/8', 'p', 'net:11.9.8.7:8008~shs:Ab/cd+ef=', false],
    ['::1', 'p', 'net:[::1]:8008~shs:Ab/cd+ef=', true]
  ]
  for (const [entry, peer, address, denied] of table) {
    const { m } = manager({ deny: [entry] })
    const c = testConnection(peer, { address })
    const label = `deny ${entry} vs ${peer}@${String(address)}`
    assert.equal(m.connected(c), !denied, label)
    assert.equal(c.closeReason, denied ? 'denied' : undefined, label)
    await m.close()
  }
})

test('a denied connection is refused, closed with reason denied, and announced by connection:refused', async () => {
  const { m } = manager({ deny: ['10.0.0.0/8', 'evil'] })
  const refused = collect<{ connection: Connection; reason: string }>(m.events, 'connection:refused')
  const connectedEvents = collect(m.events, 'peer:connected')
  const byIp = testConnection('p1', { address: 'tcp://10.1.2.3:4001' })
  const byId = testConnection('evil', { direction: 'outbound', address: 'tcp://8.8.8.8:4001' })
  assert.equal(m.connected(byIp), false)
  assert.equal(m.connected(byId), false)
  assert.equal(byIp.closed, true)
  assert.equal(byIp.closeReason, 'denied')
  assert.equal(byId.closeReason, 'denied')
  assert.equal(refused.length, 2)
  assert.equal(refused[0].connection, byIp)
  assert.equal(refused[0].reason, 'denied')
  assert.equal(refused[1].connection, byId)
  assert.equal(connectedEvents.length, 0)
  assert.equal(m.stats().connections, 0)
  assert.equal(m.explain('p1').at(-1)?.action, 'refuse')
  await m.close()
})

// ── allow list ──────────────────────────────────────────────────────────────

test('an allow-listed peer is accepted at highWater, where others are refused over-limit, and is never trimmed', async () => {
  const { m, clock } = manager({ allow: ['friend', '10.0.0.0/8', 'fd00:1:2:3::/64'], lowWater: 0, highWater: 2, gracePeriod: 1000, silencePeriod: 500 })
  m.start()
  const p0 = testConnection('p0')
  const p1 = testConnection('p1')
  assert.equal(m.connected(p0), true)
  assert.equal(m.connected(p1), true)
  // At highWater, and both peers are inside their grace period: nothing is trimmable.
  const stranger = testConnection('p2')
  assert.equal(m.connected(stranger), false)
  assert.equal(stranger.closeReason, 'over-limit')
  const byId = testConnection('friend')
  const byIpv4 = testConnection('q4', { address: 'tcp://10.9.8.7:4001' })
  const byIpv6 = testConnection('q6', { address: '/ip6/fd00:1:2:3::42/tcp/4001' })
  assert.equal(m.connected(byId), true)
  assert.equal(m.connected(byIpv4), true)
  assert.equal(m.connected(byIpv6), true)
  assert.equal(m.stats().connections, 5)

  // Past grace and silence: the background trim brings the count down, closing only the others.
  await clock.advance(2000)
  assert.equal(p0.closeReason, 'trimmed')
  assert.equal(p1.closeReason, 'trimmed')
  await m.trim()
  for (const c of [byId, byIpv4, byIpv6]) assert.equal(c.closed, false, `${c.peer} stays`)
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['friend', 'q4', 'q6'])
  await m.close()
})

test('an allow-listed peer that arrives at highWater with a trimmable peer present evicts that peer, never itself', async () => {
  const { m, clock } = manager({ allow: ['friend'], lowWater: 0, highWater: 2, gracePeriod: 100 })
  m.start()
  const p0 = testConnection('p0')
  const p1 = testConnection('p1')
  m.connected(p0)
  m.connected(p1)
  await clock.advance(200)
  const friend = testConnection('friend')
  assert.equal(m.connected(friend), true)
  assert.equal(friend.closed, false)
  assert.equal(m.stats().connections, 2)
  assert.equal([p0, p1].filter((c) => c.closeReason === 'trimmed').length, 1)
  await clock.advance(200)
  await m.trim()
  assert.equal(friend.closed, false)
  await m.close()
})

// ── banned ──────────────────────────────────────────────────────────────────

test('at the bound a stranger takes the place of the lowest-ranked peer it outranks or equals, a long-term one included, and is refused only when below every trimmable peer', async () => {
  const { m, clock } = manager({ lowWater: 0, highWater: 2, gracePeriod: 1000 })
  m.start()
  m.setPriority([{ peer: 'A', priority: 'high' }, { peer: 'B', priority: 'low' }, { peer: 'lo', priority: 'low' }])
  m.setLongTerm('B', true)
  const a = testConnection('A')
  const b = testConnection('B')
  m.connected(a)
  m.connected(b)
  await clock.advance(2000) // both trimmable: A (high), B (low, long-term)
  // Medium is not below every trimmable peer's priority (B is low): accepted, and B gives way, not A.
  const medium = testConnection('M')
  assert.equal(m.connected(medium), true)
  assert.equal(b.closeReason, 'trimmed')
  assert.equal(a.closed, false)
  await clock.advance(2000) // M trimmable too: A (high), M (medium)
  // Low is below both: refused, every time, and nobody is closed.
  for (let i = 0; i < 3; i++) {
    const low = testConnection('lo', { id: `lo-${i}` })
    assert.equal(m.connected(low), false)
    assert.equal(low.closeReason, 'over-limit')
  }
  assert.match(m.explain('lo').at(-1)?.reason ?? '', /below every trimmable peer/)
  assert.equal(medium.closed, false)
  assert.equal(a.closed, false)
  // A stranger of high priority takes the lowest-ranked place: M (medium) before A (high).
  m.setPriority([{ peer: 'H', priority: 'high' }])
  assert.equal(m.connected(testConnection('H')), true)
  assert.equal(medium.closeReason, 'trimmed')
  assert.equal(a.closed, false)
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('setPriority banned closes the peer at once with reason banned and refuses it inbound afterwards', async () => {
  const { m } = manager()
  m.start()
  const closed = collect<{ connection: Connection; reason: string }>(m.events, 'connection:closed')
  const refused = collect<{ connection: Connection; reason: string }>(m.events, 'connection:refused')
  const c = testConnection('bad', { direction: 'outbound' })
  const other = testConnection('good')
  assert.equal(m.connected(c), true)
  assert.equal(m.connected(other), true)
  m.setPriority([{ peer: 'bad', priority: 'banned' }])
  assert.equal(c.closeReason, 'banned')
  assert.equal(other.closed, false)
  assert.deepEqual(closed.map((e) => [e.connection, e.reason]), [[c, 'banned']])
  assert.equal(m.stats().connections, 1)
  assert.equal(m.stats().banned, 1)
  assert.equal(m.getPeer('bad')?.priority, 'banned')

  const again = testConnection('bad', { direction: 'inbound' })
  assert.equal(m.connected(again), false)
  assert.equal(again.closeReason, 'banned')
  assert.deepEqual(refused.map((e) => [e.connection, e.reason]), [[again, 'banned']])
  await m.close()
})

test('a banned peer is refused even while the manager is not started', async () => {
  const { m } = manager()
  m.setPriority([{ peer: 'bad', priority: 'banned' }])
  const c = testConnection('bad')
  assert.equal(m.connected(c), false)
  assert.equal(c.closeReason, 'banned')
  await m.close()
})

test('the prioritise hook is consulted when a peer is added and when it connects, and its answer shows in getPeer and peer:priority', async () => {
  const answers = new Map<string, Priority | undefined>([['x', 'high']])
  const seen: PeerInfo[] = []
  const { m } = manager({
    prioritise: (info) => {
      seen.push(info)
      return answers.get(info.id ?? '')
    }
  })
  const priorities = collect<{ peer: string; priority: Priority }>(m.events, 'peer:priority')
  m.addPeers([{ id: 'x', address: 'tcp://1.2.3.4:5' }])
  assert.equal(seen.length, 1, 'consulted once on addPeers')
  assert.equal(seen[0].id, 'x')
  assert.deepEqual(seen[0].addresses, ['tcp://1.2.3.4:5'])
  assert.equal(m.getPeer('x')?.priority, 'high')
  assert.deepEqual(priorities, [{ peer: 'x', priority: 'high' }])

  answers.set('x', 'low')
  assert.equal(m.connected(testConnection('x', { direction: 'outbound', address: 'tcp://1.2.3.4:5' })), true)
  assert.equal(seen.length, 2, 'consulted again on connect')
  assert.equal(seen[1].id, 'x')
  assert.equal(m.getPeer('x')?.priority, 'low')
  assert.deepEqual(priorities.at(-1), { peer: 'x', priority: 'low' })

  // undefined keeps the priority as it is.
  answers.set('y', undefined)
  m.addPeers([{ id: 'y', priority: 'high' }])
  assert.equal(m.getPeer('y')?.priority, 'high')
  await m.close()
})

test('a prioritise hook answering banned on connect refuses the connection with reason banned', async () => {
  const { m } = manager({ prioritise: (info) => (info.id === 'bad' ? 'banned' : undefined) })
  m.start()
  const refused = collect<{ connection: Connection; reason: string }>(m.events, 'connection:refused')
  const priorities = collect<{ peer: string; priority: Priority }>(m.events, 'peer:priority')
  const bad = testConnection('bad')
  const good = testConnection('good')
  assert.equal(m.connected(bad), false)
  assert.equal(bad.closeReason, 'banned')
  assert.equal(m.connected(good), true)
  assert.deepEqual(refused.map((e) => [e.connection, e.reason]), [[bad, 'banned']])
  assert.deepEqual(priorities, [{ peer: 'bad', priority: 'banned' }])
  assert.equal(m.getPeer('bad')?.priority, 'banned')
  assert.equal(m.stats().connections, 1)
  await m.close()
})

// ── duplicates ──────────────────────────────────────────────────────────────

for (const order of ['outbound first', 'inbound first'] as const) {
  test(`with localPeer b, the connection initiated by b (our outbound to a) survives when the ${order === 'outbound first' ? 'outbound' : 'inbound'} one arrives first`, async () => {
    const { m } = manager({ localPeer: 'b' })
    const out = testConnection('a', { direction: 'outbound', id: 'out' })
    const inb = testConnection('a', { direction: 'inbound', id: 'in' })
    const [first, second] = order === 'outbound first' ? [out, inb] : [inb, out]
    assert.equal(m.connected(first), true)
    assert.equal(m.connected(second), order === 'inbound first')
    assert.equal(out.closed, false)
    assert.equal(inb.closeReason, 'duplicate')
    assert.deepEqual(m.listConnections().map((c) => c.id), ['out'])
    assert.equal(m.stats().connections, 1)
    assert.equal(m.stats().outbound, 1)
    assert.equal(m.stats().inbound, 0)
    await m.close()
  })

  test(`with localPeer a, the connection initiated by b (its inbound) survives when the ${order === 'outbound first' ? 'outbound' : 'inbound'} one arrives first`, async () => {
    const { m } = manager({ localPeer: 'a' })
    const out = testConnection('b', { direction: 'outbound', id: 'out' })
    const inb = testConnection('b', { direction: 'inbound', id: 'in' })
    const [first, second] = order === 'outbound first' ? [out, inb] : [inb, out]
    assert.equal(m.connected(first), true)
    assert.equal(m.connected(second), order === 'outbound first')
    assert.equal(inb.closed, false)
    assert.equal(out.closeReason, 'duplicate')
    assert.deepEqual(m.listConnections().map((c) => c.id), ['in'])
    await m.close()
  })
}

test('two managers a and b that each see both connections, in any order, keep the same one (initiated by b)', async () => {
  // Connection X: a dialled b. Connection Y: b dialled a. Each side has its own end of each.
  const orders: Array<[aFirst: 'X' | 'Y', bFirst: 'X' | 'Y']> = [['X', 'X'], ['X', 'Y'], ['Y', 'X'], ['Y', 'Y']]
  for (const [aFirst, bFirst] of orders) {
    const a = manager({ localPeer: 'a' }).m
    const b = manager({ localPeer: 'b' }).m
    const atA = { X: testConnection('b', { direction: 'outbound', id: 'X' }), Y: testConnection('b', { direction: 'inbound', id: 'Y' }) }
    const atB = { X: testConnection('a', { direction: 'inbound', id: 'X' }), Y: testConnection('a', { direction: 'outbound', id: 'Y' }) }
    const other = (k: 'X' | 'Y'): 'X' | 'Y' => (k === 'X' ? 'Y' : 'X')
    a.connected(atA[aFirst]); a.connected(atA[other(aFirst)])
    b.connected(atB[bFirst]); b.connected(atB[other(bFirst)])
    const label = `a saw ${aFirst} first, b saw ${bFirst} first`
    assert.deepEqual(a.listConnections().map((c) => c.id), ['Y'], label)
    assert.deepEqual(b.listConnections().map((c) => c.id), ['Y'], label)
    assert.equal(atA.X.closeReason, 'duplicate', label)
    assert.equal(atB.X.closeReason, 'duplicate', label)
    await a.close()
    await b.close()
  }
})

test('simultaneous dials between managers a and b over a MemoryNetwork leave both with the same single connection', async () => {
  for (const faster of ['a', 'b']) {
    const clock = new ManualClock()
    const net = new MemoryNetwork({ clock, latency: (from) => (from === faster ? 5 : 10) })
    const na = net.addNode('a')
    const nb = net.addNode('b')
    const a = createConnectionManager({ dial: na.dial, localPeer: 'a', clock })
    const b = createConnectionManager({ dial: nb.dial, localPeer: 'b', clock })
    na.bind(a)
    nb.bind(b)
    a.addPeers([{ id: 'b', address: nb.address }])
    b.addPeers([{ id: 'a', address: na.address }])
    const dials = [a.connectNow('b'), b.connectNow('a')].map(async (p) => await p.then(() => 'ok', () => 'failed'))
    await clock.advance(20)
    await Promise.all(dials)
    const label = `${faster} dialled faster`
    const atA = a.listConnections()
    const atB = b.listConnections()
    assert.equal(atA.length, 1, label)
    assert.equal(atB.length, 1, label)
    // Both ends belong to the same link, and that link was initiated by b (the larger id).
    const links = net.links()
    assert.equal(links.length, 1, label)
    const [outEnd, inEnd] = links[0]
    assert.equal(outEnd.owner.id, 'b', label)
    assert.deepEqual([atA[0].id, atB[0].id].sort(), [outEnd.id, inEnd.id].sort(), label)
    await a.close()
    await b.close()
  }
})

test('a second connection in the same direction from a connected peer is refused as duplicate', async () => {
  const { m } = manager({ localPeer: 'b' })
  const refused = collect<{ connection: Connection; reason: string }>(m.events, 'connection:refused')
  const first = testConnection('a', { direction: 'inbound' })
  const second = testConnection('a', { direction: 'inbound' })
  assert.equal(m.connected(first), true)
  assert.equal(m.connected(second), false)
  assert.equal(second.closeReason, 'duplicate')
  assert.equal(first.closed, false)
  assert.deepEqual(refused.map((e) => [e.connection, e.reason]), [[second, 'duplicate']])
  const out1 = testConnection('c', { direction: 'outbound' })
  const out2 = testConnection('c', { direction: 'outbound' })
  assert.equal(m.connected(out1), true)
  assert.equal(m.connected(out2), false)
  assert.equal(out2.closeReason, 'duplicate')
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('reporting the same connection twice is not a duplicate', async () => {
  const { m } = manager()
  const c = testConnection('a')
  assert.equal(m.connected(c), true)
  assert.equal(m.connected(c), true)
  assert.equal(c.closed, false)
  assert.equal(m.stats().connections, 1)
  await m.close()
})

// ── admits: the gate for transports that know the peer before the connection completes ──────

test('admits() answers what connected() would decide, and changes nothing', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 2, gracePeriod: 1_000, deny: ['denied-peer', '10.0.0.0/8'] })
  m.start()
  m.setPriority([{ peer: 'bad', priority: 'banned' }, { peer: 'vip', priority: 'high' }, { peer: 'meh', priority: 'low' }])
  assert.equal(m.admits('bad'), false)
  assert.equal(m.admits('denied-peer'), false)
  assert.equal(m.admits('someone', 'tcp://10.1.2.3:4'), false)
  assert.equal(m.admits('someone', 'tcp://1.2.3.4:4'), true)
  m.connected(testConnection('a'))
  m.connected(testConnection('b'))
  // at the bound, both in grace: nothing may give way
  assert.equal(m.admits('someone'), false)
  assert.equal(m.connected(testConnection('someone')), false)
  // a protected peer is forced in; an already-connected peer is left to the duplicate rule
  m.protect('friend', 'app')
  assert.equal(m.admits('friend'), true)
  assert.equal(m.admits('a'), true)
  // out of grace: a medium newcomer may evict, a low one may not
  await clock.advance(1_001)
  assert.equal(m.admits('someone'), true)
  assert.equal(m.admits('meh'), false)
  assert.equal(m.admits('vip'), true)
  // nothing changed
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['a', 'b'])
  assert.equal(m.connected(testConnection('meh')), false)
  assert.equal(m.connected(testConnection('someone')), true)
  await m.close()
  assert.equal(m.admits('someone'), false)
})

test('admits() uses the record connected() would use: a peer known by address only', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 2, gracePeriod: 10 })
  m.start()
  m.setPriority([{ peer: 'a', priority: 'high' }, { peer: 'b', priority: 'high' }])
  m.connected(testConnection('a'))
  m.connected(testConnection('b'))
  await clock.advance(11)
  m.addPeers([{ address: 'tcp://5.6.7.8:9', priority: 'high' }])
  assert.equal(m.admits('stranger', 'tcp://1.2.3.4:9'), false, 'a medium stranger may not evict a high peer')
  assert.equal(m.admits('known', 'tcp://5.6.7.8:9'), true, 'the high peer known by its address may')
  assert.equal(m.connected(testConnection('known', { address: 'tcp://5.6.7.8:9' })), true)
  await m.close()
})

test('admits() and connected() agree on a peer known by address whose id is banned (regression: admits said yes, connected refused)', async () => {
  const { m } = manager()
  m.addPeers([{ address: 'tcp://5.6.7.8:9' }])
  m.setPriority([{ peer: 'p', priority: 'banned' }])
  assert.equal(m.admits('p', 'tcp://5.6.7.8:9'), false)
  assert.equal(m.connected(testConnection('p', { address: 'tcp://5.6.7.8:9' })), false)
  await m.close()
})

test('admits() and connected() agree on a peer banned by its address whose id is known', async () => {
  const { m } = manager()
  m.tagPeer('p', 'app', 1)
  m.setPriority([{ peer: 'tcp://5.6.7.8:9', priority: 'banned' }])
  assert.equal(m.admits('p', 'tcp://5.6.7.8:9'), false)
  assert.equal(m.admits('p'), true, 'from elsewhere, p is not banned yet')
  assert.equal(m.connected(testConnection('p', { address: 'tcp://5.6.7.8:9' })), false)
  await m.close()
})

// ── the bound holds from creation ────────────────────────────────────────────

test('before start(), a connection at highWater evicts the lowest-ranked trimmable peer or is refused over-limit (regression: the bound waited for start)', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 2, gracePeriod: 1_000 })
  const a = testConnection('a')
  const b = testConnection('b')
  m.connected(a)
  m.connected(b)
  assert.equal(m.connected(testConnection('c')), false, 'both in grace: nothing may give way')
  assert.equal(m.stats().connections, 2)
  await clock.advance(1_001)
  const d = testConnection('d')
  assert.equal(m.connected(d), true)
  assert.equal(m.stats().connections, 2)
  assert.equal([a, b].filter((c) => c.closeReason === 'trimmed').length, 1)
  assert.equal(m.running, false)
  await m.close()
})

test('before start(), nothing is dialled and no background trim runs', async () => {
  const dials: string[] = []
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async (a) => { dials.push(a); throw new Error('no') }, clock, lowWater: 1, highWater: 2, gracePeriod: 10, silencePeriod: 10 })
  m.addPeers([{ id: 'x', address: 'tcp://1.1.1.1:1' }])
  m.protect('a', 'app')
  m.protect('b', 'app')
  m.protect('c', 'app')
  for (const p of ['a', 'b', 'c']) m.connected(testConnection(p))
  m.unprotect('c', 'app')
  await clock.advance(1_000)
  assert.equal(dials.length, 0)
  assert.equal(m.stats().connections, 3, 'the excess waits for start()')
  m.start()
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('before start(), a lowered limit trims back to highWater at once', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 4, gracePeriod: 10 })
  const conns = ['a', 'b', 'c', 'd'].map((p) => testConnection(p))
  for (const c of conns) m.connected(c)
  await clock.advance(20)
  m.setWatermarks(1, 2)
  assert.equal(m.stats().connections, 2)
  assert.equal(conns.filter((c) => c.closeReason === 'trimmed').length, 2)
  await m.close()
})
