import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { systemClock } from '../../src/clock.js'
import type { Logger } from '../../src/logger.js'
import { askStatus } from '../../src/mesh/registry-status.js'
import {
  createMeshNode, createRegistry, defineSchema, PeerwardenError,
  type MeshNode, type MeshNodeOptions, type MeshRegistry, type MeshSchema, type RegistryOptions
} from '../../src/mesh/index.js'
import { createNode, type PeerNode } from '../../src/node/index.js'
import { until, within } from '../helpers/wait.js'

// Real sockets on 127.0.0.1: several registries, the deadline on joining, the logger, the status
// channel. Everything started is closed in t.after, pass or fail.

const T = { timeout: 30_000 }

const schema = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Caller'],
    _commands: {
      _balanced: { work: (args: { i: number }) => ({ i: args.i }) },
      _broadcast: { status: { responds: true, method: () => ({ up: true }) } }
    }
  }
})

function hasCode (code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

async function registry (t: TestContext, options: Partial<RegistryOptions> = {}): Promise<MeshRegistry & { closeNow: () => Promise<void> }> {
  const r = await createRegistry({ schema, open: true, ...options })
  let closed = false
  const closeNow = async (): Promise<void> => { if (!closed) { closed = true; await r.close() } }
  t.after(closeNow)
  return Object.assign(r, { closeNow })
}

async function meshNode<S extends MeshSchema> (t: TestContext, options: MeshNodeOptions<S>): Promise<MeshNode<S>> {
  const m = await createMeshNode(options)
  t.after(async () => { await m.close() })
  return m
}

function tempDir (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-registries-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** A logger that keeps every line with its level. */
function recorder (): Logger & { lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = []
  const at = (level: string) => (first: Record<string, unknown> | string, msg?: string): void => {
    lines.push(typeof first === 'string' ? { level, msg: first, fields: {} } : { level, msg: msg ?? '', fields: first })
  }
  const logger = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger }
  return logger
}

test('two registries: with one closed, a new worker still joins and serves; the registry that comes back catches up with every node', T, async (t) => {
  const dir = tempDir(t)
  const r1 = await registry(t, { dataDir: dir })
  const r2 = await registry(t)
  const registries = [r1.addresses[0], r2.addresses[0]]
  const w1 = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registries })
  const caller = await meshNode(t, { schema, role: 'Caller', registries })
  await until(() => r1.members().length === 2 && r2.members().length === 2, 5000, 'both nodes to register with both registries')
  await caller.ready('Worker', { timeout: 5000 })

  await r1.closeNow()
  // A newcomer while r1 is down: r2 alone signs its certificate, and the caller (whose own
  // certificate may be r1's) accepts it: both trust both registries.
  const w2 = await within(meshNode(t, { schema, role: 'Worker', variant: 'w2', registries, registerTimeout: 10_000 }), 12_000, 'joining with one registry down')
  await until(() => caller.instances('Worker').length === 2, 8000, 'the caller to reach the new worker')
  const answers = await caller.call.Worker.status(null, { timeout: 2000 })
  assert.deepEqual(answers.map((a) => [a.variant, a.ok]).sort(), [['w1', true], ['w2', true]])
  assert.ok(caller.instances('Worker').some((i) => i.peer === w2.id))

  // r1 comes back (same key, same address): every node registers with it again, the newcomer too.
  const again = await registry(t, { dataDir: dir, listen: [r1.addresses[0].split('#')[0]] })
  assert.equal(again.id, r1.id)
  await until(() => again.members().length === 3, 15_000, () => `the registry that came back to list the 3 nodes (has ${again.members().length})`)
  assert.deepEqual(again.members().map((m) => m.variant).sort(), [caller.variant, 'w1', 'w2'].sort())
  assert.ok(w1.id !== w2.id)
})

