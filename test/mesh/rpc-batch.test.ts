import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import c from 'compact-encoding'
import fc from 'fast-check'
import type { Message } from 'protomux'
import { defineSchema } from '../../src/mesh/index.js'
import { decodeRpcBatch, decodeRpcBySchema, MAX_BATCH_MESSAGES, type RpcMessage } from '../../src/mesh/messages.js'
import { BATCH_BYTES, Outbox, type OutgoingRpc } from '../../src/mesh/rpc-wire.js'
import type { Channel } from '../../src/node/vendor/protomux.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { createNode, type PeerNode } from '../../src/node/index.js'
import { until } from '../helpers/wait.js'
import { addressOf, certify, disconnections, jsonBytes, meshNode, readJson, registry, registryKey, RPC_PROTOCOL, tempDir } from './hostile-peers.js'

// The RPC channel's batch message (type 1): what the Outbox gathers, the decoder's caps (fuzzed),
// and real nodes on 127.0.0.1: batches only to a peer that says it reads them, refused whole when
// one element is bad.

const T = { timeout: 20_000 }

/** A fake channel: what the Outbox sent, as single messages and batch texts, in order. */
function fakeOutbox (batches: boolean): { out: Outbox; sent: Array<{ single: OutgoingRpc } | { batch: unknown[] }>; corks: number[] } {
  const sent: Array<{ single: OutgoingRpc } | { batch: unknown[] }> = []
  const corks: number[] = []
  let corked = 0
  const channel = { cork: () => { corks.push(++corked) }, uncork: () => { corks.push(--corked) } } as unknown as Channel
  const message: Message<OutgoingRpc> = { send: (m) => { sent.push({ single: m }); return true } }
  const batch: Message<string> = { send: (text) => { sent.push({ batch: JSON.parse(text) as unknown[] }); return true } }
  const out = new Outbox(channel, message, batch)
  out.batches = batches
  return { out, sent, corks }
}

const drain = async (): Promise<void> => { await new Promise((resolve) => { setImmediate(resolve) }) }

test('Outbox: the first message of a tick leaves alone, the rest of the tick as one batch message, in order', async () => {
  const { out, sent, corks } = fakeOutbox(true)
  const msgs: OutgoingRpc[] = Array.from({ length: 5 }, (_, i) => ({ t: 'call', id: i, cmd: 'echo', args: { i, s: 'é' }, deadline: 5 }))
  for (const m of msgs) out.send(m)
  assert.deepEqual(sent, [{ single: msgs[0] }])
  await drain()
  assert.deepEqual(sent, [{ single: msgs[0] }, { batch: msgs.slice(1) }])
  assert.deepEqual(corks, [], 'no protomux cork with batch messages')
  // What the receiver decodes is what was sent.
  const d = decodeRpcBatch((sent[1] as unknown as { batch: unknown[] }).batch)
  assert.ok(d.ok)
  assert.deepEqual(d.value, msgs.slice(1))
})

test('Outbox: a batch message holds at most MAX_BATCH_MESSAGES messages and about BATCH_BYTES bytes; a bigger message goes in one of its own', async () => {
  const { out, sent } = fakeOutbox(true)
  for (let i = 0; i <= MAX_BATCH_MESSAGES + 5; i++) out.send({ t: 'ack', id: i })
  await drain()
  assert.deepEqual(sent.map((s) => 'single' in s ? 1 : s.batch.length), [1, MAX_BATCH_MESSAGES, 5])
  sent.length = 0
  const big = 'x'.repeat(BATCH_BYTES)
  out.send({ t: 'ack', id: 0 })
  out.send({ t: 'result', id: 1, ok: true, value: 'small' })
  out.send({ t: 'result', id: 2, ok: true, value: big })
  out.send({ t: 'result', id: 3, ok: true, value: 'small' })
  await drain()
  assert.deepEqual(sent.map((s) => 'single' in s ? ['single'] : s.batch.map((m) => (m as { id: number }).id)), [['single'], [1], [2], [3]])
})

test('Outbox: to a peer that does not read batches, the rest of the tick is one corked protomux batch of single messages', async () => {
  const { out, sent, corks } = fakeOutbox(false)
  for (let i = 0; i < 4; i++) out.send({ t: 'ack', id: i })
  await drain()
  assert.deepEqual(sent.map((s) => 'single' in s ? s.single : undefined), [0, 1, 2, 3].map((id) => ({ t: 'ack', id })))
  assert.deepEqual(corks, [1, 0])
})

