import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm } from '../../src/adapters/hyperswarm.js'
import { until, within } from '../helpers/wait.js'
import { connectionContract, spyManager, type ConnectedPair } from './connection.js'

// The Hyperswarm adapter's managed connection (src/adapters/hyperswarm.ts) between two swarms on a
// @hyperswarm/testnet bound to 127.0.0.1. A Hyperswarm connection is one encrypted stream: it cannot
// carry a close reason (close() destroys it), and it has no channels the Connection counts (`streams`
// is undefined), so those two properties are not checked.

let testnet: Testnet | undefined
let swarms: Hyperswarm[] = []
let managed: ManagedSwarm[] = []
const noop = (): void => {}
const hex = (s: Hyperswarm): string => Buffer.from((s as unknown as HyperswarmLike).keyPair.publicKey).toString('hex')

connectionContract({
  name: 'hyperswarm',
  timeoutMs: 15_000,
  async connect (): Promise<ConnectedPair> {
    testnet = await createTestnet(3, { host: '127.0.0.1' })
    const a = new Hyperswarm({ dht: testnet.createNode() })
    const b = new Hyperswarm({ dht: testnet.createNode() })
    swarms = [a, b]
    for (const s of swarms) s.on('connection', (conn: { on: (e: string, fn: () => void) => void }) => { conn.on('error', noop) })
    managed = swarms.map((s) => manageSwarm(s as unknown as HyperswarmLike, { lowWater: 0, highWater: 4 }))
    const diallerManager = spyManager(managed[0]!.manager)
    const listenerManager = spyManager(managed[1]!.manager)
    await Promise.all(swarms.map(async (s) => { await s.dht.fullyBootstrapped() }))
    await Promise.all(swarms.map(async (s) => { await (s as unknown as { listen(): Promise<void> }).listen() }))
    const outbound = await diallerManager.manager.connectNow(`hyperswarm:${hex(b)}`, { signal: AbortSignal.timeout(10_000) })
    await until(() => listenerManager.manager.listConnections().length === 1, 5_000, 'the listener to hold the connection')
    const id = listenerManager.manager.listConnections()[0]!.id
    const inbound = listenerManager.connectedOnes.find((c) => c.id === id)!
    return { outbound, inbound, dialler: hex(a), listener: hex(b), diallerManager, listenerManager }
  },
  async cleanup () {
    await within(Promise.allSettled(managed.map(async (m) => { await m.close() })), 5_000, 'close').catch(noop)
    await within(Promise.allSettled(swarms.map(async (s) => { await s.destroy() })), 8_000, 'destroy').catch(async () => {
      await Promise.allSettled(swarms.map(async (s) => { await s.destroy({ force: true }) }))
    })
    if (testnet !== undefined) await within(testnet.destroy(), 5_000, 'testnet').catch(noop)
    testnet = undefined
    swarms = []
    managed = []
  }
})
