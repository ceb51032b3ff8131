import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { Discovery, discoveryKey } from '../../src/node/discovery.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { noDial } from '../helpers/manager.js'
import { ManualClock } from '../../src/testing/index.js'

/** A xorshift generator: the same seed, the same sequence. */
function seeded (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32 }
}

async function learnOrder (random: () => number, peers: Array<{ id: string; addresses: string[] }>): Promise<string[]> {
  const manager = createConnectionManager({ dial: noDial })
  const d = new Discovery({ localId: 'f'.repeat(64), manager, rendezvous: undefined, addresses: () => [], connections: () => [] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 100, quotaMin: 3, lowWater: 3, random, clock: new ManualClock() })
  try {
    await d.join('chat', { announce: false })
    d.message({} as NodeConnection, { t: 'pex', topic: discoveryKey('chat'), peers } as never)
    return manager.listPeers().map((p) => p.id!)
  } finally {
    await d.leave('chat')
    await manager.close()
  }
}

test('discovery: every node shuffles what a lookup found, so newcomers do not all dial the same first peers', async () => {
  const peers = Array.from({ length: 20 }, (_, i) => ({ id: i.toString(16).padStart(64, '0'), addresses: [`tcp://127.0.0.1:${4000 + i}`] }))
  const given = peers.map((p) => p.id)
  const a = await learnOrder(seeded(1), peers)
  const b = await learnOrder(seeded(2), peers)
  assert.deepEqual([...a].sort(), [...given].sort(), 'every peer is learnt')
  assert.notDeepEqual(a, given, 'not in the order the rendezvous gave')
  assert.notDeepEqual(a, b, 'two nodes learn them in different orders')
  assert.deepEqual(await learnOrder(seeded(1), peers), a, 'the injected random decides')
})

test('discovery: leave() resolves once every rendezvous point answered after our unannounce (or lookupTimeout passed), and learns nothing from that answer', async () => {
  const clock = new ManualClock(0)
  const manager = createConnectionManager({ dial: noDial, clock })
  const sent: Array<{ conn: string; msg: Record<string, unknown> }> = []
  const fake = (id: string): NodeConnection => ({ id, peer: id.repeat(64).slice(0, 64), remoteRendezvous: true, direction: 'inbound', address: 'tcp://127.0.0.1:40000', remoteListen: [], post: (msg: Record<string, unknown>) => { sent.push({ conn: id, msg }); return true } }) as unknown as NodeConnection
  const r1 = fake('a')
  const r2 = fake('b')
  const d = new Discovery({ localId: 'f'.repeat(64), manager, rendezvous: undefined, addresses: () => ['tcp://127.0.0.1:1'], connections: () => [r1, r2] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 2_000, quotaMin: 3, lowWater: 3, random: Math.random, clock })
  const key = discoveryKey('chat')
  const answer = (conn: NodeConnection, id: unknown, peers: unknown[] = []): void => { d.message(conn, { t: 'peers', id, topic: key, peers } as never) }
  // Join: answer its lookups so that it resolves.
  const joining = d.join('chat')
  for (const s of sent.filter((x) => x.msg.t === 'lookup')) answer(s.conn === 'a' ? r1 : r2, s.msg.id)
  await joining
  sent.length = 0

  let left = false
  const leaving = d.leave('chat').then(() => { left = true })
  const order = sent.map((s) => `${s.conn}:${String(s.msg.t)}`)
  assert.deepEqual(order.filter((x) => x !== 'a:topics' && x !== 'b:topics'), ['a:unannounce', 'b:unannounce', 'a:lookup', 'b:lookup'], 'a lookup follows the unannounce on each channel')
  const barrier = sent.filter((s) => s.msg.t === 'lookup')
  answer(r1, barrier[0].msg.id, [{ id: 'c'.repeat(64), addresses: ['tcp://127.0.0.1:2'] }])
  await Promise.resolve()
  assert.equal(left, false, 'one rendezvous point has not answered yet')
  answer(r2, barrier[1].msg.id)
  await leaving
  assert.equal(left, true)
  assert.equal(manager.getPeer('c'.repeat(64)), undefined, 'an answer to the barrier is not learnt: we left the topic')

  // Nobody answers: leave() resolves after lookupTimeout of the clock, not before.
  const again = d.join('chat')
  for (const s of sent.filter((x) => x.msg.t === 'lookup' && x.msg.id !== barrier[0].msg.id && x.msg.id !== barrier[1].msg.id)) answer(s.conn === 'a' ? r1 : r2, s.msg.id)
  await clock.advance(2_000)
  await again
  let leftAgain = false
  const silent = d.leave('chat').then(() => { leftAgain = true })
  await clock.advance(1_999)
  assert.equal(leftAgain, false)
  await clock.advance(1)
  await silent
  assert.equal(leftAgain, true)
  d.leaveAll()
  await manager.close()
})

