import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import c from 'compact-encoding'
import { createMeshNode, defineSchema, registerMeshMetrics, type MeshRegistry } from '../../src/mesh/index.js'
import { DEFAULT_BYTES_PER_PEER, DEFAULT_MESSAGE_BYTES } from '../../src/mesh/peer-bytes.js'
import { createNode } from '../../src/node/index.js'
import { MAX_MESSAGE_BYTES } from '../../src/node/wire.js'
import { hasCode } from '../helpers/errors.js'
import { until, within } from '../helpers/wait.js'
import { addressOf, disconnections, handMade, jsonBytes, meshNode, protocolErrors, registry, REGISTRY_PROTOCOL, RPC_PROTOCOL, tempDir, type RawChannel } from '../mesh/hostile-peers.js'

// A certificate proves a peer's role, not its manners. A registered Caller could send a Worker calls
// of 8 MiB (the transport's largest message), each parsed whole — 8 MiB of nested JSON held the
// event loop for 2.6 s here — and keep 1024 of them running: 8 GiB. Now a certified peer's message
// is read up to `limits.messageBytes` (1 MiB by default; longer ones are refused by their length,
// unparsed) and the messages one peer's calls keep here are held to `limits.bytesPerPeer` (32 MiB).

const T = { timeout: 60_000 }
const noop = (_args?: any): any => null
const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { hang: noop, size: noop } } }
})
const handlers = { hang: async () => await new Promise(() => {}), size: (args: string) => args.length }

/** A plain node registered as a Caller (an open registry signs any role) whose RPC channel is written by hand. */
async function rogueCaller (t: TestContext, reg: MeshRegistry, target: string): Promise<{ ch: RawChannel; id: string; again: () => Promise<RawChannel> }> {
  const node = await createNode({})
  t.after(async () => { await node.close() })
  let cert: unknown
  await handMade(t, REGISTRY_PROTOCOL, {
    node,
    initial: () => [{ t: 'register', role: 'Caller', variant: 'rogue', addresses: node.addresses }],
    onMessage: (m) => { if ((m as { t?: string })?.t === 'registered') cert = (m as { cert: unknown }).cert }
  })
  const rpc = await handMade(t, RPC_PROTOCOL, { node, handshake: () => ({ cert }), onOpen: (ch) => { ch.send({ t: 'admit' }) } })
  await node.manager.connectNow(reg.addresses[0]!)
  await until(() => cert !== undefined, 10_000, 'the rogue to register')
  // The worker may dial us first (a duplicate refused): either connection will do.
  await node.manager.connectNow(target).catch(() => {})
  const admitted = (): RawChannel | undefined => rpc.channels.find((ch) => ch.conn.open && ch.heard.some((m) => (m as { t?: string })?.t === 'admit'))
  await until(() => admitted() !== undefined, 10_000, 'the worker to admit the rogue')
  /** A channel the worker admitted on a connection still open, connecting again if none is (a duplicate refused is fine: the other connection will do). */
  const again = async (): Promise<RawChannel> => {
    await until(() => {
      if (admitted() !== undefined) return true
      void node.manager.connectNow(target).catch(() => {})
      return false
    }, 20_000, 'the worker to admit the rogue again', 200)
    return admitted()!
  }
  return { ch: admitted()!, id: node.id, again }
}

/** Watches JSON.parse in this process (the victim runs here) while `attack` runs: the longest text parsed. */
async function longestParsed (attack: () => Promise<void>): Promise<number> {
  const parse = JSON.parse
  let longest = 0
  JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
    longest = Math.max(longest, text.length)
    return parse(text, reviver)
  }) as typeof JSON.parse
  try { await attack() } finally { JSON.parse = parse }
  return longest
}

test('a certified peer\'s 8 MiB call of nested JSON is refused by its length, never parsed; the worker still serves', T, async (t) => {
  const reg = await registry(t, { schema: farm, dataDir: tempDir(t, 'pw-certified-'), open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers })
  const rogue = await rogueCaller(t, reg, addressOf(worker))
  const errors = protocolErrors(worker.node)
  const gone = disconnections(worker.node)
  const half = 4 * 1024 * 1024
  const parsed = await longestParsed(async () => {
    rogue.ch.send((c as unknown as { encode (codec: unknown, v: unknown): Uint8Array }).encode(c.string, '['.repeat(half) + ']'.repeat(half)))
    await until(() => gone.some((d) => d.peer === rogue.id), 30_000, 'the worker to close the rogue')
  })
  console.log(`longest text parsed ${parsed} characters; protocol errors ${JSON.stringify(errors)}`)
  assert.ok(parsed <= DEFAULT_MESSAGE_BYTES, `parsed ${parsed} characters`)
  assert.ok(errors.some((e) => e.peer === rogue.id && /bytes/.test(e.reason)), JSON.stringify(errors))
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 10_000, 'the caller to list the worker')
  assert.equal(await within(caller.call.Worker.size('abc', { timeout: 10_000 }), 15_000, 'an honest call'), 3)
})

