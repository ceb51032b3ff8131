import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// An identity costs a key pair: a host that connects with a fresh one each time, and leaves, makes
// the node learn a peer per connection. The peer book's cap (maxPeers) forgot only peers that never
// connected, so every one of them stayed known for good (and on disk with a dataDir): the book grew
// without bound, one record per handshake.

const IDENTITIES = 200
const MAX_PEERS = 40

test(`${IDENTITIES} fresh identities connecting inbound and leaving keep the peer book near maxPeers (${MAX_PEERS}), and a peer we reached ourselves stays known`, { timeout: 90_000 }, async (t) => {
  const victim = await testNode(t, { perIpRate: 1000, manager: { maxPeers: MAX_PEERS, lowWater: 0, highWater: 32 } })
  const friend = await testNode(t)
  await victim.manager.connectNow(`${friend.addresses[0]!}#${friend.id}`)
  await victim.manager.disconnect(friend.id)
  for (let i = 0; i < IDENTITIES; i++) {
    const a = await attack(victim.addresses[0]!, { localAddress: `127.0.0.${2 + (i % 16)}` })
    a.channel(CONTROL_PROTOCOL)
    await until(() => a.closed || victim.connections().some((c) => c.peer === a.id), 10_000, 'the victim to take the identity')
    a.close()
    await until(() => !victim.connections().some((c) => c.peer === a.id), 10_000, 'the victim to see it leave')
  }
  const { known, evicted } = victim.manager.stats()
  console.log(`${IDENTITIES} identities came and went: ${known} peers known (maxPeers ${MAX_PEERS}), ${evicted} forgotten`)
  assert.ok(known <= MAX_PEERS + 16, `${known} peers known`)
  assert.ok(victim.manager.getPeer(friend.id) !== undefined, 'the peer we dialled is still known')
})
