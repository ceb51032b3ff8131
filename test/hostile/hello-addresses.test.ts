import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { HINT_PORTS_PER_HOST } from '../../src/node/hint-budget.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A hello lists where its sender listens, and those addresses went to the manager as hints with no
// budget: identities cost nothing, so 30 connections, each naming 8 ports of one host in its hello,
// taught a node 240 ports of a host it had never heard of (its dial scheduler would try them all
// once the attackers left). Hello addresses now pass the hint intake budget like referrals.

test('hellos naming eight new ports of one host each teach the node at most its hint budget of that host\'s ports', { timeout: 60_000 }, async (t) => {
  const victim = await testNode(t, { manager: { lowWater: 0, highWater: 64 } })
  const attackers: Attacker[] = []
  let port = 30_000
  for (let i = 0; i < 30; i++) {
    const listen = Array.from({ length: 8 }, () => `tcp://127.0.0.3:${port++}`)
    const a = await attack(victim.addresses[0]!, { hello: { listen } })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    attackers.push(a)
  }
  await until(() => attackers.every((a) => victim.manager.getPeer(a.id)?.connected === true), 30_000, 'every attacker connected')
  // The hello is taken in when the connection is accepted; a lookup answered proves it was.
  for (const a of attackers) assert.ok(await a.ping('00'.repeat(32), 20_000), 'the victim serves the attacker')
  const ports = new Set(attackers.flatMap((a) => victim.manager.getPeer(a.id)?.addresses ?? []).filter((x) => x.startsWith('tcp://127.0.0.3:')))
  const { hintsDropped } = victim.stats()
  console.log(`ports of 127.0.0.3 learnt ${ports.size} of 240, hints dropped ${hintsDropped}`)
  assert.ok(ports.size <= HINT_PORTS_PER_HOST, `${ports.size} ports of 127.0.0.3 learnt from hellos`)
  assert.ok(hintsDropped >= 240 - HINT_PORTS_PER_HOST, `${hintsDropped} hinted addresses dropped`)
})

test('an honest hello\'s own addresses are still learnt (127.0.0.1 is exempt, and a host\'s first ports fit the budget)', { timeout: 60_000 }, async (t) => {
  const victim = await testNode(t)
  const a = await attack(victim.addresses[0]!, { hello: { listen: ['tcp://127.0.0.1:40001', 'tcp://127.0.0.4:40002'] } })
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  assert.ok(await a.ping('00'.repeat(32), 20_000), 'the victim serves the attacker')
  assert.deepEqual([...victim.manager.getPeer(a.id)?.addresses ?? []].sort(), ['tcp://127.0.0.1:40001', 'tcp://127.0.0.4:40002'])
  assert.equal(victim.stats().hintsDropped, 0)
})