test('a certified peer\'s calls that never end keep at most limits.bytesPerPeer of messages: past it ERR_BUSY, and stats() says what is held', T, async (t) => {
  const reg = await registry(t, { schema: farm, dataDir: tempDir(t, 'pw-certified-'), open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers })
  const rogue = await rogueCaller(t, reg, addressOf(worker))
  const args = 'x'.repeat(900_000)
  const calls = 100
  const busy = (): number => rogue.ch.heard.filter((m) => (m as { error?: { code?: string } })?.error?.code === 'ERR_BUSY').length
  // One at a time (the rogue's own write budget would end a 90 MB burst): each running or refused before the next.
  for (let id = 1; id <= calls; id++) {
    rogue.ch.send(jsonBytes({ t: 'call', id, cmd: 'hang', args, deadline: null }))
    await until(() => worker.stats().running + busy() === id, 20_000, () => `call ${id} running or refused (running ${worker.stats().running}, busy ${busy()}, open ${String(rogue.ch.conn.open)})`)
  }
  const s = worker.stats()
  console.log(`running ${s.running}, refused ${s.callBytesRefused}, held ${s.callBytes} bytes`)
  assert.ok(s.callBytes <= DEFAULT_BYTES_PER_PEER + 1024 * 1024, `${s.callBytes} bytes held for one peer`)
  assert.ok(s.running >= 30, `${s.running} calls running (32 MiB holds about 37 of them)`)
  assert.equal(s.callBytesRefused, busy())
  assert.ok(busy() >= 50)
  const scraped = await registerMeshMetrics(worker).metrics()
  assert.match(scraped, new RegExp(`peerwarden_mesh_handler_message_bytes ${s.callBytes}\\b`))
  assert.match(scraped, new RegExp(`peerwarden_mesh_calls_refused_bytes_total ${s.callBytesRefused}\\b`))
  rogue.ch.conn.close('done')
  await until(() => worker.stats().callBytes === 0 && worker.stats().running === 0, 20_000, 'the rogue\'s calls to be released')
})

test('an honest call over what the worker reads fails at the caller with ERR_MESSAGE_TOO_LARGE and the connection stays; a worker with limits.messageBytes 8 MiB takes it', T, async (t) => {
  const reg = await registry(t, { schema: farm, dataDir: tempDir(t, 'pw-certified-'), open: true })
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'small', registry: reg.addresses[0], handlers })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 10_000, 'the caller to list the worker')
  const two = 'y'.repeat(2 * 1024 * 1024)
  const err = await caller.call.Worker.size(two, { timeout: 10_000 }).then(() => undefined, (e: unknown) => e)
  hasCode('ERR_MESSAGE_TOO_LARGE')(err)
  assert.equal(caller.instances('Worker').length, 1, 'the connection stayed')
  assert.equal(await caller.call.Worker.size('abc', { timeout: 10_000 }), 3)
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'big', registry: reg.addresses[0], handlers, limits: { messageBytes: MAX_MESSAGE_BYTES } })
  await until(() => caller.instances('Worker').length === 2, 10_000, 'the caller to list the second worker')
  const sizes = await Promise.allSettled(Array.from({ length: 6 }, async () => await caller.call.Worker.size(two, { timeout: 20_000 })))
  assert.ok(sizes.some((r) => r.status === 'fulfilled' && r.value === two.length), 'the big worker took one')
  for (const messageBytes of [MAX_MESSAGE_BYTES + 1, 1000, 1.5]) {
    await assert.rejects(createMeshNode({ schema: farm, role: 'Worker', registry: reg.addresses[0], limits: { messageBytes } }), hasCode('ERR_INVALID_ARGUMENT', /limits\.messageBytes/))
  }
})

test('a certified peer reconnecting 30 times, each time leaving 20 calls running, leaves nothing behind on the worker', T, async (t) => {
  const reg = await registry(t, { schema: farm, dataDir: tempDir(t, 'pw-certified-'), open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers })
  const rogue = await rogueCaller(t, reg, addressOf(worker))
  let ch = rogue.ch
  for (let round = 0; round < 30; round++) {
    for (let id = 1; id <= 20; id++) ch.send(jsonBytes({ t: 'call', id, cmd: 'hang', args: 'z'.repeat(10_000), deadline: null }))
    await until(() => worker.stats().running === 20, 10_000, () => `round ${round}: 20 calls running (${worker.stats().running})`)
    ch.conn.close('done')
    await until(() => worker.stats().running === 0 && worker.stats().callBytes === 0, 10_000, () => `round ${round}: the calls released (${worker.stats().running}, ${worker.stats().callBytes} bytes)`)
    if (round < 29) ch = await rogue.again()
  }
  const s = worker.stats()
  assert.deepEqual([s.running, s.queued, s.queuedBytes, s.callBytes], [0, 0, 0, 0])
})
