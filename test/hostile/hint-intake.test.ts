import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HINT_BUDGET_WINDOW, HINT_PEERS_PER_RANGE, HINT_PEERS_PER_RANGE_PER_CONNECTION, HINT_PORTS_PER_HOST, HINT_PORTS_PER_HOST_PER_CONNECTION, HintBudget } from '../../src/node/hint-budget.js'
import { ManualClock } from '../../src/testing/index.js'
import { referralFlood } from '../helpers/attacker.js'
import { sleep } from '../helpers/wait.js'

// The dial budget keeps the packets in, but the hints stayed: 120 referrals of 32 made-up peers of
// 8 ports of one host (one connection's pexPerMinute) filled the manager with 3,840 hinted peers and
// 30,720 addresses, which its dial scheduler kept trying (~70 refused dials a second) and whose
// waits outgrew its table. Hints are now budgeted at intake, per host and per public range.

test('referrals naming thousands of ports of one host teach the node at most its budget of them, and the scheduler goes quiet', { timeout: 60_000 }, async (t) => {
  const { victim, a, topic } = await referralFlood(t, 'hint-intake')
  assert.ok(await a.ping(topic, 20_000), 'the victim processed every referral')
  await sleep(3000)
  const before = victim.stats()
  await sleep(5000)
  const after = victim.stats()
  const m = victim.manager.stats()
  const rate = (after.dials - before.dials) / 5
  console.log(`known ${m.known}, address waits ${m.addressWaits}, dials ${after.dials} (${rate}/s over the last 5 s), over budget ${after.dialsOverBudget}, hints dropped ${after.hintsDropped}`)
  assert.ok(m.known <= 1 + 16, `${m.known} peers known (the attacker and at most 16 ports of 127.0.0.3)`)
  assert.ok(m.addressWaits <= 16, `${m.addressWaits} address waits`)
  assert.ok(after.dials - before.dials <= 16, `${after.dials - before.dials} dials in 5 s once the hints were taken in`)
  assert.ok(after.hintsDropped >= 30_720 - 16, `${after.hintsDropped} hinted addresses dropped`)
})

test('the hint budget counts distinct ports per host and peers per public range, per connection and node-wide, exempts 127.0.0.1 and relayed addresses, and refills after its window (virtual time)', async () => {
  const clock = new ManualClock()
  const b = new HintBudget<object>(clock)
  const one = {}
  const two = {}
  const three = {}
  const id = (n: number): string => n.toString(16).padStart(64, '0')
  assert.deepEqual(b.admit(one, id(1), ['tcp://127.0.0.1:1', `tcp://1.2.3.4:5/relay/${'a'.repeat(64)}`]).length, 2, 'exempt')
  // One connection: 8 ports of a host; the same ports again are free.
  const ports = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `tcp://10.0.0.7:${from + i}`)
  assert.equal(b.admit(one, id(2), ports(1000, 12)).length, HINT_PORTS_PER_HOST_PER_CONNECTION)
  assert.equal(b.admit(one, id(2), ports(1000, 8)).length, 8, 'heard again: free')
  // Node-wide: 16 ports of it, whichever connections teach them.
  assert.equal(b.admit(two, id(3), ports(2000, 12)).length, HINT_PORTS_PER_HOST - HINT_PORTS_PER_HOST_PER_CONNECTION)
  assert.equal(b.admit(three, id(4), ports(3000, 4)).length, 0)
  assert.equal(b.admit(three, id(4), ['tcp://10.0.0.8:1']).length, 1, 'another host')
  // A public range: 32 peers from one connection, 64 in all.
  const peersOf = (conn: object, from: number, n: number): number => {
    let taken = 0
    for (let i = from; i < from + n; i++) taken += b.admit(conn, id(1000 + i), [`tcp://8.8.8.${i % 250}:4001`]).length
    return taken
  }
  assert.equal(peersOf(one, 0, 40), HINT_PEERS_PER_RANGE_PER_CONNECTION)
  assert.equal(peersOf(two, 40, 40), HINT_PEERS_PER_RANGE - HINT_PEERS_PER_RANGE_PER_CONNECTION)
  assert.equal(peersOf(three, 80, 10), 0)
  assert.equal(b.admit(three, id(5), ['tcp://8.8.9.1:4001']).length, 1, 'another range')
  const dropped = b.dropped
  assert.equal(dropped, 4 + 4 + 4 + 8 + 8 + 10)
  await clock.advance(HINT_BUDGET_WINDOW)
  assert.equal(b.admit(three, id(4), ports(3000, 4)).length, 4, 'a new window')
  assert.equal(b.dropped, dropped)
})
