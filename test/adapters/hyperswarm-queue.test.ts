import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { manageSwarm, type HyperswarmLike } from '../../src/adapters/hyperswarm.js'
import { DueQueue } from '../../src/adapters/hyperswarm/patches.js'
import type { HyperswarmPeerInfo } from '../../src/adapters/hyperswarm/types.js'
import { ManualClock } from '../../src/testing/index.js'

const info = (name: string, explicit: boolean): HyperswarmPeerInfo => ({ publicKey: Buffer.from(name), topics: [], explicit, queued: true } as unknown as HyperswarmPeerInfo)

test('the managed dial queue hands topic peers to the manager at once and keeps the application\'s joinPeer peers for Hyperswarm to dial, as its own queue would', () => {
  const due: string[] = []
  const q = new DueQueue((i) => { due.push(Buffer.from(i.publicKey).toString()) })
  const topicPeer = info('topic', false)
  const joined = info('joined', true)
  q.add(topicPeer)
  assert.deepEqual(due, ['topic'])
  assert.equal(topicPeer.queued, false, 'a topic peer is never held')
  assert.equal(q.length, 0)
  // Hyperswarm's retry timer requeues an explicit peer: it waits here, once, until Hyperswarm shifts it.
  q.add(joined)
  q.add(joined)
  assert.equal(q.length, 1, 'held once')
  assert.deepEqual(due, ['topic'], 'not handed to the manager')
  assert.equal(q.shift(), joined)
  assert.equal(q.length, 0)
  assert.equal(q.shift(), undefined)
  // leavePeer while it waited: no longer the application's, so the manager decides.
  const left = info('left', true)
  q.add(left)
  left.explicit = false
  assert.equal(q.shift(), undefined)
  assert.deepEqual(due, ['topic', 'left'])
  assert.equal(left.queued, false)
})

test('a peer the manager closed keeps the manager\'s backoff when Hyperswarm hands it back as due; a peer whose connection closed on its own is due at once (deliberate difference 5)', async () => {
  const clock = new ManualClock()
  const swarm = new EventEmitter() as unknown as HyperswarmLike & EventEmitter
  Object.assign(swarm, {
    keyPair: { publicKey: Buffer.alloc(32, 1) },
    connections: new Set(),
    peers: new Map(),
    maxPeers: 64,
    _queue: { length: 0, add () {}, shift () { return undefined } },
    join () { return {} },
    async leave () {},
    joinPeer () {},
    leavePeer () {}
  })
  const managed = manageSwarm(swarm, { lowWater: 0, highWater: 4, clock })
  try {
    const topic = Buffer.alloc(32, 9)
    const peerInfo = (n: number): HyperswarmPeerInfo => ({ publicKey: Buffer.alloc(32, n), topics: [topic], explicit: false, queued: true } as unknown as HyperswarmPeerInfo)
    const conns = new Map<number, EventEmitter & { destroy: () => void }>()
    for (const n of [2, 3]) {
      const c = Object.assign(new EventEmitter(), { remotePublicKey: Buffer.alloc(32, n), isInitiator: true, destroy () { queueMicrotask(() => c.emit('close')) } })
      conns.set(n, c)
      swarm.emit('connection', c, peerInfo(n))
    }
    assert.equal(managed.manager.stats().connections, 2)
    const id = (n: number): string => Buffer.alloc(32, n).toString('hex')
    await managed.manager.disconnect(id(2)) // the manager closes 2
    conns.get(3)!.emit('close') // 3 closes on its own (the remote left)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(managed.manager.stats().connections, 0)
    const waitOf = (n: number): number => (managed.manager.getPeer(id(n))?.nextDialAt ?? 0) - clock.now()
    assert.ok(waitOf(2) > 0, `the manager's backoff for the peer it closed (${waitOf(2)} ms)`)
    // Hyperswarm's retry timer fires for both: its queue hands them to the manager as due.
    swarm._queue!.add(peerInfo(2))
    swarm._queue!.add(peerInfo(3))
    assert.ok(waitOf(2) > 0, `still the manager's backoff (${waitOf(2)} ms)`)
    assert.ok(waitOf(3) <= 0, `due at once, on Hyperswarm's table (${waitOf(3)} ms)`)
  } finally {
    await managed.close()
  }
})
