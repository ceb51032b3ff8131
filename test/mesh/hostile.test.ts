import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import {
  createRegistry, defineSchema, PeerwardenError, type Handler, type MeshNode, type MeshRegistry
} from '../../src/mesh/index.js'
import { MAX_MESSAGE_BYTES } from '../../src/node/wire.js'
import { createNode, type PeerNode } from '../../src/node/index.js'
import { ManualClock } from '../../src/testing/index.js'
import { until, within } from '../helpers/wait.js'
import {
  addressOf, certify, disconnections, handMade, meshNode, protocolErrors, reach, registry, registryKey, REGISTRY_PROTOCOL,
  RPC_PROTOCOL, tempDir
} from './hostile-peers.js'

// Hostile peers, the mesh part: each attack runs against a real mesh on 127.0.0.1. Before
// the fixes, each of them ended the test process (protomux's safety-catch rethrowing a TypeError, an
// unhandled rejection, or a throw in an end-of-tick flush).

const T = { timeout: 20_000 }

const noop = (_args?: any): any => null

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Caller'],
    _commands: {
      _balanced: { work: noop, size: noop, hang: noop, fail: noop },
      _broadcast: { status: { responds: true, method: noop }, note: { queued: true, method: noop } }
    }
  }
})

function handlers (variant: string): Record<string, Handler> {
  return {
    work: (args: { i: number }) => ({ variant, i: args?.i }),
    size: (args: string) => args.length,
    hang: async () => await new Promise(() => {}),
    fail: (args: { length: number }) => { throw Object.assign(new Error('x'.repeat(args.length)), { code: 'ERR_CUSTOM' }) },
    status: () => ({ variant, up: true })
  }
}

function hasCode (...codes: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.ok(codes.includes(err.code), `expected ${codes.join(' or ')}, got ${err.code}: ${err.message}`)
    return true
  }
}

/** A registry (its key readable from its dataDir), a worker w1 and a caller connected to it. */
async function farmUp (t: TestContext, workerLimits?: { messageBytes?: number }): Promise<{ reg: MeshRegistry; key: Buffer; worker: MeshNode<typeof farm>; caller: MeshNode<typeof farm> }> {
  const dir = tempDir(t, 'pw-mesh-hostile-')
  const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: handlers('w1'), ...(workerLimits !== undefined ? { limits: workerLimits } : {}) })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1 && worker.instances('Caller').length === 1, 8000, 'the caller and the worker to admit each other')
  return { reg, key: registryKey(dir), worker, caller }
}

/** The victim is up: an honest call through it (or to it) is answered. */
async function stillServes (caller: MeshNode<typeof farm>, i: number): Promise<void> {
  await until(() => caller.instances('Worker').some((w) => w.variant === 'w1'), 8000, 'the caller to list w1')
  assert.deepEqual(await within(caller.call.Worker.work({ i }, { timeout: 5000 }), 6000, 'an honest call'), { variant: 'w1', i })
}

test('finding 4: a node without a certificate that opens the RPC channel and sends one JSON null does not kill the mesh node; the connection closes', T, async (t) => {
  const { worker, caller } = await farmUp(t)
  const closed = disconnections(worker.node)
  // The null leaves in the same tick as the channel's open: the worker reads it right after it
  // refused the missing certificate (protomux drains what was queued for the channel).
  const attacker = await handMade(t, RPC_PROTOCOL, { handshake: () => ({}), initial: () => [null] })
  await attacker.node.manager.connectNow(addressOf(worker)).catch(() => {})
  await until(() => closed.some((d) => d.peer === attacker.node.id), 5000, 'the worker to close the attacker\'s connection')
  assert.ok(['denied', 'protocol'].includes(closed.find((d) => d.peer === attacker.node.id)!.reason ?? ''))
  await stillServes(caller, 1)
})

test('finding 4, certified: a Caller with a genuine certificate that sends JSON null after admission is closed with \'protocol\', and the worker still serves', T, async (t) => {
  const { reg, key, worker, caller } = await farmUp(t)
  const errors = protocolErrors(worker.node)
  const attacker = await handMade(t, RPC_PROTOCOL, { handshake: (self) => ({ cert: certify(key, reg, self, 'Caller') }), onOpen: (ch) => { ch.send({ t: 'admit' }) } })
  const ch = await reach(attacker, addressOf(worker), 'certified attacker')
  await until(() => worker.instances('Caller').some((i) => i.peer === attacker.node.id), 5000, 'the worker to admit the attacker')
  ch.send(null)
  await until(() => errors.some((e) => e.peer === attacker.node.id), 5000, 'the worker to report a protocol error')
  assert.match(errors.find((e) => e.peer === attacker.node.id)!.reason, /rpc channel/)
  await until(() => !worker.instances('Caller').some((i) => i.peer === attacker.node.id), 5000, 'the attacker to be unlisted')
  assert.equal(worker.node.stats().protocolErrors >= 1, true)
  await stillServes(caller, 2)
})

