import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DialBudget, FAILED_DIALS_PER_HOST, FAILED_DIALS_PER_RANGE } from '../../src/node/dial-budget.js'
import { ManualClock } from '../../src/testing/index.js'
import { referralFlood } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { sleep, until } from '../helpers/wait.js'

// Referrals name any address. 120 referrals of 32 made-up peers of 8 addresses each (what
// pexPerMinute lets one connection teach in a minute) named 30,720 ports of one host: the victim
// dialled them as fast as they failed, 59,416 dials in 20 s (closed ports fail at once), a SYN
// flood toward a host of the attacker's choosing and a port scan of the victim's network. Failed
// dials are now budgeted per target host (and public range).

test('referrals naming thousands of ports of one host make at most its budget of failed dials a minute; a peer at another host is still reached', { timeout: 60_000 }, async (t) => {
  // Two connections: hints are budgeted too (8 ports of a host per connection, 16 node-wide), so
  // one connection's 8 ports reach the dial budget only on their third tries, when backoff allows.
  const { victim } = await referralFlood(t, 'dial-budget', 2)
  await until(() => victim.stats().dialsOverBudget > 0, 40_000, () => `the dial budget to refuse (dials ${victim.stats().dials})`)
  await sleep(5000)
  const s = victim.stats()
  console.log(`dials ${s.dials}, failed ${s.dialsFailed}, over budget ${s.dialsOverBudget}`)
  assert.ok(s.dials - s.dialsOverBudget <= FAILED_DIALS_PER_HOST + 16, `${s.dials - s.dialsOverBudget} dials left the node toward one host (budget ${FAILED_DIALS_PER_HOST} failed a minute)`)
  // An honest peer elsewhere is still reached.
  const honest = await testNode(t)
  assert.equal((await victim.manager.connectNow(honest.addresses[0]!)).peer, honest.id)
})

test('the dial budget counts per host and per public range, exempts 127.0.0.1 and host names, and refills after a minute (virtual time)', async () => {
  const clock = new ManualClock()
  const b = new DialBudget(clock)
  assert.equal(b.keysOf('tcp://127.0.0.1:4001'), undefined)
  assert.equal(b.keysOf('tcp://[::1]:4001'), undefined)
  assert.equal(b.keysOf('tcp://example.com:4001'), undefined)
  assert.equal(b.keysOf(`tcp://1.2.3.4:5/relay/${'a'.repeat(64)}`), undefined)
  assert.deepEqual(b.keysOf('tcp://10.0.0.7:4001'), ['10.0.0.7'], 'a private address: its host only')
  const one = b.keysOf(`tcp://8.8.8.8:4001#${'b'.repeat(64)}`)!
  assert.equal(one.length, 2)
  assert.equal(one[0], '8.8.8.8')
  for (let i = 0; i < FAILED_DIALS_PER_HOST; i++) { assert.ok(b.allows(one)); b.failed(one) }
  assert.equal(b.allows(one), false)
  assert.ok(b.allows(b.keysOf('tcp://8.8.8.9:4001')!), 'another host of the range')
  // The range: 64 failures over its hosts close it to every host of it.
  for (let h = 10; h < 10 + FAILED_DIALS_PER_RANGE - FAILED_DIALS_PER_HOST; h++) b.failed(b.keysOf(`tcp://8.8.8.${h}:1`)!)
  assert.equal(b.allows(b.keysOf('tcp://8.8.8.200:4001')!), false)
  assert.ok(b.allows(b.keysOf('tcp://8.8.9.1:4001')!), 'another range')
  await clock.advance(60_000)
  assert.ok(b.allows(one), 'a new minute')
  assert.equal(b.overBudget, 2)
})
