import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DueQueue } from '../../src/adapters/hyperswarm/patches.js'
import type { HyperswarmPeerInfo } from '../../src/adapters/hyperswarm/types.js'

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
