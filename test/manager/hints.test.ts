import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager, memoryStore } from '../../src/index.js'
import type { ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

// Addresses learnt from third parties (peer exchange, lookups) are hints: `addPeers([{ …, hint: true }])`.
// A hint never takes an address from another peer, never removes one, and costs at most one dial per
// address per backoff period whatever id it claims.

const A = 'tcp://10.0.0.1:4001'
const B = 'tcp://10.0.0.2:4001'

function failingDial (dials: string[]): ConnectionManagerOptions['dial'] {
  return async (address) => {
    dials.push(address)
    throw new Error('unreachable')
  }
}

test('a hint claiming the address of a connected peer leaves that peer its address (regression: one { id, addresses } emptied an honest peer\'s record, and the store kept it)', async () => {
  const store = memoryStore()
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, store })
  m.connected(testConnection('honest', { direction: 'outbound', address: A }))
  assert.deepEqual(m.getPeer('honest')?.addresses, [A])
  m.addPeers([{ id: 'liar', addresses: [A], hint: true }])
  assert.deepEqual(m.getPeer('honest')?.addresses, [A])
  assert.equal(m.getPeer('liar'), undefined, 'a hint whose every address belongs to another peer creates nothing')
  await m.close()
  const stored = await store.load()
  assert.deepEqual(stored.find((p) => p.id === 'honest')?.addresses, [A])
})

test('a hint claiming an address another known peer holds does not take it, even from a peer never connected', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  m.addPeers([{ id: 'h', addresses: [A] }])
  m.addPeers([{ id: 'x', addresses: [A, B], hint: true }])
  assert.deepEqual(m.getPeer('h')?.addresses, [A])
  assert.deepEqual(m.getPeer('x')?.addresses, [B])
  await m.close()
})

test('a hint never gives an address-only peer an id, nor its settings to another peer', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  m.addPeers([{ address: A, longTerm: true }])
  m.addPeers([{ id: 'x', addresses: [A], hint: true }])
  const info = m.getPeer(A)
  assert.equal(info?.id, undefined)
  assert.equal(info?.longTerm, true)
  assert.equal(m.getPeer('x'), undefined)
  await m.close()
})

test('a hint adds addresses to a peer we reached directly but never removes or replaces its own', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  m.connected(testConnection('h', { direction: 'outbound', address: A }))
  m.addPeers([{ id: 'h', addresses: [B], hint: true }])
  assert.deepEqual(m.getPeer('h')?.addresses, [A, B])
  await m.close()
})

test('a hint adds topics but never removes them', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  m.addPeers([{ id: 'h', addresses: [A], topics: ['chat'] }])
  m.addPeers([{ id: 'h', topics: ['files'], hint: true }])
  assert.deepEqual(m.getPeer('h')?.topics, ['chat', 'files'])
  await m.close()
})

test('a hint carries no priority, long-term or bootstrap flag: addPeers refuses them, naming the field', async () => {
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock() })
  for (const extra of [{ priority: 'high' as const }, { longTerm: true }, { bootstrap: true }]) {
    assert.throws(() => { m.addPeers([{ id: 'x', address: A, hint: true, ...extra }]) }, (err: unknown) => {
      assert.ok(err instanceof PeerwardenError)
      assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
      assert.match(err.message, new RegExp(`peers\\[0\\]\\.${Object.keys(extra)[0]}`))
      return true
    })
  }
  assert.throws(() => { m.addPeers([{ id: 'x', address: A, hint: 'yes' as never }]) }, /peers\[0\]\.hint/)
  await m.close()
})

test('39 ids claiming one address cost one dial per backoff period', async () => {
  const clock = new ManualClock()
  const dials: string[] = []
  const m = createConnectionManager({ dial: failingDial(dials), clock, random: () => 0.5, lowWater: 50 })
  m.start()
  for (let i = 0; i < 39; i++) m.addPeers([{ id: `x${i}`, addresses: [A], hint: true }])
  await clock.advance(4_999) // the unproven backoff is 5,000 ms with random() = 0.5
  assert.equal(dials.length, 1)
  await clock.advance(2)
  assert.equal(dials.length, 2)
  await m.close()
})

test('an address that failed is not dialled again before its backoff ends, whichever id claims it next', async () => {
  const clock = new ManualClock()
  const dials: string[] = []
  const m = createConnectionManager({ dial: failingDial(dials), clock, random: () => 0.5, lowWater: 50 })
  m.start()
  m.addPeers([{ id: 'x1', addresses: [A], hint: true }])
  await clock.advance(10)
  assert.equal(dials.length, 1)
  assert.equal(m.stats().addressWaits, 1)
  m.forgetPeer('x1')
  m.addPeers([{ id: 'x2', addresses: [A], hint: true }])
  await clock.advance(4_000)
  assert.equal(dials.length, 1, 'x2 waits for the address\'s backoff')
  await clock.advance(1_000)
  assert.equal(dials.length, 2)
  await m.close()
})

test('a dial of a hint address that answers as another peer gives the address to that peer, and the claim, left without an address, is dropped', async () => {
  const clock = new ManualClock()
  const dial: ConnectionManagerOptions['dial'] = async (address) => testConnection('honest', { direction: 'outbound', address })
  const m = createConnectionManager({ dial, clock, random: () => 0.5, lowWater: 1 })
  m.addPeers([{ id: 'liar', addresses: [A], hint: true }])
  m.start()
  await clock.advance(10)
  assert.equal(m.getPeer('honest')?.connected, true)
  assert.deepEqual(m.getPeer('honest')?.addresses, [A])
  assert.equal(m.getPeer('liar'), undefined)
  await m.close()
})

test('a peer learnt from a hint and then banned keeps its ban when a connection proves its address is another peer\'s (regression found by the property test: the ban was forgotten with the claim)', async () => {
  const store = memoryStore()
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), store })
  m.addPeers([{ id: 'c', addresses: [A], hint: true }])
  m.setPriority([{ peer: 'c', priority: 'banned' }])
  m.connected(testConnection('a', { direction: 'outbound', address: A }))
  assert.equal(m.getPeer('c')?.priority, 'banned')
  assert.equal(m.stats().banned, 1)
  await m.close()
  assert.equal((await store.load()).find((p) => p.id === 'c')?.priority, 'banned', 'the application named it: it is stored')
})
