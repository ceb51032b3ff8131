import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerNode } from '../../src/node/index.js'
import { testNode } from '../helpers/nodes.js'
import { sleep } from '../helpers/wait.js'

// The bound in a race: inbound connections arriving while the node dials out, all at once.

test('eight peers dialling a node at highWater 4 while it dials eight others at once: it never holds more than 4', { timeout: 60_000 }, async (t) => {
  const victim = await testNode(t, { manager: { lowWater: 2, highWater: 4, gracePeriod: 0 } })
  const others: PeerNode[] = []
  for (let i = 0; i < 16; i++) others.push(await testNode(t, { manager: { lowWater: 0, highWater: 32 } }))
  let peak = 0
  const sample = setInterval(() => {
    peak = Math.max(peak, victim.connections().length, victim.manager.listConnections().length)
  }, 1)
  try {
    await Promise.allSettled([
      ...others.slice(0, 8).map(async (o) => await o.manager.connectNow(victim.addresses[0]!)),
      ...others.slice(8).map(async (o) => await victim.manager.connectNow(o.addresses[0]!))
    ])
    await sleep(1000)
  } finally {
    clearInterval(sample)
  }
  console.log(`peak ${peak}, now ${victim.connections().length}`)
  assert.ok(peak <= 4, `the victim held ${peak} connections at once (highWater 4)`)
})
