import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager, memoryStore } from '../../src/index.js'
import type { ConnectionManager, ConnectionManagerOptions, PeerStore } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'
import { heldDials } from '../contract/held-dials.js'

// The deny list at run time (src/manager/deny-control.ts): deny()/undeny(), kept in the store, and a
// ban given by a bare IP or a CIDR (regression: it made a peer record keyed by the IP, which no
// connection's address — 'tcp://1.2.3.4:5' — ever equals, so it matched nothing).

function manager (extra: Partial<ConnectionManagerOptions> = {}): { m: ConnectionManager; clock: ManualClock } {
  const clock = new ManualClock(0)
  const m = createConnectionManager({
    localPeer: 'me',
    clock,
    random: () => 0.5,
    lowWater: 2,
    highWater: 8,
    dial: async () => { throw new Error('no dials here') },
    ...extra
  })
  return { m, clock }
}

const from = (peer: string, address: string): TestConnection => new TestConnection({ peer, direction: 'inbound', address })

test('deny(ip) closes the live connections from that IP at once with denied and refuses the next ones, others untouched', async () => {
  const { m } = manager()
  const a = from('a', 'tcp://10.0.0.7:4001')
  const b = from('b', 'tcp://10.0.0.8:4001')
  assert.ok(m.connected(a) && m.connected(b))
  assert.equal(m.deny('10.0.0.7'), true)
  assert.equal(a.closeReason, 'denied')
  assert.equal(b.closed, false)
  assert.equal(m.stats().connections, 1)
  assert.equal(m.connected(from('c', 'tcp://10.0.0.7:5555')), false, 'another peer from the IP is refused')
  assert.equal(m.accepts('tcp://10.0.0.7:1'), false)
  assert.equal(m.stats().denyEntries, 1)
  assert.equal(m.deny('10.0.0.7/32'), false, 'the same range in another spelling is listed already')
  await m.close()
})

test('deny(cidr) and deny(peer id) close what they match; undeny lifts either, in any spelling of the range', async () => {
  const { m } = manager()
  const a = from('a', 'tcp://192.168.1.20:4001')
  const z = from('z', 'tcp://8.8.8.8:4001')
  m.connected(a)
  m.connected(z)
  m.deny('192.168.0.0/16')
  m.deny('z')
  assert.equal(a.closeReason, 'denied')
  assert.equal(z.closeReason, 'denied')
  assert.equal(m.undeny('192.168.1.1/16'), true)
  assert.equal(m.undeny('z'), true)
  assert.equal(m.undeny('z'), false, 'already lifted')
  assert.equal(m.connected(from('a', 'tcp://192.168.1.20:4002')), true)
  assert.equal(m.connected(from('z', 'tcp://8.8.8.8:4002')), true)
  assert.equal(m.stats().denyEntries, 0)
  await m.close()
})

test('deny takes the IP multiaddrs js-libp2p\'s lists take, and refuses any other multiaddr naming the field (it would be a peer id matching nothing)', async () => {
  const { m } = manager()
  const a = from('a', '/ip4/10.2.3.4/tcp/4001')
  m.connected(a)
  assert.equal(m.deny('/ip4/10.0.0.0/ipcidr/8'), true)
  assert.equal(a.closeReason, 'denied')
  assert.equal(m.undeny('10.0.0.0/8'), true, 'the same range')
  for (const bad of ['/ip4/10.0.0.1/tcp/4001', '/ip6/10.0.0.1', '/dns4/example.com']) {
    assert.throws(() => m.deny(bad), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && e.message.startsWith('entry must be an IP multiaddr'), bad)
  }
  assert.throws(() => manager({ deny: ['/ip4/1.2.3.4/tcp/1'] }), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && e.message.startsWith('deny[0]'))
  await m.close()
})

test('undeny lifts an entry of the deny option too', async () => {
  const { m } = manager({ deny: ['10.1.0.0/16'] })
  assert.equal(m.connected(from('a', 'tcp://10.1.2.3:1')), false)
  assert.equal(m.undeny('10.1.0.0/16'), true)
  assert.equal(m.connected(from('a', 'tcp://10.1.2.3:2')), true)
  await m.close()
})

test('a peer denied at run time is not dialled any more, and a connectNow whose dial is in flight rejects ERR_DENIED', async () => {
  const { m, clock, landing, dialled } = heldDials()
  m.addPeers([{ id: 'x', address: 'mem://x' }])
  const result = m.connectNow('x').then(() => undefined, (err: unknown) => err)
  await clock.advance(1)
  m.deny('x')
  const conn = landing('mem://x')
  const err = await result
  assert.ok(err instanceof PeerwardenError)
  assert.equal(err.code, 'ERR_DENIED')
  assert.equal(conn?.closeReason, 'denied')
  m.start()
  const before = dialled.length
  await clock.advance(10 * 60_000)
  assert.equal(dialled.length, before, 'never dialled again')
  await assert.rejects(m.connectNow('x'), (e: PeerwardenError) => e.code === 'ERR_DENIED')
  await m.close()
})

