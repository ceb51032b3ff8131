import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import type { RendezvousTable } from '../../src/node/rendezvous.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// Bug: a node that left a topic stayed registered at the rendezvous points it was no longer
// connected to (a point that trimmed it after it announced there, or one that turned it away and
// registered it from its hello): `leave()` withdrew only from connected points and from the
// bootstrap peers it visits, so those points kept handing it out, and others kept dialling it for a
// topic it had left, until the registration's ttl ran out (a minute by default).

const T = { timeout: 30_000 }
const TOPIC = 'stale-registration'
const key = discoveryKey(TOPIC)

/** Whether `point`'s rendezvous table holds `peer` for the topic. */
function holds (point: PeerNode, peer: string): boolean {
  return (point as unknown as { rendezvous: RendezvousTable }).rendezvous.holds(key, peer)
}

/** A point (not a bootstrap peer of anyone) and a node that announces the topic there, then is disconnected from it. */
async function registeredThenDisconnected (t: TestContext): Promise<{ point: PeerNode; x: PeerNode }> {
  // A long ttl: the registration would outlive the test, whatever the machine's speed.
  const point = await testNode(t, { announceTtl: 600_000, manager: { lowWater: 0, highWater: 20 } })
  const x = await testNode(t, { announceTtl: 600_000, refreshInterval: 600_000, manager: { lowWater: 0, highWater: 20 } })
  await x.manager.connectNow(point.addresses[0]!)
  await x.join(TOPIC)
  await until(() => holds(point, x.id), 5000, 'the point to register x')
  await x.manager.disconnect(point.id)
  await until(() => point.connections().length === 0 && x.connections().length === 0, 5000, 'both sides to see the close')
  assert.equal(holds(point, x.id), true, 'the registration outlives the connection (a point that trimmed x still hands it out)')
  return { point, x }
}

test('a node that leaves a topic is withdrawn from a rendezvous point it was disconnected from: leave() resolves once the point forgot it', T, async (t) => {
  const { point, x } = await registeredThenDisconnected(t)
  await x.leave(TOPIC)
  assert.equal(holds(point, x.id), false, 'the point no longer hands x out for the topic it left')
  assert.equal(x.connections().length, 0, 'withdrawing opened no connection')
})

test('a node that closes is withdrawn from a rendezvous point it was disconnected from: close() resolves once the point forgot it', T, async (t) => {
  const { point, x } = await registeredThenDisconnected(t)
  await x.close()
  assert.equal(holds(point, x.id), false, 'the point no longer hands the closed node out')
})

test('a node turned away by a full rendezvous point (which registered it from its hello) is withdrawn there when it leaves', T, async (t) => {
  const point = await testNode(t, { announceTtl: 600_000, manager: { lowWater: 0, highWater: 1 } })
  const filler = await testNode(t, { manager: { lowWater: 0, highWater: 20 } })
  await filler.manager.connectNow(point.addresses[0]!)
  const x = await testNode(t, { announceTtl: 600_000, refreshInterval: 600_000, manager: { lowWater: 0, highWater: 20 } })
  await x.join(TOPIC) // alone: nothing to wait for
  await assert.rejects(x.manager.connectNow(point.addresses[0]!), (err: Error & { cause?: unknown }) => err.cause === 'over-limit')
  await until(() => holds(point, x.id), 5000, 'the full point to register the newcomer it turned away')
  await x.leave(TOPIC)
  assert.equal(holds(point, x.id), false, 'the point no longer hands x out for the topic it left')
})