test('Outbox: a message JSON cannot encode throws to its sender and joins no batch', async () => {
  const { out, sent } = fakeOutbox(true)
  out.send({ t: 'ack', id: 0 })
  assert.throws(() => { out.send({ t: 'result', id: 1, ok: true, value: 1n }) })
  out.send({ t: 'ack', id: 2 })
  await drain()
  assert.deepEqual(sent, [{ single: { t: 'ack', id: 0 } }, { batch: [{ t: 'ack', id: 2 }] }])
})

// ── the decoder, fuzzed ──────────────────────────────────────────────────────

const element = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constantFrom('call', 'ack', 'cancel', 'result'), id: fc.oneof(fc.nat(), fc.constantFrom(-1, 0.5, '1')), cmd: fc.string({ maxLength: 4 }), args: fc.jsonValue({ maxDepth: 2 }), deadline: fc.oneof(fc.constant(null), fc.nat()), ok: fc.boolean(), value: fc.jsonValue({ maxDepth: 2 }), error: fc.record({ message: fc.string({ maxLength: 5 }) }) }, { requiredKeys: ['t', 'id'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }
)

test('decodeRpcBatch never throws; it takes 1 to MAX_BATCH_MESSAGES messages that each decode alone, and gives the same messages', () => {
  fc.assert(fc.property(fc.oneof({ weight: 5, arbitrary: fc.array(element, { maxLength: 6 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }), (raw) => {
    const d = decodeRpcBatch(raw)
    if (!Array.isArray(raw)) { assert.equal(d.ok, false); return }
    const each = raw.map((m) => decodeRpcBySchema(m))
    const expected = raw.length > 0 && each.every((x) => x.ok)
    assert.equal(d.ok, expected)
    if (d.ok) assert.deepEqual(d.value, each.map((x) => (x as { value: RpcMessage }).value))
  }), { numRuns: 2000 })
  const ack = { t: 'ack', id: 1 }
  assert.equal(decodeRpcBatch(Array.from({ length: MAX_BATCH_MESSAGES }, () => ack)).ok, true)
  assert.equal(decodeRpcBatch(Array.from({ length: MAX_BATCH_MESSAGES + 1 }, () => ack)).ok, false)
  assert.equal(decodeRpcBatch([]).ok, false)
})

// ── real nodes ────────────────────────────────────────────────────────────────

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: (args: { i: number }) => ({ i: args?.i }) } } }
})

interface HandWorker { conn: NodeConnection; singles: unknown[]; batches: unknown[][]; single: (m: unknown) => void; batch: (bytes: Uint8Array) => void }

/** A Worker made by hand: a genuine certificate, a handshake that says `batch` or not, both message types; it records what it hears. */
async function handWorker (t: TestContext, key: Buffer, reg: Awaited<ReturnType<typeof registry>>, batch: boolean, onCall?: (w: HandWorker, m: { id: number }) => void): Promise<{ node: PeerNode; workers: HandWorker[] }> {
  const node = await createNode({})
  t.after(async () => { await node.close() })
  const workers: HandWorker[] = []
  node.protocol(RPC_PROTOCOL, (conn) => {
    const channel = conn.mux.createChannel({ protocol: RPC_PROTOCOL, handshake: c.raw, onopen: () => { single.send(jsonBytes({ t: 'admit' })) } })
    if (channel === null) return
    const w: HandWorker = { conn, singles: [], batches: [], single: (m) => { single.send(jsonBytes(m)) }, batch: (bytes) => { many.send(bytes) } }
    const single: Message<Uint8Array> = channel.addMessage<Uint8Array>({ encoding: c.raw, onmessage: (bytes) => { const m = readJson(bytes); w.singles.push(m); if ((m as { t?: string })?.t === 'call') onCall?.(w, m as { id: number }) } })
    const many: Message<Uint8Array> = channel.addMessage<Uint8Array>({
      encoding: c.raw,
      onmessage: (bytes) => {
        const ms = readJson(bytes) as unknown[]
        w.batches.push(ms)
        for (const m of ms) if ((m as { t?: string })?.t === 'call') onCall?.(w, m as { id: number })
      }
    })
    workers.push(w)
    channel.open(jsonBytes({ cert: certify(key, reg, node.id, 'Worker'), drain: true, ...(batch ? { batch: true } : {}) }))
  })
  return { node, workers }
}

