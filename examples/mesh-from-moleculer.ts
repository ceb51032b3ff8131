// For a Moleculer or socketmesh team: a Gateway and two Math workers. Moleculer's names in the
// comments; the schema is socketmesh's. No transporter to run: nodes connect to each other, and a
// registry (here in the same process) introduces them and binds each role to a key.
//
// npm install peerwarden
import assert from 'node:assert/strict'
import { createRegistry, createMeshNode, defineSchema } from 'peerwarden/mesh'

const schema = defineSchema({
  Gateway: { _connect: ['Math'] }, // may call Math
  Math: {
    _allow: ['Gateway'], // may be called by Gateway
    _commands: {
      _balanced: { // actions: one instance answers (broker.call)
        add: ({ a, b }: { a: number; b: number }) => ({ sum: a + b }),
        divide: {
          idempotent: true, // retryPolicy: may run again on another instance
          method: ({ a, b }: { a: number; b: number }) => {
            if (b === 0) throw new Error('division by zero')
            return { quotient: a / b }
          }
        }
      },
      _broadcast: { ping: { responds: true, method: () => 'pong' } } // every instance (broker.broadcast)
    }
  }
})

const networkKey = 'my-mesh-secret' // only nodes with the key can even handshake
const registry = await createRegistry({ schema, networkKey, listen: ['tcp://127.0.0.1:0'] })
const address = registry.addresses[0]!
const workers = [
  await createMeshNode({ schema, role: 'Math', variant: 'm1', registry: address, networkKey }),
  await createMeshNode({ schema, role: 'Math', variant: 'm2', registry: address, networkKey })
]
const gateway = await createMeshNode({ schema, role: 'Gateway', registry: address, networkKey, breaker: true }) // circuitBreaker
await gateway.ready('Math', { timeout: 5000 }) // waitForServices

const { sum } = await gateway.call.Math.add({ a: 1, b: 2 }, { timeout: 2000 }) // typed: sum is a number
assert.equal(sum, 3)
await assert.rejects(gateway.call.Math.divide({ a: 1, b: 0 }), (err: Error & { code?: string }) => {
  console.log(`${err.code}: ${err.message}`) // ERR_REMOTE: Math/m1: division by zero (a throw is not retried)
  return err.code === 'ERR_REMOTE'
})
while (gateway.instances('Math').length < 2) await new Promise((resolve) => { gateway.events.addEventListener('connection', resolve, { once: true }) })
const answers = await gateway.call.Math.ping() // one settled entry per instance
assert.deepEqual(answers.map((a) => a.ok ? a.value : a.error).sort(), ['pong', 'pong'])
await Promise.all([gateway.close(), ...workers.map(async (w) => { await w.close() })])
await registry.close()