test('a deny entry added at run time is kept in the store and holds after a restart; undeny removes it from the store', async () => {
  const store: PeerStore = memoryStore()
  const first = manager({ store }).m
  first.deny('10.0.0.0/8')
  first.deny('evil')
  await first.close()

  const second = manager({ store }).m
  await second.ready()
  assert.equal(second.connected(from('a', 'tcp://10.9.9.9:1')), false, 'the range holds after the restart')
  assert.equal(second.connected(from('evil', 'tcp://1.1.1.1:1')), false, 'the peer id holds after the restart')
  assert.equal(second.listPeers().length, 0, 'a deny entry is no peer')
  assert.equal(second.undeny('10.0.0.0/8'), true)
  await second.close()

  const third = manager({ store }).m
  await third.ready()
  assert.equal(third.connected(from('a', 'tcp://10.9.9.9:2')), true, 'lifted for good')
  assert.equal(third.connected(from('evil', 'tcp://1.1.1.1:2')), false)
  await third.close()
})

test('a deny entry in the store closes a connection accepted before the store was read', async () => {
  const store: PeerStore = memoryStore()
  const first = manager({ store }).m
  first.deny('10.0.0.7')
  await first.close()
  const second = manager({ store }).m
  const early = from('a', 'tcp://10.0.0.7:1')
  assert.equal(second.connected(early), true, 'accepted before the read')
  await second.ready()
  assert.equal(early.closeReason, 'denied')
  await second.close()
})

test('a ban given by a bare IP denies that IP: its live connections close denied and the next are refused (regression: it matched nothing)', async () => {
  const { m } = manager()
  const a = from('a', 'tcp://10.0.0.7:4001')
  m.connected(a)
  m.setPriority([{ peer: '10.0.0.7', priority: 'banned' }])
  assert.equal(a.closeReason, 'denied')
  assert.equal(m.connected(from('b', 'tcp://10.0.0.7:4002')), false)
  assert.equal(m.getPeer('10.0.0.7'), undefined, 'no peer record keyed by the IP')
  m.setPriority([{ peer: '10.0.0.7', priority: 'medium' }])
  assert.equal(m.connected(from('b', 'tcp://10.0.0.7:4003')), true, 'any other priority lifts it')
  await m.close()
})

test('a ban of a peer whose id reads as an IP only in an unusual form (42, 0x1f, 1.2.3) bans that peer, not an IP', async () => {
  const { m } = manager()
  m.setPriority([{ peer: '42', priority: 'banned' }, { peer: '0x1f', priority: 'banned' }, { peer: '1.2.3', priority: 'banned' }])
  assert.equal(m.stats().denyEntries, 0)
  assert.equal(m.getPeer('42')?.priority, 'banned')
  assert.equal(m.getPeer('0x1f')?.priority, 'banned')
  assert.equal(m.connected(from('x', 'tcp://0.0.0.42:1')), true, 'no IP was denied')
  await m.close()
  // The lists read them so too (they were the IPv4 0.0.0.42 and 0.0.0.31).
  const listed = manager({ deny: ['42'] }).m
  assert.equal(listed.connected(from('y', 'tcp://0.0.0.42:1')), true)
  assert.equal(listed.connected(from('42', 'tcp://10.0.0.1:1')), false, 'the peer 42 is denied')
  listed.deny('0x1f')
  assert.equal(listed.connected(from('0x1f', 'tcp://10.0.0.2:1')), false)
  await listed.close()
})

test('a ban given by a CIDR or an IPv6 address denies the range', async () => {
  const { m } = manager()
  m.setPriority([{ peer: '172.16.0.0/12', priority: 'banned' }, { peer: '2001:db8::1', priority: 'banned' }, { peer: 'p', priority: 'banned' }])
  assert.equal(m.connected(from('a', 'tcp://172.20.1.1:1')), false)
  assert.equal(m.connected(from('b', 'tcp://[2001:db8::1]:1')), false)
  assert.equal(m.getPeer('p')?.priority, 'banned', 'a peer id in the same call is banned as before')
  assert.equal(m.stats().denyEntries, 2)
  await m.close()
})

test('deny refuses an empty entry or a malformed CIDR with ERR_INVALID_ARGUMENT naming the field, and throws ERR_CLOSED once closed', async () => {
  const { m } = manager()
  assert.throws(() => m.deny(''), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && /entry/.test(e.message))
  assert.throws(() => m.deny('10.0.0.0/99'), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && /entry/.test(e.message))
  assert.throws(() => m.deny(42 as unknown as string), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && /entry/.test(e.message))
  await m.close()
  assert.throws(() => m.deny('x'), (e: PeerwardenError) => e.code === 'ERR_CLOSED')
})
