import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { Discovery, discoveryKey } from '../../src/node/discovery.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { noDial } from '../helpers/manager.js'
import { ManualClock } from '../../src/testing/index.js'

/** A xorshift generator: the same seed, the same sequence. */
function seeded (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32 }
}

async function learnOrder (random: () => number, peers: Array<{ id: string; addresses: string[] }>): Promise<string[]> {
  const manager = createConnectionManager({ dial: noDial })
  const d = new Discovery({ localId: 'f'.repeat(64), manager, rendezvous: undefined, addresses: () => [], connections: () => [] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 100, quotaMin: 3, lowWater: 3, random, clock: new ManualClock() })
  try {
    await d.join('chat', { announce: false })
    d.message({} as NodeConnection, { t: 'pex', topic: discoveryKey('chat'), peers } as never)
    return manager.listPeers().map((p) => p.id!)
  } finally {
    await d.leave('chat')
    await manager.close()
  }
}

test('discovery: every node shuffles what a lookup found, so newcomers do not all dial the same first peers', async () => {
  const peers = Array.from({ length: 20 }, (_, i) => ({ id: i.toString(16).padStart(64, '0'), addresses: [`tcp://127.0.0.1:${4000 + i}`] }))
  const given = peers.map((p) => p.id)
  const a = await learnOrder(seeded(1), peers)
  const b = await learnOrder(seeded(2), peers)
  assert.deepEqual([...a].sort(), [...given].sort(), 'every peer is learnt')
  assert.notDeepEqual(a, given, 'not in the order the rendezvous gave')
  assert.notDeepEqual(a, b, 'two nodes learn them in different orders')
  assert.deepEqual(await learnOrder(seeded(1), peers), a, 'the injected random decides')
})
