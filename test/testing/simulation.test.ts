import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Simulation } from '../../src/testing/simulation.js'

async function run (releaseBootstrap: boolean): Promise<{ boot: number; others: number[]; total: number[]; withBoot: boolean[] }> {
  const sim = new Simulation({ nodes: 13, bootstrap: 1, manager: { lowWater: 4, highWater: 8, gracePeriod: 5_000, releaseBootstrap } })
  sim.start()
  await sim.run(120_000)
  const [boot, ...rest] = sim.nodes
  const others = rest.map((n) => n.manager.listConnections().filter((c) => c.peer !== boot!.id).length)
  const total = rest.map((n) => n.manager.stats().connections)
  const withBoot = rest.map((n) => n.manager.listConnections().some((c) => c.peer === boot!.id))
  const out = { boot: boot!.manager.stats().connections, others, total, withBoot }
  await sim.stop()
  return out
}

test('simulation: 12 nodes joining through one bootstrap (lowWater 4) each end with lowWater peers, the bootstrap counted only where it stays (it dialled them)', async () => {
  const { boot, others, total, withBoot } = await run(true)
  assert.ok(total.every((n) => n >= 4), `connections: ${total.join(' ')}`)
  // Those the bootstrap did not dial let it go and hold 4 others; those it dialled keep it, and it counts.
  for (let i = 0; i < others.length; i++) assert.ok(others[i]! >= (withBoot[i]! ? 3 : 4), `node ${i}: ${others[i]} besides the bootstrap (connected to it: ${withBoot[i]})`)
  // The bootstrap keeps what its own lowWater asks for (it dials too), no more.
  assert.ok(boot <= 4, `the bootstrap holds ${boot} connections`)
})

test('simulation: with releaseBootstrap false the bootstrap stays occupied by the nodes that met lowWater through it', async () => {
  const { boot } = await run(false)
  assert.ok(boot >= 6, `the bootstrap holds ${boot} connections`)
})

test('simulation: a node restarted with its store comes back knowing the peers it knew, with their history (the compact store keeps every field)', async () => {
  const sim = new Simulation({ nodes: 20, bootstrap: 1, manager: { lowWater: 4, highWater: 8, gracePeriod: 5_000 } })
  sim.start()
  await sim.run(60_000)
  const node = sim.nodes[5]!
  const peers = (list: ReturnType<typeof node.manager.listPeers>): string[] =>
    list.filter((p) => !p.bootstrap).map((p) => JSON.stringify([p.id, p.addresses, p.priority, p.topics, p.longTerm, p.lastConnected !== undefined, p.failures])).sort()
  await sim.stop([node])
  const before = peers(node.manager.listPeers())
  assert.ok(before.length >= 4, `the node knew ${before.length} peers`)
  await sim.restart([node])
  await node.manager.ready()
  const after = peers(node.manager.listPeers())
  for (const p of before) assert.ok(after.includes(p), `restored as it was: ${p}`)
  await sim.stop()
})

test('simulation: connectedGraph says whether the online nodes are one network, and leaves offline ones out', async () => {
  // Managers never started: the links are made by hand.
  const sim = new Simulation({ nodes: 5, bootstrap: 1, latency: 0, manager: { lowWater: 0, highWater: 8 } })
  const [a, b, c, d, e] = sim.nodes.map((n) => n.transport)
  const link = async (from: typeof a, to: typeof a): Promise<void> => { await from!.dial(to!.address, { signal: new AbortController().signal }) }
  await link(a, b)
  await link(b, c)
  await link(d, e)
  assert.equal(sim.connectedGraph(), false, 'a-b-c and d-e are two pieces')
  await link(c, d)
  assert.equal(sim.connectedGraph(), true)
  e!.goOffline()
  d!.goOffline()
  assert.equal(sim.connectedGraph(), true, 'the offline nodes are not counted')
  c!.goOffline()
  a!.goOffline()
  b!.goOffline()
  assert.equal(sim.connectedGraph(), true, 'no node online: nothing to split')
})
