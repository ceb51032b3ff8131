import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerNode } from '../../src/node/index.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

const nonBootstrap = (n: PeerNode, boot: PeerNode): number => n.connections().filter((c) => c.peer !== boot.id).length

test('12 nodes join a topic through one bootstrap (lowWater 4): each ends with 4 peers besides the bootstrap, which they let go', { timeout: 60_000 }, async (t) => {
  const boot = await testNode(t, { manager: { lowWater: 4, highWater: 40 } })
  const via = [`${boot.addresses[0]}#${boot.id}`]
  const nodes: PeerNode[] = []
  for (let i = 0; i < 12; i++) nodes.push(await testNode(t, { bootstrap: via, refreshInterval: 500, manager: { lowWater: 4, highWater: 8, gracePeriod: 500 } }))
  await Promise.all(nodes.map(async (n) => await n.join('release')))
  await until(() => nodes.every((n) => nonBootstrap(n, boot) >= 4), 20_000, 'every node to hold 4 peers besides the bootstrap')
  // Those with lowWater elsewhere let the bootstrap go: it is left with few connections.
  await until(() => boot.connections().length <= 3, 10_000, `the bootstrap to be released (holds ${boot.connections().length})`)
  assert.ok(nodes.every((n) => nonBootstrap(n, boot) >= 4), 'releasing the bootstrap left every node at lowWater')
})

test('a quiet swarm that let its bootstrap go stays findable there: a newcomer finds the topic long after the announcements would have expired', { timeout: 60_000 }, async (t) => {
  const boot = await testNode(t, { announceTtl: 400, manager: { lowWater: 2, highWater: 40 } })
  const via = [`${boot.addresses[0]}#${boot.id}`]
  const opts = { bootstrap: via, announceTtl: 400, refreshInterval: 300, manager: { lowWater: 2, highWater: 6, gracePeriod: 200 } }
  const nodes: PeerNode[] = []
  for (let i = 0; i < 5; i++) nodes.push(await testNode(t, opts))
  await Promise.all(nodes.map(async (n) => await n.join('quiet')))
  await until(() => nodes.every((n) => nonBootstrap(n, boot) >= 2) && boot.connections().length === 0, 20_000, 'the swarm to form and release the bootstrap')
  const released = Date.now()
  // Every node visits the bootstrap it let go (on its next refresh round)...
  await until(() => nodes.every((n) => n.stats().rendezvousVisits >= 1) && boot.stats().rendezvousVisitsServed >= nodes.length, 15_000, 'every node to visit the bootstrap')
  // ...and five announcement lifetimes pass without a connection to it: the visits kept the registrations.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, released + 2000 - Date.now())))
  assert.equal(boot.connections().length, 0, 'nobody holds the bootstrap')
  const newcomer = await testNode(t, opts)
  await newcomer.join('quiet')
  await until(() => nonBootstrap(newcomer, boot) >= 2, 10_000, 'the newcomer to find the swarm through the bootstrap')
})

test('a node that leaves a topic or closes after letting the bootstrap go is withdrawn there by a visit', { timeout: 60_000 }, async (t) => {
  const boot = await testNode(t, { manager: { lowWater: 2, highWater: 40 } })
  const via = [`${boot.addresses[0]}#${boot.id}`]
  const opts = { bootstrap: via, refreshInterval: 300, manager: { lowWater: 2, highWater: 6, gracePeriod: 200 } }
  const nodes: PeerNode[] = []
  for (let i = 0; i < 5; i++) nodes.push(await testNode(t, opts))
  await Promise.all(nodes.map(async (n) => await n.join('withdraw')))
  await until(() => nodes.every((n) => nonBootstrap(n, boot) >= 2) && boot.connections().length === 0, 20_000, 'the swarm to form and release the bootstrap')
  // The bootstrap holds one registration per node (one topic): the visits keep them.
  const registered = (): number => boot.stats().rendezvousRegistrations
  await until(() => registered() === 5, 5000, 'every node to be registered at the bootstrap')
  const [x, y] = [nodes[0]!, nodes[1]!]
  await x.leave('withdraw')
  assert.equal(registered(), 4, 'leave() resolved once the bootstrap withdrew the node')
  await y.close()
  assert.equal(registered(), 3, 'close() resolved once the bootstrap withdrew the node')
  assert.ok(x.stats().rendezvousVisits >= 1 && y.stats().rendezvousVisitsFailed === 0)
})
