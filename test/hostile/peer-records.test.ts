import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// What a connected peer can make us remember about it (and write to the peer store): its topics and
// addresses. A hint adds topics and never removes them; a peer that says it listens somewhere sends
// its 'topics' as hints — so fresh topics in every 'topics' message grew its record without bound.

const T = { timeout: 30_000 }
const key = (): string => randomBytes(32).toString('hex')

test('a peer that declares 64 fresh topics per \'topics\' message, 100 times, is remembered with a bounded set of topics', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const a = await attack(victim.addresses[0]!, { hello: { listen: ['tcp://127.0.0.1:9'] } })
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  await until(() => victim.manager.getPeer(a.id)?.connected === true, 5000, 'the victim to accept the attacker')
  for (let i = 0; i < 100; i++) a.control({ t: 'topics', topics: Array.from({ length: 64 }, key) })
  assert.equal(await a.ping(key()), true, 'the victim read every message')
  const topics = victim.manager.getPeer(a.id)?.topics.length ?? 0
  assert.ok(topics <= 64, `the victim remembers ${topics} topics for one peer`)
})

test('a peer that says it listens at new addresses in every hello is remembered with at most 8 of them', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const seed = randomBytes(32).toString('hex')
  for (let i = 0; i < 6; i++) {
    const a = await attack(victim.addresses[0]!, { seed, hello: { listen: Array.from({ length: 8 }, (_, k) => `tcp://127.0.0.1:${1000 + i * 8 + k}`) } })
    a.channel(CONTROL_PROTOCOL)
    await until(() => victim.manager.getPeer(a.id)?.connected === true, 5000, 'the victim to accept the attacker')
    a.close()
    await until(() => victim.manager.getPeer(a.id)?.connected !== true, 5000, 'the victim to see the attacker go')
  }
  const peer = victim.manager.listPeers().find((p) => p.addresses.some((x) => x.includes(':10')))
  assert.ok((peer?.addresses.length ?? 0) <= 16, `the victim remembers ${peer?.addresses.length} addresses for one peer`)
})