test('finding 5: one register message whose role is { toString: 1 } does not kill the registry; the sender is closed with \'protocol\' and nodes still register', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const attacker = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: { toString: 1 }, variant: 'x', addresses: [] }] })
  const gone = disconnections(attacker.node)
  await attacker.node.manager.connectNow(reg.addresses[0]).catch(() => {})
  await until(() => gone.some((d) => d.peer === reg.id), 5000, 'the registry to close the attacker\'s connection')
  assert.equal(gone.find((d) => d.peer === reg.id)!.reason, 'protocol')
  assert.deepEqual(reg.members(), [])
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: handlers('w1') })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  assert.ok(worker.id !== '')
  await stillServes(caller, 3)
})

/**
 * A plain node that registers with the registry as a Worker (an open registry signs any role) and
 * answers every call with `answer(id)`; it admits whoever connects.
 */
async function rogueWorker (t: TestContext, reg: MeshRegistry, answer: (id: number) => unknown): Promise<PeerNode> {
  const node = await createNode({})
  t.after(async () => { await node.close() })
  let cert: unknown
  await handMade(t, REGISTRY_PROTOCOL, {
    node,
    initial: () => [{ t: 'register', role: 'Worker', variant: 'rogue', addresses: node.addresses }],
    onMessage: (m) => { if ((m as { t?: string })?.t === 'registered') cert = (m as { cert: unknown }).cert }
  })
  await handMade(t, RPC_PROTOCOL, {
    node,
    handshake: () => ({ cert }),
    onOpen: (ch) => { ch.send({ t: 'admit' }) },
    onMessage: (m, ch) => {
      const msg = m as { t?: string; id?: number }
      if (msg?.t === 'call') ch.send(answer(msg.id!))
    }
  })
  await node.manager.connectNow(reg.addresses[0])
  await until(() => cert !== undefined, 5000, 'the rogue worker to register')
  return node
}

test('finding 6: a registered Worker answering { ok: false, error: null } does not kill its callers: its entry fails with ERR_CONNECTION_CLOSED, the others answer', T, async (t) => {
  const { reg, caller } = await farmUp(t)
  const errors = protocolErrors(caller.node)
  const rogue = await rogueWorker(t, reg, (id) => ({ t: 'result', id, ok: false, error: null }))
  await until(() => caller.instances('Worker').some((i) => i.peer === rogue.id), 8000, 'the caller to admit the rogue worker')
  const entries = await within(caller.call.Worker.status(null, { timeout: 5000 }), 6000, 'the broadcast')
  const byVariant = new Map(entries.map((e) => [e.variant, e]))
  assert.deepEqual(byVariant.get('w1'), { variant: 'w1', ok: true, value: { variant: 'w1', up: true } })
  const bad = byVariant.get('rogue')
  assert.ok(bad !== undefined && !bad.ok)
  hasCode('ERR_CONNECTION_CLOSED')(bad.error)
  assert.ok(errors.some((e) => e.peer === rogue.id && /error/.test(e.reason)), `protocol errors: ${JSON.stringify(errors)}`)
  await stillServes(caller, 4)
})

test('finding 7: three calls in one tick (tiny, 8 MB, 9 MB) do not kill the caller: the 9 MB one fails alone with ERR_MESSAGE_TOO_LARGE, the others are answered', { timeout: 60_000 }, async (t) => {
  // A worker that reads messages up to MAX_MESSAGE_BYTES (1 MiB by default: limits.messageBytes).
  const { caller, worker } = await farmUp(t, { messageBytes: MAX_MESSAGE_BYTES })
  const eight = 'x'.repeat(8_000_000)
  const nine = 'y'.repeat(9_000_000)
  assert.ok(eight.length < MAX_MESSAGE_BYTES && nine.length > MAX_MESSAGE_BYTES)
  const calls = [caller.call.Worker.size('tiny', { timeout: 30_000 }), caller.call.Worker.size(eight, { timeout: 30_000 }), caller.call.Worker.size(nine, { timeout: 30_000 })]
  const [tiny, big, tooBig] = await within(Promise.allSettled(calls), 40_000, 'the three calls')
  assert.deepEqual(tiny, { status: 'fulfilled', value: 4 })
  assert.deepEqual(big, { status: 'fulfilled', value: 8_000_000 })
  assert.equal(tooBig.status, 'rejected')
  hasCode('ERR_MESSAGE_TOO_LARGE')((tooBig as PromiseRejectedResult).reason)
  assert.equal(caller.stats().calls, 0)
  assert.equal(worker.instances('Caller').length, 1, 'the connection stayed')
  await stillServes(caller, 5)
})

