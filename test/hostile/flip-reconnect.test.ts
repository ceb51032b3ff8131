import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { FLIP_BURST } from '../../src/node/topic-flips.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'

// Topic join/leave flips (announce / unannounce at a rendezvous point) are budgeted: a burst of 8,
// then one per 4 s. The budget lived on the connection, and a connection is free to make anew (10 a
// second per IP), under the same identity or a fresh one: reconnecting reset it.

const T = { timeout: 60_000 }
const KEY = discoveryKey('flip-reconnect')
const CONNECTIONS = 8
/** Flips each connection tries after its free first join and first leave. */
const FLIPS = 20

/**
 * `CONNECTIONS` connections from 127.0.0.2 one after another (the identity of `seed`, or a fresh one
 * each), each joining and leaving the topic once (free), then flipping it `FLIPS` times; the flips
 * that took effect. (Past the budget a flip is ignored, so the next message, the opposite change,
 * finds the topic as it wants it: no flip. Each ignored flip stands for two that did not happen.)
 */
async function flipAcrossConnections (t: Parameters<typeof testNode>[0], victim: PeerNode, seed: (n: number) => string): Promise<number> {
  const before = victim.stats().topicFlipsIgnored
  for (let n = 0; n < CONNECTIONS; n++) {
    const a = await attack(victim.addresses[0]!, { localAddress: '127.0.0.2', seed: seed(n) })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    for (let i = 0; i < FLIPS + 2; i++) {
      a.control(i % 2 === 0 ? { t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.2:4000'], ttl: 60_000 } : { t: 'unannounce', topic: KEY })
    }
    assert.equal(await a.ping(KEY), true, 'the victim answers after the flips')
    a.close()
  }
  return CONNECTIONS * FLIPS - 2 * (victim.stats().topicFlipsIgnored - before)
}

test('one identity reconnecting from one IP flips a topic within one burst between its connections, not a burst per connection', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const seed = randomBytes(32).toString('hex')
  const taken = await flipAcrossConnections(t, victim, () => seed)
  console.log(`one identity, ${CONNECTIONS} connections x ${FLIPS} flips: ${taken} took effect`)
  // Each connection's first join and first leave are free; the flips share one burst (and what a
  // few seconds refill).
  assert.ok(taken <= FLIP_BURST + 3, `${taken} flips took effect`)
})

test('fresh identities from one IP flip a topic within twice a burst between them, and another source still flips', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const taken = await flipAcrossConnections(t, victim, () => randomBytes(32).toString('hex'))
  console.log(`fresh identities, ${CONNECTIONS} connections x ${FLIPS} flips: ${taken} took effect`)
  assert.ok(taken <= 2 * FLIP_BURST + 4, `${taken} flips took effect`)
  // An honest peer of another source: its flip takes effect (it registers the topic again).
  const ignored = victim.stats().topicFlipsIgnored
  const b = await attack(victim.addresses[0]!, { localAddress: '127.0.0.3' })
  t.after(() => { b.close() })
  b.channel(CONTROL_PROTOCOL)
  b.control({ t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.3:4000'], ttl: 60_000 })
  b.control({ t: 'unannounce', topic: KEY })
  b.control({ t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.3:4000'], ttl: 60_000 })
  assert.equal(await b.ping(KEY), true)
  assert.equal(victim.stats().topicFlipsIgnored, ignored, 'another source\'s flip is not ignored')
})
