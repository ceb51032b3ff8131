import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema } from '../../src/mesh/index.js'
import { askStatus, MAX_STATUS_REQUESTS, STATUS_PROTOCOL } from '../../src/mesh/registry-status.js'
import { createNode } from '../../src/node/index.js'
import { systemClock } from '../../src/clock.js'
import { until, within } from '../helpers/wait.js'
import { addressOf, certify, disconnections, handMade, meshNode, reach, registry, registryKey, REGISTRY_PROTOCOL, RPC_PROTOCOL, tempDir } from './hostile-peers.js'

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

test('a registration flood on one connection: one is signed, the next closes the connection; honest nodes still register', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  const attacker = await handMade(t, REGISTRY_PROTOCOL, { handshake: () => new Uint8Array(0) })
  const closed = disconnections(attacker.node)
  const ch = await reach(attacker, reg.addresses[0], 'the registration flooder')
  // Each registration would be signed, answered with the directory, and announced to every Caller.
  for (let i = 0; i < 1000; i++) ch.send({ t: 'register', role: 'Worker', variant: `v${i}`, addresses: [] })
  await until(() => closed.some((d) => d.peer === reg.id), 5000, 'the registry to close the flooder')
  const signed = ch.heard.filter((m) => (m as { t?: string })?.t === 'registered')
  assert.ok(signed.length <= 1, `${signed.length} registrations signed`)
  // Refusals too (each is answered and logged): an unknown role, over and over.
  const refused = await handMade(t, REGISTRY_PROTOCOL, { handshake: () => new Uint8Array(0) })
  const refusedClosed = disconnections(refused.node)
  const rch = await reach(refused, reg.addresses[0], 'the refusal flooder')
  for (let i = 0; i < 1000; i++) rch.send({ t: 'register', role: 'Nobody', variant: `v${i}`, addresses: [] })
  await until(() => refusedClosed.some((d) => d.peer === reg.id), 5000, 'the registry to close the refusal flooder')
  assert.ok(rch.heard.filter((m) => (m as { t?: string })?.t === 'refused').length <= 1)
  // An honest node still registers, and the caller learns it.
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').some((i) => i.variant === 'w1'), 8000, 'the caller to list w1')
})

test('\'drain\' sent a thousand times is acknowledged once; the instance stays draining (no new call goes to it)', T, async (t) => {
  const dir = tempDir(t, 'pw-mesh-drain-')
  const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
  const key = registryKey(dir)
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  // A Worker with a genuine certificate that says it understands 'drain', then sends it over and over.
  const worker = await handMade(t, RPC_PROTOCOL, { handshake: (self) => ({ cert: certify(key, reg, self, 'Worker'), drain: true }), onOpen: (c) => { c.send({ t: 'admit' }) } })
  const ch = await reach(worker, addressOf(caller), 'the hand-made worker')
  await until(() => caller.instances('Worker').length === 1, 5000, 'the caller to list the hand-made worker')
  for (let i = 0; i < 1000; i++) ch.send({ t: 'drain' })
  // One more message after the flood: once it is answered, every 'drain' before it was read.
  ch.send({ t: 'drain-ack' })
  ch.send({ t: 'call', id: 1, cmd: 'nothing', args: null, deadline: null })
  await until(() => ch.heard.some((m) => (m as { t?: string; id?: number })?.t === 'result'), 5000, 'the answer to the last call')
  const acks = ch.heard.filter((m) => (m as { t?: string })?.t === 'drain-ack')
  assert.equal(acks.length, 1, `${acks.length} drain-acks for 1000 drains`)
  await assert.rejects(caller.call.Worker.work({ i: 1 }, { timeout: 2000 }), (err: Error & { code?: string }) => err.code === 'ERR_NO_INSTANCE')
})

test('drain() called twice at once: both resolve once the instances acknowledged, long before the timeout', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1 && worker.instances('Caller').length === 1, 8000, 'the caller and the worker to admit each other')
  const first = worker.drain({ timeout: 15_000 })
  const second = worker.drain({ timeout: 15_000 })
  await within(Promise.all([first, second]), 5000, 'both drains')
})