test('an answer over MAX_MESSAGE_BYTES is not sent: the caller gets ERR_REMOTE carrying ERR_MESSAGE_TOO_LARGE, and the connection stays', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, 'pw-mesh-hostile-')
  const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: { ...handlers('w1'), work: () => 'z'.repeat(9_000_000) } })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 8000, 'the caller to list the worker')
  const err = await caller.call.Worker.work({ i: 1 }, { timeout: 30_000 }).then(() => undefined, (e: unknown) => e)
  hasCode('ERR_REMOTE')(err)
  assert.equal(((err as PeerwardenError).cause as { code?: string }).code, 'ERR_MESSAGE_TOO_LARGE')
  assert.equal(caller.instances('Worker').length, 1)
})

test('an honest error answer always decodes: a handler throwing a 100 000-character message reaches the caller as ERR_REMOTE (cut), not as a protocol error', T, async (t) => {
  const { caller } = await farmUp(t)
  const err = await caller.call.Worker.fail({ length: 100_000 }).then(() => undefined, (e: unknown) => e)
  hasCode('ERR_REMOTE')(err)
  assert.equal(((err as PeerwardenError).cause as { code?: string }).code, 'ERR_CUSTOM')
  assert.ok((err as Error).message.length < 5000)
  await stillServes(caller, 6)
})

test('a call with no deadline (timeout: Infinity) travels as deadline null and is answered', T, async (t) => {
  const { caller } = await farmUp(t)
  assert.deepEqual(await caller.call.Worker.work({ i: 7 }, { timeout: Infinity }), { variant: 'w1', i: 7 })
})

test('finding 14: a handler that never settles is released when the caller cancels: the worker\'s running table is empty again', T, async (t) => {
  const { caller, worker } = await farmUp(t)
  const controllers = Array.from({ length: 20 }, () => new AbortController())
  const calls = controllers.map(async (ac) => await caller.call.Worker.hang(null, { signal: ac.signal, timeout: 60_000 }))
  await until(() => worker.stats().running === 20, 5000, () => `20 handlers running (has ${worker.stats().running})`)
  for (const ac of controllers) ac.abort()
  for (const c of calls) await assert.rejects(c, hasCode('ERR_ABORTED'))
  await until(() => worker.stats().running === 0, 5000, () => `the worker to release the cancelled handlers (running ${worker.stats().running})`)
  assert.equal(caller.stats().calls, 0)
})

test('finding 14: a handler that never settles is released at its deadline even when the caller never cancels (virtual time)', T, async (t) => {
  const dir = tempDir(t, 'pw-mesh-hostile-')
  const reg = await registry(t, { schema: farm, dataDir: dir, open: true })
  const key = registryKey(dir)
  // The worker's deadlines run on a manual clock: the hand-made caller states them in its time.
  const clock = new ManualClock(1_000_000)
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: handlers('w1'), clock })
  // A hand-made caller: it never sends a cancel.
  const attacker = await handMade(t, RPC_PROTOCOL, { handshake: (self) => ({ cert: certify(key, reg, self, 'Caller') }), onOpen: (ch) => { ch.send({ t: 'admit' }) } })
  const ch = await reach(attacker, addressOf(worker), 'hand-made caller')
  await until(() => worker.instances('Caller').some((i) => i.peer === attacker.node.id), 5000, 'the worker to admit the hand-made caller')
  const deadline = clock.now() + 300
  for (let id = 1; id <= 20; id++) ch.send({ t: 'call', id, cmd: 'hang', args: null, deadline })
  ch.send({ t: 'call', id: 21, cmd: 'work', args: { i: 21 }, deadline })
  // The sync call's answer comes after the 20 hanging calls were listed.
  await until(() => ch.heard.some((m) => (m as { id?: number })?.id === 21), 5000, 'the answer to call 21')
  assert.equal(worker.stats().running, 20)
  await clock.advance(299)
  assert.equal(worker.stats().running, 20, 'nothing is released before the deadline')
  await clock.advance(1)
  assert.equal(worker.stats().running, 0, 'every handler is released at its deadline')
  assert.deepEqual(ch.heard.filter((m) => (m as { t?: string })?.t === 'result').map((m) => (m as { id: number }).id), [21], 'nobody is answered for a released call')
  // Still serving.
  ch.send({ t: 'call', id: 22, cmd: 'work', args: { i: 22 }, deadline: clock.now() + 5000 })
  await until(() => ch.heard.some((m) => (m as { id?: number })?.id === 22), 5000, 'the answer to call 22')
})

