/**
 * A network for the dashboard's browser test and screenshots, run as a child process: a `Simulation`
 * of PEERWARDEN_NODES nodes (default 40) whose virtual clock advances one second every 100 ms of wall
 * time, and a small real mesh on 127.0.0.1 (a registry, a caller and three workers, the caller calling
 * about 20 times a second), served by one dashboard. It prints one JSON line { url } and runs until
 * killed.
 */
import { serveDashboard } from '../../src/dashboard/index.js'
import { createMeshNode, createRegistry, defineSchema, type MeshNode } from '../../src/mesh/index.js'
import { Simulation, xorshift } from '../../src/testing/index.js'

const nodes = Number(process.env.PEERWARDEN_NODES ?? 40)
const sim = new Simulation({ nodes, bootstrap: 2, random: xorshift(7), exchange: 4, referrals: 2, manager: { lowWater: 3, highWater: 6, gracePeriod: 5_000 } })
sim.start()
let advancing = false
const clockTimer = setInterval(() => {
  if (advancing) return
  advancing = true
  void sim.run(1000).finally(() => { advancing = false })
}, 100)

const schema = defineSchema({
  Gateway: { _connect: ['Worker'] },
  Worker: { _allow: ['Gateway'], _commands: { _balanced: { work: () => null, lookup: () => null } } }
})
const registry = await createRegistry({ schema, open: true })
const mesh: MeshNode[] = []
mesh.push(await createMeshNode({ schema, role: 'Gateway', variant: 'gw1', registry: registry.addresses[0], breaker: true }))
for (const v of ['w1', 'w2', 'w3']) {
  mesh.push(await createMeshNode({
    schema,
    role: 'Worker',
    variant: v,
    registry: registry.addresses[0],
    handlers: {
      work: () => ({ v }),
      lookup: () => { throw new Error('not found') }
    }
  }))
}
const gateway = mesh[0] as MeshNode<typeof schema>
await gateway.ready('Worker')
let i = 0
const callTimer = setInterval(() => {
  i++
  void gateway.call.Worker.work({ i }).catch(() => {})
  if (i % 7 === 0) void gateway.call.Worker.lookup({ i }).catch(() => {})
}, 50)

const view = await serveDashboard(sim.nodes[0].manager, {
  title: `simulation of ${nodes} nodes`,
  interval: 500,
  network: { nodes: () => sim.nodes.filter((n) => n.transport.online).map((n) => ({ id: n.id, manager: n.manager, bootstrap: n.bootstrap, label: n.id })) },
  mesh: {
    instances: () => mesh.map((m) => ({
      id: m.id,
      role: m.role,
      variant: m.variant,
      // The mesh's own figures: the gateway's calls per command and instance, its breakers.
      stats: () => m.stats()
    }))
  }
})
process.stdout.write(JSON.stringify({ url: view.url }) + '\n')

process.once('SIGTERM', () => {
  clearInterval(clockTimer)
  clearInterval(callTimer)
  void (async () => {
    await view.close()
    for (const m of mesh) await m.close()
    await registry.close()
    await sim.stop()
    process.exit(0)
  })()
})
