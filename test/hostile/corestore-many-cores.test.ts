import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createNodeNetworker } from '../../src/adapters/corestore.js'
import { createNode, type PeerNode } from '../../src/node/index.js'
import { block, stores, type Core } from '../adapters/corestore-scenarios.js'
import { until, within } from '../helpers/wait.js'

// One peer asking a corestore for many cores on one connection: every Hypercore channel it opens
// for a discovery key the store holds makes the store open that core from disk and replicate it
// (Corestore's `ondiscoverykey`). Before: no bound per connection — a peer that knows 40 keys
// (public data) had the victim open and replicate all 40 at once. With `maxCoresPerConnection`
// the victim replicates that many on the connection and refuses the rest (counted in stats()).
// Real sockets on 127.0.0.1.

const HYPERCORE = 'hypercore/alpha'
const CORES = 40
const BUDGET = 16

test('a peer opening Hypercore channels for 40 cores of ours on one connection gets maxCoresPerConnection (16) of them; the refusals are counted', { timeout: 60_000 }, async (t) => {
  const { store } = stores(t)
  const closing: Array<{ close: () => Promise<void> }> = []
  t.after(async () => { await within(Promise.allSettled(closing.map(async (c) => { await c.close() })), 10_000, 'closing').catch(() => {}) })
  // The victim's store: 40 cores of one block each, their sessions closed (on disk only).
  const victimStore = store()
  const keys: Buffer[] = []
  for (let i = 0; i < CORES; i++) {
    const core: Core = victimStore.get({ name: `core-${i}` })
    await core.ready()
    await core.append(block(i))
    keys.push(core.key)
    await core.close()
  }
  const victimNode = await createNode({ listen: ['tcp://127.0.0.1:0'], manager: { lowWater: 4, highWater: 8 } })
  closing.push(victimNode)
  const muxes: unknown[] = []
  victimNode.events.addEventListener('connection', (e) => { muxes.push((e as CustomEvent<{ connection: { mux: unknown } }>).detail.connection.mux) })
  const victim = createNodeNetworker(victimStore, victimNode, { maxCoresPerConnection: BUDGET })
  closing.push(victim)
  // The attacker: a store with a session on each of the 40 keys (downloading), connected to the victim.
  const attackerStore = store()
  const sessions = keys.map((key) => attackerStore.get({ key }))
  await Promise.all(sessions.map(async (s) => { await s.ready() }))
  const attackerNode: PeerNode = await createNode({ listen: ['tcp://127.0.0.1:0'], bootstrap: [`${victimNode.addresses[0]}#${victimNode.id}`], manager: { lowWater: 4, highWater: 8 } })
  closing.push(attackerNode)
  closing.push(createNodeNetworker(attackerStore, attackerNode))
  const channels = (): number => {
    let n = 0
    for (const mux of muxes) for (const ch of mux as Iterable<{ protocol: string }>) if (ch.protocol === HYPERCORE) n++
    return n
  }
  // The cores the victim serves arrive at the attacker (their first block), or are refused.
  await until(() => channels() + victim.replicationStats().overBudgetChannels >= CORES, 30_000, () => `every core answered (channels ${channels()}, refused ${victim.replicationStats().overBudgetChannels})`)
  // The cores let through replicate (their first block arrives; slow on a loaded machine).
  await until(() => sessions.some((s) => s.length > 0), 30_000, 'a core replicated to the attacker')
  const got = sessions.filter((s) => s.length > 0).length
  console.log(`channels on the victim's connection: ${channels()}; refused over the budget: ${victim.replicationStats().overBudgetChannels}; cores the attacker got: ${got}`)
  assert.ok(channels() <= BUDGET, `${channels()} Hypercore channels on the connection (at most ${BUDGET})`)
  assert.ok(victim.replicationStats().overBudgetChannels >= CORES - BUDGET, 'the refusals are counted')
  assert.ok(got <= BUDGET && got > 0, `${got} cores replicated to the attacker`)
})
