import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager } from '../../src/index.js'
import type { Connection, ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

// The cap on known peers (`maxPeers`): a table fed by peers has a budget, and what goes first is
// what we know least about — never a peer the application or a connection vouched for.

/** A dial that fails every address, after counting it. */
function failingDial (count: Map<string, number>): ConnectionManagerOptions['dial'] {
  return async (address) => {
    count.set(address, (count.get(address) ?? 0) + 1)
    throw new Error('unreachable')
  }
}

test('maxPeers defaults to 20,000 and is shown by stats()', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  assert.equal(m.stats().maxPeers, 20_000)
  await m.close()
})

test('maxPeers must be an integer of at least 1', () => {
  for (const bad of [0, -1, 2.5, Infinity, '10']) {
    assert.throws(() => createConnectionManager({ dial: noDial, clock: new ManualClock(), maxPeers: bad as number }), (err: unknown) => {
      assert.ok(err instanceof PeerwardenError)
      assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
      assert.match(err.message, /maxPeers/)
      return true
    })
  }
})

test('addPeers of 96,000 peers stays within maxPeers, quickly, and keeps the connected, protected, long-term, permanent, banned, bootstrap and once-connected peers', async () => {
  const clock = new ManualClock()
  const dial: ConnectionManagerOptions['dial'] = async (address, { peer }) => testConnection(peer ?? 'perm', { direction: 'outbound', address })
  const m = createConnectionManager({ dial, clock })
  m.connected(testConnection('conn', { direction: 'inbound', address: 'tcp://10.0.0.1:1' }))
  m.protect('prot', 'app')
  m.addPeers([{ id: 'long', address: 'tcp://10.0.0.2:1', longTerm: true }, { id: 'boot', address: 'tcp://10.0.0.3:1', bootstrap: true }])
  m.setPriority([{ peer: 'bad', priority: 'banned' }])
  m.addPeers([{ id: 'perm', address: 'tcp://10.0.0.4:1' }])
  await m.connectNow('perm', { permanent: true })
  const once = testConnection('once', { direction: 'outbound', address: 'tcp://10.0.0.5:1' })
  m.connected(once)
  m.disconnected(once)
  const keep = ['conn', 'prot', 'long', 'boot', 'bad', 'perm', 'once']

  // CPU time, not the wall clock: the bound guards against quadratic work (synchronous here), and at
  // load 58 the wall clock read 16.8 s and failed it: that measured the machine, not the work.
  const started = process.cpuUsage()
  for (let batch = 0; batch < 96; batch++) {
    const peers = []
    for (let i = 0; i < 1000; i++) {
      const n = batch * 1000 + i
      peers.push({ id: `p${n}`, address: `tcp://11.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:4001`, hint: n % 2 === 0 })
    }
    m.addPeers(peers)
    assert.ok(m.stats().known <= 20_000, `after batch ${batch}: ${m.stats().known} known peers`)
  }
  const used = process.cpuUsage(started)
  const elapsed = (used.user + used.system) / 1000

  assert.equal(m.stats().known, 20_000)
  for (const id of keep) assert.notEqual(m.getPeer(id), undefined, `${id} is still known`)
  assert.equal(m.getPeer('bad')?.priority, 'banned', 'the ban survives')
  assert.equal(m.stats().banned, 1)
  assert.equal(m.isProtected('prot'), true)
  assert.equal(m.getPeer('long')?.longTerm, true)
  assert.equal(m.getPeer('perm')?.protected, true)
  assert.ok(elapsed < 15_000, `96 batches took ${Math.round(elapsed)} ms of CPU`)
  await m.close()
})

test('at maxPeers, peers learnt as hints are forgotten before any other, oldest first', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), maxPeers: 4 })
  m.addPeers([{ id: 'h1', address: 'tcp://h1:1', hint: true }, { id: 'a', address: 'tcp://a:1' }, { id: 'h2', address: 'tcp://h2:1', hint: true }])
  m.addPeers([{ id: 'b', address: 'tcp://b:1' }])
  m.addPeers([{ id: 'c', address: 'tcp://c:1' }])
  assert.deepEqual(m.listPeers().map((p) => p.id).sort(), ['a', 'b', 'c', 'h2'])
  m.addPeers([{ id: 'd', address: 'tcp://d:1' }])
  assert.deepEqual(m.listPeers().map((p) => p.id).sort(), ['a', 'b', 'c', 'd'])
  m.addPeers([{ id: 'h3', address: 'tcp://h3:1', hint: true }])
  assert.deepEqual(m.listPeers().map((p) => p.id).sort(), ['a', 'b', 'c', 'd'], 'a hint that finds the book full of better peers is dropped')
  assert.equal(m.stats().evicted, 3)
  assert.deepEqual(m.explain('h1').map((d) => d.action), ['evict'], 'explain() says why a forgotten peer went')
  assert.match(m.explain('h1')[0].reason, /maxPeers 4.*hints/)
  await m.close()
})

test('at maxPeers, among never-connected peers the one with the most failed dials goes first, then the oldest learnt', async () => {
  const count = new Map<string, number>()
  const m = createConnectionManager({ dial: failingDial(count), clock: new ManualClock(), random: () => 0.5, maxPeers: 3 })
  m.addPeers([{ id: 'b', address: 'tcp://b:1' }, { id: 'c', address: 'tcp://c:1' }, { id: 'a', address: 'tcp://a:1' }])
  await assert.rejects(m.connectNow('a'))
  assert.equal(m.getPeer('a')?.failures, 1)
  m.addPeers([{ id: 'd', address: 'tcp://d:1' }])
  assert.deepEqual(m.listPeers().map((p) => p.id).sort(), ['b', 'c', 'd'], 'a failed most, though learnt last')
  m.addPeers([{ id: 'e', address: 'tcp://e:1' }])
  assert.deepEqual(m.listPeers().map((p) => p.id).sort(), ['c', 'd', 'e'], 'then the oldest learnt')
  await m.close()
})

test('a ban is never lost by eviction: the banned peer stays known and refused', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), maxPeers: 2 })
  m.setPriority([{ peer: 'bad', priority: 'banned' }])
  for (let i = 0; i < 10; i++) m.addPeers([{ id: `p${i}`, address: `tcp://p${i}:1` }])
  assert.equal(m.getPeer('bad')?.priority, 'banned')
  assert.equal(m.stats().banned, 1)
  const conn: Connection = testConnection('bad', { direction: 'inbound' })
  assert.equal(m.connected(conn), false)
  await m.close()
})

test('peers the application tagged are not evicted', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), maxPeers: 2 })
  m.tagPeer('t', 'app', 5)
  for (let i = 0; i < 5; i++) m.addPeers([{ id: `p${i}`, address: `tcp://p${i}:1` }])
  assert.equal(m.getTagInfo('t')?.value, 5)
  await m.close()
})
