import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { ConnectionLimits } from '../../src/index.js'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// One host, many identities: an identity costs a key pair, so one IP could hold every place under
// highWater (each ~0.4 MB of RSS under attack) and crowd every honest peer out of the bound. The
// manager's connectionLimits caps what one IP holds (8) whatever the watermarks.

const ATTACKER = '127.0.0.2'
const SYBILS = 30
const HONEST = 5

/** 30 identities from 127.0.0.2, then 5 honest peers from 127.0.0.3–7, at a node with highWater 20. */
async function run (t: TestContext, connectionLimits?: ConnectionLimits): Promise<{ held: number; honestIn: number; refusals: number }> {
  const victim = await testNode(t, {
    perIpRate: 1000, // the socket rate is another budget: every identity reaches the manager
    manager: { lowWater: 2, highWater: 20, ...(connectionLimits !== undefined ? { connectionLimits } : {}) }
  })
  const address = victim.addresses[0]!
  const sybils: Attacker[] = []
  for (let i = 0; i < SYBILS; i++) {
    const a = await attack(address, { localAddress: ATTACKER })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    sybils.push(a)
  }
  const decided = (peers: Attacker[]): boolean => peers.every((a) => a.closed || victim.connections().some((c) => c.peer === a.id))
  await until(() => decided(sybils), 10_000, 'the victim to decide about every identity')
  const honest: Attacker[] = []
  for (let i = 0; i < HONEST; i++) {
    const a = await attack(address, { localAddress: `127.0.0.${3 + i}` })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    honest.push(a)
  }
  await until(() => decided(honest), 10_000, 'the victim to decide about every honest peer')
  const ids = new Set(victim.connections().map((c) => c.peer))
  const figures = {
    held: sybils.filter((a) => ids.has(a.id)).length,
    honestIn: honest.filter((a) => ids.has(a.id) && !a.closed).length,
    refusals: victim.manager.stats().connectionLimitRefusals
  }
  console.log(`connectionLimits ${connectionLimits === undefined ? 'default' : 'off'}: ${figures.held} of ${SYBILS} identities of ${ATTACKER} held, ${figures.honestIn} of ${HONEST} honest peers in, ${figures.refusals} refused by the cap`)
  return figures
}

test('without a per-IP cap, 30 identities from one IP take every place of highWater 20 and no honest peer gets in', { timeout: 60_000 }, async (t) => {
  const { held, honestIn, refusals } = await run(t, { perIp: Infinity, perRange: Infinity })
  assert.equal(held, 20)
  assert.equal(honestIn, 0)
  assert.equal(refusals, 0)
})

test('30 identities from one IP hold 8 places (connectionLimits.perIp) and 5 honest peers from other IPs all get in', { timeout: 60_000 }, async (t) => {
  const { held, honestIn, refusals } = await run(t)
  assert.equal(held, 8)
  assert.equal(honestIn, HONEST)
  assert.equal(refusals, SYBILS - 8)
})
