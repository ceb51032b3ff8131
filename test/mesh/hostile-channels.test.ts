import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema } from '../../src/mesh/index.js'
import { askStatus, MAX_STATUS_REQUESTS, STATUS_PROTOCOL } from '../../src/mesh/registry-status.js'
import { createNode } from '../../src/node/index.js'
import { systemClock } from '../../src/clock.js'
import { until, within } from '../helpers/wait.js'
import { disconnections, handMade, meshNode, reach, registry } from './hostile-peers.js'

// Hostile peers against the mesh's newer channels and messages: the registry's status channel and
// the RPC channel's 'drain' / 'drain-ack'. Each runs against a real registry or node on 127.0.0.1.

const T = { timeout: 20_000 }

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: (args: { i: number }) => ({ i: args?.i }) } } }
})

test('a status request flood on one connection: at most MAX_STATUS_REQUESTS answers, then the connection is closed as a protocol error; others still get the status', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  const attacker = await handMade(t, STATUS_PROTOCOL, { handshake: () => new Uint8Array(0) })
  const closed = disconnections(attacker.node)
  const ch = await reach(attacker, reg.addresses[0], 'the status flooder')
  // Each request is a few bytes; each answer carries every member and the schema's outline.
  for (let i = 0; i < 1000; i++) ch.send({ t: 'status' })
  await until(() => closed.some((d) => d.peer === reg.id), 5000, 'the registry to close the flooder')
  const answers = ch.heard.filter((m) => (m as { t?: string })?.t === 'status')
  assert.ok(answers.length <= MAX_STATUS_REQUESTS, `${answers.length} answers to the flood`)
  // An honest client on its own connection is answered.
  const honest = await createNode({})
  t.after(async () => { await honest.close() })
  const [answer] = await within(askStatus(honest, [{ address: reg.addresses[0], id: reg.id }], { timeout: 5000, clock: systemClock }), 6000, 'the status')
  assert.equal(answer.ok, true)
})
