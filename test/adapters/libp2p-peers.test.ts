import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { PeerSync } from '../../src/adapters/libp2p-peers.js'
import { noDial } from '../helpers/manager.js'

test('libp2p peer sync: quota membership changes only the quota topics, and protection follows it', async () => {
  const m = createConnectionManager({ dial: noDial })
  const sync = new PeerSync(m, 'me', new Map([['pubsub:news', { min: 1, protect: true }], ['protocol:/kad/1', { min: 2 }]]))
  m.addPeers([{ id: 'p', topics: ['app-topic'] }])
  sync.subscribe('p', 'pubsub:news', true)
  assert.deepEqual(m.getPeer('p')?.topics.sort(), ['app-topic', 'pubsub:news'])
  assert.equal(m.isProtected('p', 'pubsub:news'), true)
  sync.learn({ id: 'p', protocols: ['/kad/1'], addresses: [{ multiaddr: '/ip4/127.0.0.1/tcp/1' }] })
  assert.deepEqual(m.getPeer('p')?.topics.sort(), ['app-topic', 'protocol:/kad/1', 'pubsub:news'])
  assert.deepEqual(m.getPeer('p')?.addresses, ['/ip4/127.0.0.1/tcp/1/p2p/p'])
  sync.subscribe('p', 'pubsub:news', false)
  assert.deepEqual(m.getPeer('p')?.topics.sort(), ['app-topic', 'protocol:/kad/1'])
  assert.equal(m.isProtected('p', 'pubsub:news'), false)
  sync.learn({ id: 'p', tags: new Map([['keep-alive-x', { value: 3 }]]) })
  assert.equal(m.isProtected('p', 'libp2p:keep-alive'), true)
  assert.equal(m.getTagInfo('p')?.tags['libp2p:keep-alive-x'], 3)
  sync.learn({ id: 'p', tags: new Map() })
  assert.equal(m.isProtected('p', 'libp2p:keep-alive'), false)
  assert.equal(m.getTagInfo('p')?.tags['libp2p:keep-alive-x'], undefined)
  await m.close()
})

test('libp2p peer sync: peers in no quota topic take no entry (10,000 identities that identify leave the table empty), and one event adds 16 addresses at most', async () => {
  const m = createConnectionManager({ dial: noDial })
  const sync = new PeerSync(m, 'me', new Map([['protocol:/kad/1', { min: 2 }]]))
  const members = (): number => (sync as unknown as { members: Map<string, unknown> }).members.size
  for (let i = 0; i < 10_000; i++) sync.learn({ id: `sybil-${i}`, protocols: ['/other/1'] })
  assert.equal(members(), 0)
  sync.learn({ id: 'p', protocols: ['/kad/1'] })
  assert.equal(members(), 1)
  sync.learn({ id: 'p', protocols: [] })
  assert.equal(members(), 0, 'a peer that left every quota topic is forgotten here')
  sync.discovered({ toString: () => 'q' }, Array.from({ length: 1000 }, (_, i) => `/ip4/198.51.100.${i % 250}/tcp/${1000 + i}`))
  assert.equal(m.getPeer('q')?.addresses.length, 16)
  await m.close()
})