test('a node given two registries, one of them down from the start, joins through the other', T, async (t) => {
  const up = await registry(t)
  const down = await registry(t)
  const downAddress = down.addresses[0]
  await down.closeNow()
  const worker = await meshNode(t, { schema, role: 'Worker', registries: [downAddress, up.addresses[0]], registerTimeout: 10_000 })
  const caller = await meshNode(t, { schema, role: 'Caller', registries: [up.addresses[0], downAddress] })
  await caller.ready('Worker', { timeout: 5000 })
  assert.deepEqual(await caller.call.Worker.work({ i: 7 }, { timeout: 2000 }), { i: 7 })
  assert.equal(up.members().length, 2)
  assert.ok(worker.id.length === 64)
})

test('a node that trusts only one registry refuses a certificate signed by another one (denied)', T, async (t) => {
  const r1 = await registry(t)
  const r2 = await registry(t)
  const worker = await meshNode(t, { schema, role: 'Worker', registry: r2.addresses[0] })
  // The caller registers with r1 only, and learns of nothing from it; it is told of the worker by hand.
  const caller = await meshNode(t, { schema, role: 'Caller', registry: r1.addresses[0] })
  const gone: Array<{ peer: string; reason?: string }> = []
  caller.node.events.addEventListener('disconnection', (e) => { gone.push(e.detail) })
  caller.node.manager.addPeers([{ id: worker.id, addresses: worker.node.addresses }])
  await caller.node.manager.connectNow(worker.id).catch(() => {})
  await until(() => gone.some((e) => e.peer === worker.id), 5000, 'the connection to the worker of another registry to close')
  assert.equal(gone.find((e) => e.peer === worker.id)!.reason, 'denied')
  assert.deepEqual(caller.instances('Worker'), [])
})

test('createMeshNode rejects with ERR_TIMEOUT when no registry answers within registerTimeout (a node that is no registry)', T, async (t) => {
  const impostor: PeerNode = await createNode({})
  t.after(async () => { await impostor.close() })
  const address = `${impostor.addresses[0]}#${impostor.id}`
  const t0 = Date.now()
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registry: address, registerTimeout: 400 }), (err: unknown) => {
    hasCode('ERR_TIMEOUT')(err)
    assert.match((err as Error).message, /no registry signed a certificate within 400 ms/)
    return true
  })
  assert.ok(Date.now() - t0 < 5000, 'it gave up at its deadline')
})

test('registries must carry ids; registerTimeout, logger and logLevel are checked', T, async () => {
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registries: ['tcp://127.0.0.1:1'] }), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createMeshNode({ schema, role: 'Worker' }), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registries: 'x' as unknown as string[] }), hasCode('ERR_INVALID_ARGUMENT'))
  const id = 'a'.repeat(64)
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registry: `tcp://127.0.0.1:1#${id}`, registerTimeout: 0 }), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registry: `tcp://127.0.0.1:1#${id}`, logLevel: 'loud' as 'info' }), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registry: `tcp://127.0.0.1:1#${id}`, logLevel: 'info', logger: recorder() }), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createMeshNode({ schema, role: 'Worker', registry: `tcp://127.0.0.1:1#${id}`, logger: {} as Logger }), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createRegistry({ schema, open: true, maxMembers: 0 }), hasCode('ERR_INVALID_ARGUMENT'))
})

test('the registry refuses a member past maxMembers (ERR_NOT_ALLOWED naming the budget)', T, async (t) => {
  const reg = await registry(t, { maxMembers: 1 })
  await meshNode(t, { schema, role: 'Worker', registry: reg.addresses[0] })
  await assert.rejects(createMeshNode({ schema, role: 'Caller', registry: reg.addresses[0] }), (err: unknown) => {
    hasCode('ERR_NOT_ALLOWED')(err)
    assert.match((err as Error).message, /full \(1 members\)/)
    return true
  })
  assert.equal(reg.members().length, 1)
})

