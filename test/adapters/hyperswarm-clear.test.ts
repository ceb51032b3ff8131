/**
 * manageSwarm's `topicQuota` follows the topics the swarm joins, however it leaves them: `leave`,
 * the last session's `destroy()`, or `clear()` (which destroys every discovery without calling
 * `leave`). A quota left behind would keep the manager dialling and protecting peers of a topic the
 * swarm no longer joins.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike } from '../../src/adapters/hyperswarm.js'
import { within } from '../helpers/wait.js'

const T = { timeout: 60_000 }
type Swarm = HyperswarmLike & { clear(): Promise<unknown>; status(topic: Uint8Array): unknown; destroy(): Promise<void> }

test('hyperswarm: the topic quota goes with the topic on leave(), on the last session\'s destroy(), and on clear() (regression: clear() left every quota behind)', T, async (t) => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const swarm = new Hyperswarm({ dht: testnet.createNode() } as never) as unknown as Swarm
  const patched = ['join', 'leave', 'clear', 'suspend', 'resume', 'destroy', '_firewall', '_handlePeer', '_maybeDeletePeer'] as const
  const before = patched.map((name) => (swarm as unknown as Record<string, unknown>)[name])
  const managed = manageSwarm(swarm, { lowWater: 2, highWater: 8, topicQuota: { min: 2 } })
  t.after(async () => {
    await within(managed.close(), 5000, 'close').catch(() => {})
    await within(swarm.destroy(), 8000, 'destroy').catch(() => {})
    await within(testnet.destroy(), 5000, 'testnet').catch(() => {})
  })
  for (const name of ['join', 'leave', 'clear', '_firewall'] as const) assert.notEqual((swarm as unknown as Record<string, unknown>)[name], before[patched.indexOf(name)], `${name} is patched while managed`)
  const quotas = (): string[] => managed.manager.stats().topics.map((q) => q.topic).sort()
  const [a, b, c, d] = [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)]
  const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex')
  swarm.join(a, { server: false, client: true })
  const session = swarm.join(b, { server: false, client: true }) as unknown as { destroy(): Promise<void> }
  assert.deepEqual(quotas(), [hex(a), hex(b)].sort(), 'a quota per joined topic')
  await swarm.leave(a)
  assert.deepEqual(quotas(), [hex(b)], 'leave() removes its quota')
  await session.destroy()
  assert.equal(swarm.status(b), null, 'the last session destroyed: the swarm left the topic')
  assert.deepEqual(quotas(), [], 'and its quota went with it')
  swarm.join(c, { server: false, client: true })
  swarm.join(d, { server: false, client: true })
  assert.equal(quotas().length, 2)
  await swarm.clear()
  assert.equal(swarm.status(c), null, 'clear() left every topic')
  assert.deepEqual(quotas(), [], 'clear() removes every quota')
  // close() gives the swarm back as it was: every method and hook the adapter patched is restored.
  await managed.close()
  patched.forEach((name, i) => { assert.equal((swarm as unknown as Record<string, unknown>)[name], before[i], `${name} restored`) })
})
