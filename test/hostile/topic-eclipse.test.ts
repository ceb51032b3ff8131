import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import type { ConnectionManager } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'

// Sybils against a node's topic peers (virtual time, the manager alone). The attacker has cheap
// identities in one /24 and claims the node's topic: a referral told the node so (its records carry
// the topic), or the sybil said so in an earlier hello. At the bound a newcomer of a topic may take
// a topic peer's place (topic-swap.test.ts); every sybil is in its grace period when the next one
// arrives, so it is never the one that gives way, and N sybils in a burst took N honest topic
// peers' places: the node ended up with no honest peer of its topic at all.

const TOPIC = 'chat'
const HONEST = ['h0', 'h1', 'h2', 'h3']
const GRACE = 10_000

async function honestNode (): Promise<{ m: ConnectionManager; clock: ManualClock }> {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials') }, clock, lowWater: 4, highWater: 4, gracePeriod: GRACE, exploreInterval: 0 })
  m.start()
  m.setTopicQuota(TOPIC, { min: 4 })
  HONEST.forEach((p, i) => {
    m.addPeers([{ id: p, topics: [TOPIC] }])
    assert.equal(m.connected(testConnection(p, { direction: 'inbound', address: `tcp://192.0.2.${i + 1}:4000` })), true)
  })
  await clock.advance(3 * GRACE)
  return { m, clock }
}

const honestLeft = (m: ConnectionManager): number => HONEST.filter((p) => m.getPeer(p)?.connected === true).length

/** `n` sybils of the topic from 10.66.6.0/24, one every `every` ms; the fewest honest topic peers seen connected. */
async function attack (m: ConnectionManager, clock: ManualClock, n: number, every: number): Promise<number> {
  let fewest = honestLeft(m)
  for (let i = 0; i < n; i++) {
    const id = `sybil${i}`
    const address = `tcp://10.66.6.${i % 250}:${5000 + i}`
    m.addPeers([{ id, topics: [TOPIC], addresses: [address], hint: true }])
    m.connected(testConnection(id, { direction: 'inbound', address }))
    fewest = Math.min(fewest, honestLeft(m))
    await clock.advance(every)
  }
  return fewest
}

test('a burst of sybils claiming a topic cannot swap out a node\'s honest topic peers one after another (at most one swap per grace period)', async () => {
  const { m, clock } = await honestNode()
  const fewest = await attack(m, clock, 40, 100)
  assert.ok(fewest >= HONEST.length - 1, `only ${fewest} of ${HONEST.length} honest topic peers were left during a burst of 40 sybils`)
  assert.equal(m.stats().connections, 4, 'the bound holds')
  await m.close()
})

test('sybils claiming a topic, one per grace period for ten minutes, hold at most one of its places: each new one takes the place of the last', async () => {
  const { m, clock } = await honestNode()
  const fewest = await attack(m, clock, 60, GRACE)
  assert.ok(fewest >= HONEST.length - 1, `only ${fewest} of ${HONEST.length} honest topic peers were left after 60 sybils`)
  await m.close()
})

test('a newcomer of the topic still takes a topic peer\'s place at the bound once the last swap is a grace period old', async () => {
  const { m, clock } = await honestNode()
  m.addPeers([{ id: 'n1', topics: [TOPIC] }, { id: 'n2', topics: [TOPIC] }])
  assert.equal(m.connected(testConnection('n1')), true)
  assert.equal(m.connected(testConnection('n2')), false, 'a second swap within the grace period is refused')
  assert.match(m.explain('n2').at(-1)?.reason ?? '', /over-limit/)
  await clock.advance(GRACE)
  assert.equal(m.admits('n2', undefined), true)
  assert.equal(m.connected(testConnection('n2')), true)
  assert.equal(m.stats().connections, 4)
  await m.close()
})

test('a long-term peer keeping a topic at its min is never swapped for a newcomer of the topic', async () => {
  const { m } = await honestNode()
  for (const p of HONEST) m.setLongTerm(p, true)
  m.addPeers([{ id: 'n1', topics: [TOPIC] }])
  assert.equal(m.admits('n1', undefined), false)
  assert.equal(m.connected(testConnection('n1')), false)
  assert.equal(honestLeft(m), HONEST.length)
  await m.close()
})

// The same burst without any topic quota: at the bound, any newcomer evicts the lowest-ranked peer
// past its grace period, and a newcomer in its grace period never gives way to the next one.

test('a burst of sybils from one /24 takes at most one place per grace period, with or without topics', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials') }, clock, lowWater: 6, highWater: 8, gracePeriod: GRACE, exploreInterval: 0 })
  m.start()
  const honest = Array.from({ length: 8 }, (_, i) => `p${i}`)
  honest.forEach((p, i) => { assert.equal(m.connected(testConnection(p, { direction: i % 2 === 0 ? 'inbound' : 'outbound', address: `tcp://${20 + i}.1.2.3:4000` })), true) })
  await clock.advance(3 * GRACE)
  const left = (): number => honest.filter((p) => m.getPeer(p)?.connected === true).length
  let fewest = left()
  for (let i = 0; i < 200; i++) {
    m.connected(testConnection(`sybil${i}`, { direction: 'inbound', address: `tcp://45.67.89.${i % 250}:${5000 + i}` }))
    fewest = Math.min(fewest, left())
    await clock.advance(i < 100 ? 100 : GRACE / 4)
  }
  assert.ok(fewest >= honest.length - 2, `only ${fewest} of ${honest.length} honest peers were left`)
  // A newcomer from another range still takes a place at once.
  assert.equal(m.connected(testConnection('newcomer', { address: 'tcp://77.1.2.3:4000' })), true)
  // On loopback (tests, one machine) and private ranges, nothing is grouped.
  assert.equal(m.connected(testConnection('local1', { address: 'tcp://127.0.0.1:4001' })), true)
  assert.equal(m.connected(testConnection('local2', { address: 'tcp://127.0.0.1:4002' })), true)
  await m.close()
})