test('a call id that is already running on the channel is a protocol error', T, async (t) => {
  const { reg, key, worker } = await farmUp(t)
  const errors = protocolErrors(worker.node)
  const attacker = await handMade(t, RPC_PROTOCOL, { handshake: (self) => ({ cert: certify(key, reg, self, 'Caller') }), onOpen: (ch) => { ch.send({ t: 'admit' }) } })
  const ch = await reach(attacker, addressOf(worker), 'hand-made caller')
  await until(() => worker.instances('Caller').some((i) => i.peer === attacker.node.id), 5000, 'the worker to admit the hand-made caller')
  ch.send({ t: 'call', id: 1, cmd: 'hang', args: null, deadline: Date.now() + 60_000 })
  ch.send({ t: 'call', id: 1, cmd: 'hang', args: null, deadline: Date.now() + 60_000 })
  await until(() => errors.some((e) => e.peer === attacker.node.id), 5000, 'the protocol error')
  await until(() => worker.stats().running === 0, 5000, 'the handler of the closed channel to be released')
})

// ── the registry's open / authorize rule ────────────────────────────────────

test('createRegistry without networkKey, authorize or open: true rejects with ERR_INVALID_ARGUMENT naming those options', async () => {
  await assert.rejects(createRegistry({ schema: farm }), (err: unknown) => {
    hasCode('ERR_INVALID_ARGUMENT')(err)
    for (const name of ['networkKey', 'authorize', 'open: true']) assert.ok((err as Error).message.includes(name), `names ${name}: ${(err as Error).message}`)
    return true
  })
  await assert.rejects(createRegistry({ schema: farm, open: false }), hasCode('ERR_INVALID_ARGUMENT'))
})

test('a registry with networkKey, or with authorize, starts without a warning; one with open: true warns that it signs any role', T, async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.message) }
  process.on('warning', onWarning)
  t.after(() => { process.off('warning', onWarning) })
  await registry(t, { schema: farm, networkKey: 'alpha' })
  await registry(t, { schema: farm, authorize: () => true })
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(warnings.filter((w) => /registry is open/.test(w)), [])
  await registry(t, { schema: farm, open: true })
  await until(() => warnings.some((w) => /registry is open/.test(w)), 2000, 'the open registry\'s warning')
})

test('an authorize hook that throws refuses the registration (ERR_NOT_ALLOWED) and the registry stays up', T, async (t) => {
  const reg = await registry(t, { schema: farm, authorize: (_peer, role) => { if (role === 'Worker') throw new Error('boom'); return true } })
  await assert.rejects(meshNode(t, { schema: farm, role: 'Worker', registry: reg.addresses[0] }), hasCode('ERR_NOT_ALLOWED'))
  await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  assert.equal(reg.members().length, 1)
})

// ── budgets ──────────────────────────────────────────────────────────────────

test('a caller with limits.runningPerPeer handlers running gets ERR_BUSY at once for further calls, without running them, until some are released', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  let started = 0
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: { ...handlers('w1'), hang: async () => { started++; return await new Promise(() => {}) } }, limits: { runningPerPeer: 3 } })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 8000, 'the caller to list the worker')
  const ac = new AbortController()
  const held = [1, 2, 3].map(async () => await caller.call.Worker.hang(null, { signal: ac.signal }))
  await until(() => worker.stats().running === 3, 5000, 'three handlers running')
  const err = await caller.call.Worker.hang(null, { timeout: 5000 }).then(() => undefined, (e: unknown) => e)
  hasCode('ERR_REMOTE')(err)
  assert.equal(((err as PeerwardenError).cause as { code?: string }).code, 'ERR_BUSY')
  assert.equal(started, 3, 'the fourth handler never ran')
  assert.equal(worker.stats().running, 3)
  ac.abort()
  for (const h of held) await assert.rejects(h, hasCode('ERR_ABORTED'))
  await until(() => worker.stats().running === 0, 5000, 'the held handlers to be released')
  assert.deepEqual(await caller.call.Worker.work({ i: 1 }), { variant: 'w1', i: 1 })
})

