import assert from 'node:assert/strict'
import { test } from 'node:test'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import type { RendezvousTable } from '../../src/node/rendezvous.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// Bans must hold in every corner: a visit to a rendezvous point is no connection for the manager,
// so the node checks the ban itself; a banned peer is never registered, by a visit or by the hello
// of a refused connection, and so never handed out to others.

const T = { timeout: 30_000 }

function holds (point: PeerNode, topic: string, peer: string): boolean {
  return (point as unknown as { rendezvous: RendezvousTable }).rendezvous.holds(discoveryKey(topic), peer)
}

test('a banned peer that keeps dialling a rendezvous point and visits it is never registered there, nor handed out', T, async (t) => {
  const point = await testNode(t, { manager: { lowWater: 0, highWater: 20 } })
  const evil = await testNode(t, { bootstrap: [`${point.addresses[0]}#${point.id}`], manager: { lowWater: 2, highWater: 20 } })
  point.manager.setPriority([{ peer: evil.id, priority: 'banned' }])
  await evil.join('banned-topic')
  // Refused as a connection ('banned'), it visits the point it cannot connect to.
  await until(() => evil.stats().rendezvousVisits >= 1, 10_000, 'the banned peer to visit the point')
  assert.equal(point.connections().length, 0, 'never connected')
  assert.equal(holds(point, 'banned-topic', evil.id), false, 'neither its hello nor its visits registered it')
  assert.equal(point.stats().rendezvousVisitsServed, 0, 'a banned visitor is not served')
  // A newcomer asking the point for the topic does not learn it.
  const asker = await testNode(t, { bootstrap: [`${point.addresses[0]}#${point.id}`], manager: { lowWater: 1, highWater: 20 } })
  const learnt = new Set<string>()
  asker.manager.observePeers((peers) => { for (const p of peers) if (p.id !== undefined) learnt.add(p.id) })
  await asker.join('banned-topic')
  await until(() => asker.flushed('banned-topic'), 10_000, 'the asker to look the topic up')
  assert.equal(learnt.has(evil.id), false, 'the banned peer is not handed out')
})
