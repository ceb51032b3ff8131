import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isAddress } from '../../src/manager/peer-knowledge.js'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// Bug: ids holding '/' or ':' were taken for addresses. SSB ids ('@…/…=.ed25519') and multiserver
// addresses ('net:host:port~shs:key') broke: banning such an id did nothing.

const SSB_ID = '@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519'
const MS_ADDRESS = 'net:127.0.0.1:8008~shs:FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY='

test('which strings are addresses: schemes, multiaddrs, IPs and host:port; everything else is an id, SSB ids included', () => {
  for (const a of ['tcp://127.0.0.1:4001', 'mem://b', 'ws://example.org/x', MS_ADDRESS, '/ip4/127.0.0.1/tcp/4001', '[::1]:4001', '127.0.0.1', '::1', '127.0.0.1:4001', 'localhost:4001']) {
    assert.equal(isAddress(a), true, a)
  }
  for (const id of [SSB_ID, '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', 'ab'.repeat(32), 'bob']) {
    assert.equal(isAddress(id), false, id)
  }
})

test('an SSB id banned before it ever connected is refused when it dials in, and stays banned', () => {
  const { m } = manager()
  m.setPriority([{ peer: SSB_ID, priority: 'banned' }])
  assert.equal(m.getPeer(SSB_ID)?.id, SSB_ID, 'known by id, not as an address')
  assert.equal(m.connected(testConnection(SSB_ID, { direction: 'inbound', address: MS_ADDRESS })), false)
  assert.equal(m.stats().banned, 1)
  assert.equal(m.admits(SSB_ID, MS_ADDRESS), false)
})

test('a multiserver address given to setPriority is an address: the peer that connects from it is banned', () => {
  const { m } = manager()
  m.setPriority([{ peer: MS_ADDRESS, priority: 'banned' }])
  assert.equal(m.getPeer(SSB_ID), undefined)
  assert.equal(m.connected(testConnection(SSB_ID, { direction: 'inbound', address: MS_ADDRESS })), false)
})

test('tags, protection and long-term on an SSB id work like on any id', () => {
  const { m } = manager()
  m.tagPeer(SSB_ID, 'friend', 10)
  m.protect(SSB_ID, 'mine')
  m.setLongTerm(SSB_ID, true)
  assert.equal(m.connected(testConnection(SSB_ID, { direction: 'inbound', address: MS_ADDRESS })), true)
  const info = m.getPeer(SSB_ID)!
  assert.equal(info.value, 10)
  assert.equal(info.protected, true)
  assert.equal(info.longTerm, true)
})
