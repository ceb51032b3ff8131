import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerNode } from '../../src/node/index.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// The bound must hold in every corner: connections that arrive through a relay circuit count
// against highWater like any other, however many arrive at once.

test('a private node reached through a relay by six dialers at once never holds more than highWater connections', { timeout: 60_000 }, async (t) => {
  const relay = await testNode(t, { relay: true })
  const helpers = await Promise.all([0, 1].map(async () => await testNode(t)))
  const highWater = 5
  const hidden = await testNode(t, { listen: ['tcp://127.0.0.2:0'], dialBack: {}, manager: { lowWater: 3, highWater } })
  let peak = 0
  hidden.events.addEventListener('peer:connected', () => { peak = Math.max(peak, hidden.manager.stats().connections) })
  for (const n of [relay, ...helpers]) await hidden.manager.connectNow(n.addresses[0]!)
  await until(() => hidden.stats().reachability === 'private', 10_000, () => `the node to find itself private (${hidden.stats().reachability})`)
  await until(() => hidden.stats().relaysHeld === 1, 10_000, 'a reservation with the relay')
  const held = hidden.manager.stats().connections
  const dialers: PeerNode[] = await Promise.all(Array.from({ length: 6 }, async () => await testNode(t, { manager: { lowWater: 0, highWater: 8 } })))
  const results = await Promise.allSettled(dialers.map(async (d) => {
    d.manager.addPeers([{ id: hidden.id, addresses: hidden.advertised }])
    return await d.manager.connectNow(hidden.id)
  }))
  const accepted = results.filter((r) => r.status === 'fulfilled').length
  assert.ok(accepted >= 1, 'some dialers got through the relay')
  await until(() => hidden.stats().relayedAccepted >= 1, 5000, 'the private node to accept a relayed connection')
  assert.ok(peak <= highWater, `never above highWater (peak ${peak}, held ${held} before the burst)`)
  assert.ok(hidden.manager.stats().connections <= highWater)
  assert.ok(results.some((r) => r.status === 'rejected'), 'the dialers past the bound were refused or evicted')
})
