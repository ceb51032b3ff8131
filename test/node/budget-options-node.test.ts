/**
 * `createNode({ hintLimits, failedDialLimits })` on real sockets (127.0.0.1): bad values refuse the
 * start, naming the field; configured figures reach the node's hint and dial budgets. The hinted
 * host is 127.0.0.3 (only 127.0.0.1 and ::1 are exempt from the budgets).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { createNode, discoveryKey, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { attack } from '../helpers/attacker.js'
import { hasCode } from '../helpers/errors.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

const T = { timeout: 60_000 }

/** A node with `options` that joined a topic, and one attacker connection that referred 32 made-up peers of 8 ports each of 127.0.0.3. */
async function referred (t: TestContext, options: NodeOptions): Promise<PeerNode> {
  const victim = await testNode(t, options)
  const name = `budget-options-${randomBytes(4).toString('hex')}`
  await victim.join(name)
  const topic = discoveryKey(name)
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.control({ t: 'topics', topics: [] })
  let port = 20_000
  const peers = Array.from({ length: 32 }, () => ({ id: randomBytes(32).toString('hex'), addresses: Array.from({ length: 8 }, () => `tcp://127.0.0.3:${port++}`) }))
  a.control({ t: 'pex', topic, peers })
  assert.ok(await a.ping(topic, 20_000), 'the victim processed the referral')
  return victim
}

test('createNode refuses bad hintLimits and failedDialLimits with ERR_INVALID_ARGUMENT naming the field, before listening', async () => {
  await assert.rejects(createNode({ hintLimits: { portsPerHost: -1 } }), hasCode('ERR_INVALID_ARGUMENT', /hintLimits\.portsPerHost must be an integer >= 0 or Infinity, got -1/))
  await assert.rejects(createNode({ failedDialLimits: { perHost: 0 } }), hasCode('ERR_INVALID_ARGUMENT', /failedDialLimits\.perHost must be an integer >= 1 or Infinity, got 0/))
  await assert.rejects(createNode({ hintLimits: { window: 0 } }), hasCode('ERR_INVALID_ARGUMENT', /hintLimits\.window/))
  await assert.rejects(createNode({ hintLimit: {} } as never), hasCode('ERR_INVALID_ARGUMENT', /hintLimits/))
})

test('a node honours hintLimits: one referral of 256 ports of a host teaches it only the configured 3', T, async (t) => {
  const victim = await referred(t, { manager: { lowWater: 0, highWater: 32 }, hintLimits: { portsPerHost: 3, portsPerHostPerConnection: 3 } })
  assert.equal(victim.stats().hintsDropped, 256 - 3, '3 ports of 127.0.0.3 taken (8 by default)')
  assert.equal(victim.manager.stats().known, 1 + 1, 'the attacker, and the one referred peer left with an address (its first 3)')
})

test('a node honours failedDialLimits: after the configured one failure toward a host, its dials there fail at once', T, async (t) => {
  const victim = await referred(t, { manager: { lowWater: 8, highWater: 32, maxParallelDials: 1 }, hintLimits: { portsPerHost: Infinity, portsPerHostPerConnection: Infinity }, failedDialLimits: { perHost: 1 } })
  await until(() => victim.stats().dialsOverBudget >= 5, 20_000, () => `the dial budget to refuse (dials ${victim.stats().dials})`)
  const s = victim.stats()
  assert.ok(s.dials - s.dialsOverBudget <= 2, `${s.dials - s.dialsOverBudget} dials left the node toward 127.0.0.3 (budget 1 failure; 16 by default)`)
})
