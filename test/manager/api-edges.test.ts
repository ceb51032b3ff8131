import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import type { Connection } from '../../src/index.js'
import { ManualClock, MemoryNetwork, testConnection } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'
import { collect } from '../helpers/events.js'
import { manager } from '../helpers/manager.js'

// Parts of the contract that had no test of their own: resetBackoff, accepts, connection:replaced.

test('resetBackoff(peer) lets the dialer dial a peer in backoff at once; resetBackoff() only the bootstrap peers', async () => {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, lowWater: 5, highWater: 10 })
  me.bind(m)
  const r = net.addNode('r')
  const s = net.addNode('s')
  const boot = net.addNode('boot')
  r.behaviour = s.behaviour = boot.behaviour = 'refuse'
  m.addPeers([{ id: 'r', address: 'mem://r' }, { id: 's', address: 'mem://s' }, { id: 'boot', address: 'mem://boot', bootstrap: true }])
  m.start()
  await clock.advance(100)
  for (const id of ['r', 's']) {
    assert.ok((m.getPeer(id)?.failures ?? 0) >= 1, `${id} failed once`)
    assert.ok((m.getPeer(id)?.nextDialAt ?? 0) > clock.now(), `${id} is in backoff`)
  }
  r.behaviour = s.behaviour = boot.behaviour = 'accept'
  const started = collect<{ peer?: string }>(m.events, 'dial:started')
  const dialled = (): Array<string | undefined> => started.map((d) => d.peer)
  await clock.advance(10) // well inside every backoff: nobody is dialled
  assert.deepEqual(dialled(), [])

  m.resetBackoff('r')
  await clock.advance(10)
  assert.deepEqual(dialled(), ['r'])
  assert.equal(m.getPeer('r')?.connected, true)
  assert.equal(m.getPeer('s')?.connected, false, 's is still resting')

  // Without a peer: the bootstrap peers' backoff goes, the others' stays.
  const bootWas = m.getPeer('boot')?.nextDialAt
  assert.ok(bootWas !== undefined && bootWas > clock.now())
  m.resetBackoff()
  assert.ok((m.getPeer('boot')?.nextDialAt ?? 0) <= clock.now(), 'boot may be dialled now')
  assert.ok((m.getPeer('s')?.nextDialAt ?? 0) > clock.now(), 's still rests')
  assert.throws(() => { m.resetBackoff('') }, hasCode('ERR_INVALID_ARGUMENT'))
  await m.close()
})

test('accepts(address) is false for a denied IP (before any handshake), true otherwise, false once closed', async () => {
  const { m } = manager({ deny: ['10.0.0.0/8', 'peer-x'] })
  assert.equal(m.accepts('tcp://10.1.2.3:4001'), false)
  assert.equal(m.accepts('/ip4/10.9.9.9/tcp/1'), false)
  assert.equal(m.accepts('tcp://192.168.1.2:4001'), true)
  assert.equal(m.accepts('mem://anything'), true, 'an address without an IP is decided later, by peer')
  await m.close()
  assert.equal(m.accepts('tcp://192.168.1.2:4001'), false)
})

test('connection:replaced: a newcomer that wins the tie-break replaces the old connection, which closes as duplicate; the peer never disconnects', async () => {
  // localPeer 'a' < 'b': the connection initiated by b (inbound to us) survives.
  const { m } = manager({ localPeer: 'a' })
  const replaced = collect<{ peer: string; connection: Connection; replaced: Connection }>(m.events, 'connection:replaced')
  const connected = collect<{ peer: string }>(m.events, 'peer:connected')
  const disconnected = collect<{ peer: string }>(m.events, 'peer:disconnected')
  const ours = testConnection('b', { direction: 'outbound', id: 'ours' })
  const theirs = testConnection('b', { direction: 'inbound', id: 'theirs' })
  assert.equal(m.connected(ours), true)
  assert.equal(m.connected(theirs), true)
  assert.equal(replaced.length, 1)
  assert.equal(replaced[0].peer, 'b')
  assert.equal(replaced[0].connection, theirs)
  assert.equal(replaced[0].replaced, ours)
  assert.equal(ours.closeReason, 'duplicate')
  assert.equal(theirs.closed, false)
  assert.deepEqual(connected.map((e) => e.peer), ['b'], 'no second peer:connected')
  assert.deepEqual(disconnected, [], 'no peer:disconnected')
  assert.equal(m.stats().connections, 1)
  assert.deepEqual(m.listConnections().map((c) => c.id), ['theirs'])
  await m.close()
})
