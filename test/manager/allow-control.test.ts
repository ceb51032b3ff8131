import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager, memoryStore } from '../../src/index.js'
import type { ConnectionManager, ConnectionManagerOptions, PeerStore } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

// The allow list at run time (src/manager/allow-control.ts): allow()/unallow()/isAllowed(), the
// counterpart of deny()/undeny()/isDenied(), kept in the store like a deny entry.

function manager (extra: Partial<ConnectionManagerOptions> = {}): { m: ConnectionManager; clock: ManualClock } {
  const clock = new ManualClock(0)
  const m = createConnectionManager({
    localPeer: 'me',
    clock,
    random: () => 0.5,
    lowWater: 1,
    highWater: 2,
    gracePeriod: 1_000,
    dial: async () => { throw new Error('no dials here') },
    ...extra
  })
  return { m, clock }
}

const from = (peer: string, address: string): TestConnection => new TestConnection({ peer, direction: 'inbound', address })

test('allow(ip) at run time lets a connection from that IP in above highWater, where it was refused over-limit before', async () => {
  const { m, clock } = manager()
  assert.ok(m.connected(from('a', 'tcp://10.0.0.1:1')) && m.connected(from('b', 'tcp://10.0.0.2:1')))
  await clock.advance(10) // a and b in grace: nothing to evict
  const before = from('c', 'tcp://10.0.0.9:1')
  assert.equal(m.connected(before), false)
  assert.equal(before.closeReason, 'over-limit')
  assert.equal(m.allow('10.0.0.9'), true)
  assert.equal(m.connected(from('c', 'tcp://10.0.0.9:2')), true, 'allow-listed: never refused')
  assert.equal(m.stats().connections, 3)
  assert.equal(m.isAllowed('c', 'tcp://10.0.0.9:2'), true)
  assert.equal(m.isAllowed(undefined, 'tcp://10.0.0.8:2'), false)
  assert.equal(m.stats().allowEntries, 1)
  assert.equal(m.allow('10.0.0.9/32'), false, 'the same range in another spelling is listed already')
  m.allow('d')
  m.deny('d')
  const both = from('d', 'tcp://10.0.0.10:1')
  assert.equal(m.connected(both), false, 'the deny list wins over the allow list')
  assert.equal(both.closeReason, 'denied')
  await m.close()
})

test('a live connection allow-listed at run time is never trimmed; unallow makes it trimmable again', async () => {
  const { m, clock } = manager({ lowWater: 0, highWater: 4 })
  const a = from('a', 'tcp://10.0.0.1:1')
  const b = from('b', 'tcp://10.0.0.2:1')
  m.connected(a)
  m.connected(b)
  await clock.advance(2_000) // out of grace
  assert.equal(m.allow('a'), true)
  assert.equal(m.allow('10.0.0.2'), true)
  await m.trim()
  assert.equal(a.closed, false, 'allow-listed by id')
  assert.equal(b.closed, false, 'allow-listed by IP')
  assert.equal(m.unallow('a'), true)
  assert.equal(m.unallow('a'), false, 'already lifted')
  await m.trim()
  assert.equal(a.closeReason, 'trimmed', 'trimmable once lifted')
  assert.equal(b.closed, false)
  await m.close()
})

test('unallow lifts an entry of the allow option too, in any spelling of the range', async () => {
  const { m, clock } = manager({ lowWater: 0, allow: ['10.1.0.0/16'] })
  const a = from('a', 'tcp://10.1.2.3:1')
  m.connected(a)
  await clock.advance(2_000)
  await m.trim()
  assert.equal(a.closed, false)
  assert.equal(m.unallow('10.1.9.9/16'), true)
  assert.equal(m.stats().allowEntries, 0)
  await m.trim()
  assert.equal(a.closeReason, 'trimmed')
  await m.close()
})

test('an allow entry added at run time is kept in the store and holds after a restart; unallow removes it from the store', async () => {
  const store: PeerStore = memoryStore()
  const first = manager({ store }).m
  first.allow('10.0.0.0/8')
  first.allow('friend')
  first.deny('evil')
  await first.close()

  const second = manager({ store })
  await second.m.ready()
  assert.equal(second.m.isAllowed(undefined, 'tcp://10.9.9.9:1'), true, 'the range holds after the restart')
  assert.equal(second.m.isAllowed('friend'), true, 'the peer id holds after the restart')
  assert.equal(second.m.isDenied('evil'), true, 'the deny entry beside it too')
  assert.equal(second.m.listPeers().length, 0, 'an allow entry is no peer')
  assert.equal(second.m.stats().allowEntries, 2)
  assert.equal(second.m.unallow('10.0.0.0/8'), true)
  await second.m.close()

  const third = manager({ store }).m
  await third.ready()
  assert.equal(third.isAllowed(undefined, 'tcp://10.9.9.9:1'), false, 'lifted for good')
  assert.equal(third.isAllowed('friend'), true)
  await third.close()
})

test('an allow entry in the store makes a connection accepted before the store was read untrimmable', async () => {
  const store: PeerStore = memoryStore()
  const first = manager({ store }).m
  first.allow('10.0.0.7')
  await first.close()
  const { m, clock } = manager({ store, lowWater: 0, highWater: 4 })
  const early = from('a', 'tcp://10.0.0.7:1')
  assert.equal(m.connected(early), true)
  await m.ready()
  await clock.advance(2_000)
  await m.trim()
  assert.equal(early.closed, false)
  await m.close()
})

test('allow refuses what no list could read, naming the argument; after close allow throws ERR_CLOSED and unallow is quiet', async () => {
  const { m } = manager()
  for (const bad of ['', '/ip4/10.0.0.1/tcp/4001', '10.0.0.0/99']) {
    assert.throws(() => m.allow(bad), (e: PeerwardenError) => e instanceof PeerwardenError && e.code === 'ERR_INVALID_ARGUMENT' && e.message.startsWith('entry'), JSON.stringify(bad))
  }
  assert.throws(() => m.allow(42 as unknown as string), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && e.message.startsWith('entry'))
  await m.close()
  assert.throws(() => m.allow('x'), (e: PeerwardenError) => e.code === 'ERR_CLOSED')
  assert.equal(m.unallow('x'), false)
})
