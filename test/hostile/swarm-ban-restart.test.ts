/**
 * A Hyperswarm ban mirrored into the manager, across a restart from the peer store:
 * src/adapters/hyperswarm/bans.ts. No swarm, no sockets: a manager on a memory store and PeerInfo
 * stand-ins, as in test/adapters/hyperswarm-bans-rules.test.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { SharedBans } from '../../src/adapters/hyperswarm/bans.js'
import { createConnectionManager, memoryStore } from '../../src/index.js'
import type { ConnectionManager, PeerStore } from '../../src/index.js'
import { ManualClock } from '../../src/testing/index.js'
import { sharedBans, type Info } from '../helpers/swarm-bans.js'

// `peerInfo.ban(true)` (the application's, its firewall's, Hyperswarm's after a protocol error) is a
// manager ban too, and the manager stores it. `peerInfo.ban(false)` lifted it — until a restart: the
// restarted manager held a ban it did not know came from Hyperswarm, took it for its own, and
// `ban(false)` no longer lifted it (the peer stayed banned for good). Now the ban's origin and the
// priority the peer had are stored with it (a tag of value 0).

async function start (store: PeerStore): Promise<{ manager: ConnectionManager; bans: SharedBans; info: (n: number) => { info: Info; id: string } }> {
  const manager = createConnectionManager({ dial: async () => { throw new Error('no dials here') }, clock: new ManualClock(), lowWater: 0, highWater: 8, store })
  await manager.ready()
  const { bans, info } = sharedBans(manager)
  return { manager, bans, info }
}

test('a Hyperswarm ban stored by the manager is lifted by peerInfo.ban(false) after a restart, back to the priority the peer had; a manager ban still is not', async () => {
  const store = memoryStore()
  const first = await start(store)
  const { info: a, id: ida } = first.info(1)
  const { id: idm } = first.info(2)
  first.manager.addPeers([{ id: ida, address: `hyperswarm:${ida}` }])
  first.manager.setPriority([{ peer: ida, priority: 'high' }])
  a.ban(true)
  first.manager.setPriority([{ peer: idm, priority: 'banned' }])
  assert.equal(first.manager.getPeer(ida)?.priority, 'banned')
  await first.manager.close()

  // The restarted swarm meets both keys again: the manager refuses them, so its firewall bans them
  // in Hyperswarm (refusedByManager, then Hyperswarm's own ban).
  const second = await start(store)
  assert.equal(second.manager.getPeer(ida)?.priority, 'banned', 'the ban was restored')
  const { info: a2 } = second.info(1)
  const { info: m2 } = second.info(2)
  for (const [i, id] of [[a2, ida], [m2, idm]] as const) { second.bans.refusedByManager(id); i.ban(true) }
  a2.ban(false)
  assert.equal(second.manager.getPeer(ida)?.priority, 'high', 'ban(false) lifts the stored Hyperswarm ban, back to high')
  assert.deepEqual(Object.keys(second.manager.getTagInfo(ida)?.tags ?? {}), [], 'nothing of the ban is left in its tags')
  m2.ban(false)
  assert.equal(second.manager.getPeer(idm)?.priority, 'banned', 'a manager ban is not lifted by ban(false)')
  await second.manager.close()
})