test('discovery: a peer we could not reach that now has a relayed address (it found itself private) loses its dial backoff, once', async () => {
  const manager = createConnectionManager({ dial: noDial })
  const resets: string[] = []
  const real = manager.resetBackoff.bind(manager)
  manager.resetBackoff = (peer?: string) => { if (peer !== undefined) resets.push(peer); real(peer) }
  const d = new Discovery({ localId: 'f'.repeat(64), manager, rendezvous: undefined, addresses: () => [], connections: () => [] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 100, quotaMin: 3, lowWater: 3, random: Math.random, clock: new ManualClock() })
  const natted = 'a'.repeat(64)
  const other = 'b'.repeat(64)
  const relayed = `tcp://192.0.2.9:4001/relay/${'c'.repeat(64)}`
  try {
    await d.join('chat', { announce: false })
    const pex = (peers: Array<{ id: string; addresses: string[] }>): void => { d.message({} as NodeConnection, { t: 'pex', topic: discoveryKey('chat'), peers } as never) }
    pex([{ id: natted, addresses: ['tcp://172.16.3.2:4001'] }, { id: other, addresses: ['tcp://192.0.2.20:4001'] }])
    assert.deepEqual(resets, [], 'a direct address alone resets nothing')
    pex([{ id: natted, addresses: [relayed] }, { id: other, addresses: ['tcp://192.0.2.21:4001'] }])
    assert.deepEqual(resets, [natted])
    assert.ok(manager.getPeer(natted)!.addresses.includes(relayed))
    pex([{ id: natted, addresses: [relayed.replace('4001', '4002')] }])
    assert.deepEqual(resets, [natted], 'once: the peer already has a relayed address')
    // A peer never heard of before is dialled when its turn comes anyway: nothing to reset.
    pex([{ id: 'd'.repeat(64), addresses: [relayed] }])
    assert.deepEqual(resets, [natted])
  } finally {
    await d.leave('chat')
    await manager.close()
  }
})

test('discovery: a connection accepted after a leave hears our topics again, even none (regression: its hello, made before the leave, kept us listed for the topic)', async () => {
  const clock = new ManualClock(0)
  const manager = createConnectionManager({ dial: noDial, clock })
  const d = new Discovery({ localId: 'f'.repeat(64), manager, rendezvous: undefined, addresses: () => [], connections: () => [] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 100, quotaMin: 3, lowWater: 3, random: Math.random, clock })
  const sent: Array<{ t?: unknown }> = []
  const conn = { id: 'c', peer: 'c'.repeat(64), remoteRendezvous: false, remoteTopics: [], remoteListen: [], direction: 'inbound', post: (msg: { t?: unknown }) => { sent.push(msg); return true } } as unknown as NodeConnection
  const fresh = new Discovery({ localId: 'e'.repeat(64), manager, rendezvous: undefined, addresses: () => [], connections: () => [] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 100, quotaMin: 3, lowWater: 3, random: Math.random, clock })
  fresh.connected(conn)
  assert.equal(sent.length, 0, 'a node that never joined a topic has nothing to correct')
  await d.join('chat')
  await d.leave('chat')
  d.connected(conn)
  assert.deepEqual(sent.filter((m) => m.t === 'topics'), [{ t: 'topics', topics: [], announce: false }])
  d.leaveAll()
  fresh.leaveAll()
  await manager.close()
})