test('the logger hears each registration and instance at info, refusals at warn, a failed join at error; nothing without a logger', T, async (t) => {
  const regLog = recorder()
  const reg = await registry(t, { logger: regLog, authorize: (_peer, role, variant) => role !== 'Worker' || variant !== 'bad' })
  const workerLog = recorder()
  const callerLog = recorder()
  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: reg.addresses[0], logger: workerLog })
  const caller = await meshNode(t, { schema, role: 'Caller', variant: 'c1', registry: reg.addresses[0], logger: callerLog })
  await caller.ready('Worker', { timeout: 5000 })
  await until(() => workerLog.lines.some((l) => l.msg === 'instance up'), 5000, 'the worker to log the caller up')

  const find = (log: ReturnType<typeof recorder>, msg: string): { level: string; fields: Record<string, unknown> } | undefined => log.lines.find((l) => l.msg === msg)
  assert.equal(find(workerLog, 'registered')?.level, 'info')
  assert.equal(find(workerLog, 'registered')?.fields.role, 'Worker')
  assert.deepEqual(find(callerLog, 'instance up'), { level: 'info', msg: 'instance up', fields: { role: 'Worker', variant: 'w1', peer: worker.id } })
  assert.equal(find(regLog, 'member registered')?.level, 'info')
  assert.deepEqual(regLog.lines.filter((l) => l.msg === 'member registered').map((l) => l.fields.variant).sort(), ['c1', 'w1'])

  // A refusal: the registry warns, the refused node warns, then errors that it could not join.
  const badLog = recorder()
  await assert.rejects(createMeshNode({ schema, role: 'Worker', variant: 'bad', registry: reg.addresses[0], logger: badLog }), hasCode('ERR_NOT_ALLOWED'))
  assert.equal(find(regLog, 'registration refused')?.level, 'warn')
  assert.equal(find(badLog, 'registration refused')?.level, 'warn')
  assert.equal(find(badLog, 'could not join the mesh')?.level, 'error')

  await worker.close()
  await until(() => callerLog.lines.some((l) => l.msg === 'instance down'), 5000, 'the caller to log the worker down')
  assert.equal(find(callerLog, 'instance down')?.level, 'info')
  await until(() => regLog.lines.some((l) => l.msg === 'member left'), 5000, 'the registry to log the worker gone')
  assert.equal(find(regLog, 'member left')?.fields.variant, 'w1')
  // Nothing above info level was logged by the healthy nodes.
  assert.deepEqual(callerLog.lines.filter((l) => l.level === 'warn' || l.level === 'error'), [])
})

test('the status channel gives a registry\'s members and its schema without handlers; with authorize, only to members', T, async (t) => {
  const open = await registry(t)
  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: open.addresses[0] })
  const asker: PeerNode = await createNode({})
  t.after(async () => { await asker.close() })
  const [answer] = await askStatus(asker, [{ address: open.addresses[0], id: open.id }], { timeout: 5000, clock: systemClock })
  assert.ok(answer.ok, answer.ok ? '' : answer.error.message)
  const status = answer.status
  assert.equal(status.registry, open.id)
  assert.deepEqual(status.members.map((m) => [m.peer, m.role, m.variant]), [[worker.id, 'Worker', 'w1']])
  assert.ok(status.members[0].expires > status.members[0].since)
  assert.deepEqual(status.schema.Worker, { _allow: ['Caller'], _connect: [], _commands: { _balanced: { work: { responds: true } }, _broadcast: { status: { responds: true } } } })
  // The outline is a schema: a node built on it calls the worker's commands.
  const caller = await meshNode(t, { schema: status.schema, role: 'Caller', registry: open.addresses[0] })
  await caller.ready('Worker', { timeout: 5000 })
  assert.deepEqual(await (caller.call as any).Worker.work({ i: 3 }, { timeout: 2000 }), { i: 3 })

  const guarded = await registry(t, { authorize: () => true })
  const stranger: PeerNode = await createNode({})
  t.after(async () => { await stranger.close() })
  const [refused] = await askStatus(stranger, [{ address: guarded.addresses[0], id: guarded.id }], { timeout: 5000, clock: systemClock })
  assert.ok(!refused.ok)
  hasCode('ERR_NOT_ALLOWED')(refused.error)
})