test('100 calls at once to a peer that reads batches go out as one call and one batch message; its answers in one batch settle them all', T, async (t) => {
  const dir = tempDir(t, 'pw-mesh-batch-')
  const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  // Answers every call of a batch in one batch (and a single call alone).
  const hand = await handWorker(t, registryKey(dir), reg, true)
  await hand.node.manager.connectNow(addressOf(caller))
  await until(() => caller.instances('Worker').length === 1, 5000, 'the caller to list the hand-made worker')
  const calls = Array.from({ length: 100 }, (_, i) => caller.call.Worker.work({ i }))
  const w = hand.workers[hand.workers.length - 1]
  await until(() => w.singles.filter((m) => (m as { t?: string }).t === 'call').length + w.batches.flat().length === 100, 5000, 'the 100 calls to arrive')
  assert.equal(w.singles.filter((m) => (m as { t?: string }).t === 'call').length, 1)
  assert.equal(w.batches.length, 1)
  const all = [...w.singles.filter((m) => (m as { t?: string }).t === 'call'), ...w.batches[0]] as Array<{ id: number; args: { i: number } }>
  w.batch(jsonBytes(all.map((m) => ({ t: 'result', id: m.id, ok: true, value: { i: m.args.i * 2 } }))))
  assert.deepEqual(await Promise.all(calls), Array.from({ length: 100 }, (_, i) => ({ i: i * 2 })))
})

test('a peer whose handshake does not say batch gets single messages only (older peers keep working)', T, async (t) => {
  const dir = tempDir(t, 'pw-mesh-batch-')
  const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  const hand = await handWorker(t, registryKey(dir), reg, false, (w, m) => { w.single({ t: 'result', id: m.id, ok: true, value: m.id }) })
  await hand.node.manager.connectNow(addressOf(caller))
  await until(() => caller.instances('Worker').length === 1, 5000, 'the caller to list the hand-made worker')
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => caller.call.Worker.work({ i })))
  assert.equal(answers.length, 50)
  const w = hand.workers[hand.workers.length - 1]
  assert.equal(w.batches.length, 0)
  assert.equal(w.singles.filter((m) => (m as { t?: string }).t === 'call').length, 50)
})

for (const [what, bytes] of [
  ['one element that does not decode', (ids: number[]) => jsonBytes([{ t: 'result', id: ids[0], ok: true, value: 1 }, { t: 'result', id: 'x', ok: true }])],
  [`${MAX_BATCH_MESSAGES + 1} messages`, (ids: number[]) => jsonBytes(Array.from({ length: MAX_BATCH_MESSAGES + 1 }, () => ({ t: 'result', id: ids[0], ok: true, value: 1 })))],
  ['an empty array', () => jsonBytes([])],
  ['an object, not an array', (ids: number[]) => jsonBytes({ t: 'result', id: ids[0], ok: true, value: 1 })],
  ['bytes that are not JSON', () => new Uint8Array([3, 0x7b, 0x7b, 0x7b])]
] as const) {
  test(`a batch of ${what} closes the connection as a protocol error, and none of it is handled`, T, async (t) => {
    const dir = tempDir(t, 'pw-mesh-batch-')
    const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
    const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
    const hand = await handWorker(t, registryKey(dir), reg, true)
    const closed = disconnections(hand.node)
    await hand.node.manager.connectNow(addressOf(caller))
    await until(() => caller.instances('Worker').length === 1, 5000, 'the caller to list the hand-made worker')
    const call = caller.call.Worker.work({ i: 1 }, { timeout: 10_000 })
    const w = hand.workers[hand.workers.length - 1]
    await until(() => w.singles.some((m) => (m as { t?: string }).t === 'call'), 5000, 'the call to arrive')
    const id = (w.singles.find((m) => (m as { t?: string }).t === 'call') as { id: number }).id
    w.batch(bytes([id]))
    // The good result before the bad element did not settle the call: the connection's close did.
    await assert.rejects(call, (err: Error & { code?: string }) => err.code === 'ERR_CONNECTION_CLOSED')
    await until(() => closed.some((d) => d.peer === caller.id), 5000, 'the caller to close the connection')
  })
}
