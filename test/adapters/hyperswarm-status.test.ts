/**
 * Under manageSwarm, `swarm.status(topic)` stays Hyperswarm's: the discovery of a joined topic, with
 * the modes it was joined in, null once left; and what the manager reports (its connections, the
 * connected count of each topic quota) is what the swarm really holds, through joins, leaves and
 * connections coming and going.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm, type ManageSwarmOptions } from '../../src/adapters/hyperswarm.js'
import { until, within } from '../helpers/wait.js'

const T = { timeout: 60_000 }
interface Discovery { isClient: boolean; isServer: boolean }
/** What the typings of Hyperswarm leave out. */
type Untyped = Hyperswarm & { status(topic: Uint8Array): unknown; leave(topic: Uint8Array): Promise<void> }

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex')

/** Three swarms on a local testnet (all destroyed after the test), `ours` the first; `manage` puts it under a manager (closed first). */
async function threeSwarms (t: TestContext): Promise<{ swarms: Untyped[]; ours: Untyped; status: (topic: Uint8Array) => Discovery | null; manage: (options: ManageSwarmOptions) => ManagedSwarm }> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const swarms = [0, 1, 2].map(() => new Hyperswarm({ dht: testnet.createNode() }) as Untyped)
  // A peer's connections reset when another swarm goes: never an uncaught error.
  for (const s of swarms) s.on('connection', (conn) => { conn.on('error', () => {}) })
  const ours = swarms[0]!
  let managed: ManagedSwarm | undefined
  t.after(async () => {
    await within(managed?.close() ?? Promise.resolve(), 5000, 'close').catch(() => {})
    await within(Promise.allSettled(swarms.map(async (s) => { await s.destroy() })), 8000, 'destroy').catch(() => {})
    await within(testnet.destroy(), 5000, 'testnet').catch(() => {})
  })
  return {
    swarms,
    ours,
    status: (topic) => ours.status(topic) as Discovery | null,
    manage: (options) => (managed = manageSwarm(ours as unknown as HyperswarmLike, options))
  }
}

test('hyperswarm: status() shows the joined topics and their modes under the manager, and the manager\'s figures are what the swarm holds', T, async (t) => {
  const { swarms, ours, status, manage } = await threeSwarms(t)
  const managed = manage({ lowWater: 2, highWater: 8, topicQuota: { min: 1 } })
  const [shared, lonely, never] = [randomBytes(32), randomBytes(32), randomBytes(32)]

  // The others announce the shared topic first, so that our lookup finds them.
  for (const s of swarms.slice(1)) await s.join(shared, { server: true, client: false }).flushed()

  // Joins: status() is the topic's discovery, in the modes asked for; an unjoined topic has none.
  await ours.join(shared, { server: true, client: true }).flushed()
  ours.join(lonely, { server: false, client: true })
  assert.deepEqual(pick(status(shared)), { isServer: true, isClient: true })
  assert.deepEqual(pick(status(lonely)), { isServer: false, isClient: true })
  assert.equal(status(never), null)

  // Connections: the manager counts what the swarm holds.
  const figures = (): string => `manager ${managed.manager.stats().connections}, swarm ${ours.connections.size}, topics ${JSON.stringify(connectedPerTopic())}`
  const connectedPerTopic = (): Record<string, number> => Object.fromEntries(managed.manager.stats().topics.map((q) => [q.topic, q.connected]))
  await until(() => ours.connections.size === 2 && managed.manager.stats().connections === 2, 20_000, () => `both peers connected: ${figures()}`)
  assert.deepEqual(new Set(managed.manager.listConnections().map((c) => c.peer)), new Set([...ours.connections].map((c) => hex((c as unknown as { remotePublicKey: Uint8Array }).remotePublicKey))), 'the same peers')
  assert.deepEqual(connectedPerTopic(), { [hex(shared)]: 2, [hex(lonely)]: 0 }, 'each topic counts the connected peers that announce it')

  // A join in another mode updates the same topic's status.
  await ours.join(lonely, { server: true, client: true }).flushed()
  assert.deepEqual(pick(status(lonely)), { isServer: true, isClient: true })

  // Leaves: the topic has no status, and no quota; the connections stay, as in Hyperswarm.
  await ours.leave(lonely)
  assert.equal(status(lonely), null)
  assert.deepEqual(connectedPerTopic(), { [hex(shared)]: 2 })
  assert.equal(managed.manager.stats().connections, ours.connections.size)

  // A peer going away: both figures drop together.
  await swarms[2]!.destroy()
  await until(() => ours.connections.size === 1 && managed.manager.stats().connections === 1, 10_000, () => `one peer left: ${figures()}`)
  assert.deepEqual(connectedPerTopic(), { [hex(shared)]: 1 })

  // close() hands the swarm back: status() is still Hyperswarm's own.
  await managed.close()
  assert.deepEqual(pick(status(shared)), { isServer: true, isClient: true })
})

test('hyperswarm: a swarm managed after it joined and connected shows the same status, and the manager counts what it already held', T, async (t) => {
  const { swarms, ours, status, manage } = await threeSwarms(t)
  const topic = randomBytes(32)
  for (const s of swarms.slice(1)) await s.join(topic, { server: true, client: false }).flushed()
  await ours.join(topic, { server: false, client: true }).flushed()
  await until(() => ours.connections.size === 2, 20_000, 'the plain swarm to connect to both')
  const managed = manage({ lowWater: 1, highWater: 8, topicQuota: { min: 1 } })
  assert.deepEqual(pick(status(topic)), { isServer: false, isClient: true }, 'managing changed no topic')
  assert.equal(managed.manager.stats().connections, 2, 'the connections held before are counted')
  assert.deepEqual(managed.manager.stats().topics.map((q) => [q.topic, q.connected]), [[hex(topic), 2]], 'and each counts for the topic it was found on')
  await ours.leave(topic)
  assert.equal(status(topic), null)
  assert.deepEqual(managed.manager.stats().topics, [], 'no quota for a topic left')
  ours.join(topic, { server: false, client: true })
  assert.deepEqual(managed.manager.stats().topics.map((q) => [q.topic, q.connected]), [[hex(topic), 2]], 'joined again: the connected peers of the topic count at once')
})

function pick (d: Discovery | null): { isServer: boolean; isClient: boolean } | null {
  return d === null ? null : { isServer: d.isServer, isClient: d.isClient }
}
