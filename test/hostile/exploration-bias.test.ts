import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Exploration, type ExplorationHost } from '../../src/manager/exploration.js'
import type { PeerRecord } from '../../src/manager/peer-record.js'
import { ManualClock, xorshift } from '../../src/testing/index.js'

// A hint flood against exploration: referrals (PEX, lookup answers) may name as many peers of a
// topic as the peer book holds, all the attacker's, from one /24. Exploration picked uniformly among
// every known peer of the topic, so 400 sybils against 4 honest candidates won 99 % of the dials, and
// each exploration that reaches one lets an honest neighbour go.

function record (key: string, address: string): PeerRecord {
  return { key, id: key, bootstrap: false, addresses: [address], topics: ['chat'] } as unknown as PeerRecord
}

function explorer (records: PeerRecord[], seed = 11): Exploration {
  const clock = new ManualClock()
  const host: ExplorationHost = {
    clock,
    random: xorshift(seed),
    running: () => true,
    interval: () => 60_000,
    anyQuota: () => true,
    limits: () => ({ lowWater: 2, highWater: 8 }),
    count: () => 4,
    busy: () => false,
    records: () => records,
    dialableNow: () => true,
    servesQuotaTopic: () => true,
    dial: async () => false,
    lowest: () => undefined,
    close: () => {}
  }
  return new Exploration(host)
}

const honest = ['198.51.100.7', '203.0.113.9', '192.0.2.44', '100.64.3.2'].map((ip, i) => record(`h${i}`, `tcp://${ip}:4000`))
const sybils = Array.from({ length: 400 }, (_, i) => record(`s${i}`, `tcp://10.66.6.${i % 250}:${5000 + i}`))

test('a flood of referred peers from one /24 wins no more than that /24\'s share of exploration dials', () => {
  const e = explorer([...sybils.slice(0, 200), ...honest, ...sybils.slice(200)])
  let toSybils = 0
  const picks = 5_000
  for (let i = 0; i < picks; i++) if (e.pick(0)!.key.startsWith('s')) toSybils++
  // Five address ranges know the topic: one of them is the attacker's.
  assert.ok(toSybils / picks < 0.3, `${(100 * toSybils / picks).toFixed(1)} % of exploration dials went to the sybils' /24`)
  assert.ok(toSybils / picks > 0.1, 'the attacker\'s range is one range among others, not excluded')
})

test('exploration still picks every candidate: peers of one range are picked among themselves at random', () => {
  const e = explorer(sybils.slice(0, 10))
  const seen = new Set<string>()
  for (let i = 0; i < 500; i++) seen.add(e.pick(0)!.key)
  assert.equal(seen.size, 10)
  assert.equal(explorer([]).pick(0), undefined)
})

test('peers with no IP address (a memory network, a DNS name) are each a range of their own', () => {
  const named = Array.from({ length: 4 }, (_, i) => record(`m${i}`, `mem://m${i}`))
  const e = explorer([...named, ...sybils])
  let toNamed = 0
  for (let i = 0; i < 1_000; i++) if (e.pick(0)!.key.startsWith('m')) toNamed++
  assert.ok(toNamed > 600, `${toNamed} of 1000 picks went to the 4 named peers`)
})
