// For a Hyperswarm developer: four swarms on one topic, each managed with highWater 2. Hyperswarm's
// own API is unchanged (join, flush, 'connection'); the manager decides who stays, in both
// directions. Here on a local DHT bound to 127.0.0.1; on the internet, leave out `dht`.
//
// npm install peerwarden hyperswarm @hyperswarm/testnet
// Neither ships types: a vendor.d.ts with `declare module 'hyperswarm'` and
// `declare module '@hyperswarm/testnet'` will do.
import assert from 'node:assert/strict'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { manageSwarm } from 'peerwarden/hyperswarm'

const testnet = await createTestnet(3, { host: '127.0.0.1' })
const swarms = [0, 1, 2, 3].map(() => new Hyperswarm({ dht: testnet.createNode() }))
const managed = swarms.map((swarm) => manageSwarm(swarm, { lowWater: 1, highWater: 2 }))
for (const swarm of swarms) {
  swarm.on('connection', (conn: { on: (e: string, f: () => void) => void }) => { conn.on('error', () => {}) })
}

const topic = Buffer.alloc(32, 'chat')
// One at a time: a swarm finds only the peers whose announcement was flushed before its lookup.
for (const swarm of swarms) await swarm.join(topic).flushed()
await Promise.all(swarms.map(async (swarm) => { await swarm.flush() }))

for (const { manager } of managed) {
  const { connections, inbound, outbound } = manager.stats()
  console.log(`${connections} connections (${inbound} in, ${outbound} out)`)
  assert.ok(connections <= 2)
}
assert.ok(managed.some(({ manager }) => manager.stats().connections > 0))
await Promise.all(managed.map(async (m) => { await m.close() })) // the swarms are theirs again
await Promise.all(swarms.map(async (swarm) => { await swarm.destroy() }))
await testnet.destroy()