test('limits must be positive integers (ERR_INVALID_ARGUMENT naming the field)', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  await assert.rejects(createMeshNodeChecked(reg, { runningPerPeer: 0 }), (err: unknown) => { hasCode('ERR_INVALID_ARGUMENT')(err); assert.match((err as Error).message, /limits\.runningPerPeer/); return true })
  await assert.rejects(createMeshNodeChecked(reg, { queuedPerCommand: 1.5 }), (err: unknown) => { hasCode('ERR_INVALID_ARGUMENT')(err); assert.match((err as Error).message, /limits\.queuedPerCommand/); return true })
})

async function createMeshNodeChecked (reg: MeshRegistry, limits: { runningPerPeer?: number; queuedPerCommand?: number }): Promise<unknown> {
  const { createMeshNode } = await import('../../src/mesh/index.js')
  const m = await createMeshNode({ schema: farm, role: 'Worker', registry: reg.addresses[0], limits })
  await m.close()
  return m
}

test('a queued command past limits.queuedPerCommand answers ERR_BUSY instead of its ack, and the messages it took still run in order', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const ran: number[] = []
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const worker = await meshNode(t, {
    schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], limits: { queuedPerCommand: 4 },
    handlers: { ...handlers('w1'), note: async ({ n }: { n: number }) => { ran.push(n); if (n === 1) await gate } }
  })
  // One caller holds at most half of the queue (its share: test/hostile/queue-share.test.ts): 2 of 4.
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 8000, 'the caller to list the worker')
  await caller.call.Worker.note({ n: 1 })
  await until(() => ran.length === 1, 5000, 'the first note to start')
  await caller.call.Worker.note({ n: 2 })
  await caller.call.Worker.note({ n: 3 })
  assert.equal(worker.stats().queued, 2)
  await assert.rejects(caller.call.Worker.note({ n: 4 }), (err: unknown) => {
    hasCode('ERR_REMOTE')(err)
    assert.equal(((err as PeerwardenError).cause as { code?: string }).code, 'ERR_BUSY')
    return true
  })
  release()
  await until(() => ran.length === 3, 5000, 'the queued notes to run')
  assert.deepEqual(ran, [1, 2, 3])
  assert.equal(worker.stats().queued, 0)
})

// ── what we send fits what the other side decodes ────────────────────────────

test('a variant over 64 characters, a role or command name over 128 are refused at creation (the wire would refuse them: registration would never complete)', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const { createMeshNode, Schema } = await import('../../src/mesh/index.js')
  await assert.rejects(createMeshNode({ schema: farm, role: 'Worker', variant: 'v'.repeat(65), registry: reg.addresses[0] }), (err: unknown) => { hasCode('ERR_INVALID_ARGUMENT')(err); assert.match((err as Error).message, /variant/); return true })
  await assert.rejects(createMeshNode({ schema: farm, role: 'Worker', variant: '', registry: reg.addresses[0] }), hasCode('ERR_INVALID_ARGUMENT'))
  assert.throws(() => new Schema({ ['R'.repeat(129)]: {} }), hasCode('ERR_INVALID_ARGUMENT'))
  assert.throws(() => new Schema({ R: { _commands: { _balanced: { ['c'.repeat(129)]: noop } } } }), hasCode('ERR_INVALID_ARGUMENT'))
  // The longest names the wire takes work end to end.
  const long = defineSchema({ ['C'.repeat(128)]: { _connect: ['W'.repeat(128)] }, ['W'.repeat(128)]: { _commands: { _balanced: { ['x'.repeat(128)]: () => 'ok' } } } })
  const lreg = await registry(t, { schema: long, open: true })
  await meshNode(t, { schema: long, role: 'W'.repeat(128), variant: 'v'.repeat(64), registry: lreg.addresses[0] })
  const c = await meshNode(t, { schema: long, role: 'C'.repeat(128), variant: 'u'.repeat(64), registry: lreg.addresses[0] })
  await c.ready('W'.repeat(128), { timeout: 8000 })
  const calls = c.call as unknown as Record<string, Record<string, () => Promise<unknown>>>
  assert.equal(await calls['W'.repeat(128)]['x'.repeat(128)](), 'ok')
})
