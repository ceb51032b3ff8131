import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey } from '../../src/node/index.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// One connection per peer: a second connection of a connected peer is either refused or replaces
// the first (the tie-break, src/manager/duplicates.ts). The connection table is keyed by the peer
// id, which is the Noise static key the handshake proved: nobody can claim another peer's id. What
// is left to try: a peer reconnecting as itself over and over — does it keep two connections, make
// the victim replace its connection (and reopen every application channel) each time, or reach an
// honest peer's connection?

const T = { timeout: 60_000 }
const ROUNDS = 20

test('a peer reconnecting as itself 20 times keeps one connection, replaces none, and leaves an honest peer\'s connection alone', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const honest = await testNode(t, { manager: { highWater: 64 } })
  await honest.manager.connectNow(victim.addresses[0]!)
  await until(() => victim.connections().some((c) => c.peer === honest.id), 5000, 'the victim to keep the honest peer')
  const honestConn = victim.connections().find((c) => c.peer === honest.id)!.id
  let replaced = 0
  let adopted = 0
  victim.events.addEventListener('connection:replaced', () => { replaced++ })
  victim.events.addEventListener('connection', () => { adopted++ })
  const seed = randomBytes(32).toString('hex')
  const opened: Attacker[] = []
  for (let i = 0; i < ROUNDS; i++) {
    // From four IPs in turn (the per-IP rate is 10 a second).
    const a = await attack(victim.addresses[0]!, { seed, localAddress: `127.0.0.${2 + (i % 4)}` })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    opened.push(a)
  }
  await until(() => opened.filter((a) => !a.closed).length <= 1, 10_000, 'the victim to close the duplicates')
  const id = opened[0]!.id
  const live = opened.filter((a) => !a.closed)
  console.log(`${ROUNDS} connections of one identity: ${live.length} left open, ${replaced} replacements, ${adopted} adopted`)
  assert.equal(live.length, 1, 'one connection of the identity left')
  assert.equal(live[0], opened[0], 'the first one: a later one of the same direction never replaces it')
  assert.equal(victim.connections().filter((c) => c.peer === id).length, 1)
  assert.equal(replaced, 0, 'no replacement (no application channel reopened)')
  assert.equal(adopted, 1, 'only the first connection adopted')
  const pong = await live[0]!.ping(discoveryKey('x'))
  assert.equal(pong, true, 'the kept connection still works')
  assert.equal(victim.connections().find((c) => c.peer === honest.id)?.id, honestConn, 'the honest peer\'s connection is the same one')
})
