import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, PeerwardenError, type Handler } from '../../src/mesh/index.js'
import { ManualClock } from '../../src/testing/index.js'
import { SOCKETMESH_SAMPLE } from '../helpers/socketmesh-sample.js'
import { until, within } from '../helpers/wait.js'
import { meshNode, registry } from './hostile-peers.js'

// mesh.ready(role?, { timeout, signal }) and the socketmesh call form `call.Role.command.call(args)`,
// on real sockets (127.0.0.1).

const T = { timeout: 20_000 }
const noop = (_args?: any): any => null

const farm = defineSchema({
  Caller: { _connect: ['Worker', 'Store'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: noop }, _broadcast: { status: { responds: true, method: noop } } } },
  Store: { _allow: ['Caller'], _commands: { _balanced: { get: noop } } },
  Outsider: {}
})

const worker: Record<string, Handler> = { work: (args: { i: number }) => ({ i: args.i }), status: () => ({ up: true }) }

function hasCode (code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

test('ready(role) resolves once an instance of the role is listed, and a call made then is served', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  const ready = caller.ready('Worker', { timeout: 8000 })
  let resolved = false
  void ready.then(() => { resolved = true }, () => {})
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(resolved, false, 'no worker yet')
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: worker })
  await within(ready, 8000, 'ready(Worker)')
  assert.equal(caller.instances('Worker').length, 1)
  assert.deepEqual(await caller.call.Worker.work({ i: 1 }), { i: 1 })
  // Already true: resolves at once.
  await within(caller.ready('Worker'), 100, 'ready(Worker) again')
})

test('ready() without a role waits for every role this node calls', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  let resolved = false
  const ready = caller.ready(undefined, { timeout: 8000 }).then(() => { resolved = true })
  await meshNode(t, { schema: farm, role: 'Worker', registry: reg.addresses[0], handlers: worker })
  await until(() => caller.instances('Worker').length === 1, 8000, 'the worker to be listed')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(resolved, false, 'the Store is still missing')
  await meshNode(t, { schema: farm, role: 'Store', registry: reg.addresses[0], handlers: { get: () => 1 } })
  await within(ready, 8000, 'ready()')
  // A node that calls nobody is ready at once.
  const w = await meshNode(t, { schema: farm, role: 'Worker', registry: reg.addresses[0], handlers: worker })
  await within(w.ready(), 100, 'ready() of a worker')
})

test('ready rejects: ERR_TIMEOUT when the timeout passes, ERR_ABORTED on its signal, ERR_INVALID_ARGUMENT for an unknown role, ERR_NOT_ALLOWED for an unrelated one, ERR_CLOSED on close', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  // The timeout runs on the mesh's clock: virtual here.
  const clock = new ManualClock(1_000_000)
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0], clock })
  let outcome: unknown
  const timed = caller.ready('Worker', { timeout: 100 }).then(() => 'resolved', (err: unknown) => err)
  void timed.then((o) => { outcome = o })
  await clock.advance(99)
  assert.equal(outcome, undefined, 'still waiting 1 ms before the timeout')
  await clock.advance(1)
  hasCode('ERR_TIMEOUT')(await timed)
  const ac = new AbortController()
  const aborted = caller.ready('Worker', { signal: ac.signal })
  ac.abort()
  await assert.rejects(aborted, hasCode('ERR_ABORTED'))
  await assert.rejects(caller.ready('Nobody'), hasCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(caller.ready('Outsider'), hasCode('ERR_NOT_ALLOWED'))
  await assert.rejects(caller.ready('Worker', { timeout: -1 }), hasCode('ERR_INVALID_ARGUMENT'))
  const pending = caller.ready('Store')
  await caller.close()
  await assert.rejects(pending, hasCode('ERR_CLOSED'))
  await assert.rejects(caller.ready('Store'), hasCode('ERR_CLOSED'))
})

test('the socketmesh call form call.Role.command.call(args) makes the same call as call.Role.command(args) (it reached Function.prototype.call)', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: worker })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0] })
  await caller.ready('Worker', { timeout: 8000 })
  assert.deepEqual(await caller.call.Worker.work.call({ i: 7 }), { i: 7 })
  assert.deepEqual(await caller.call.Worker.status.call(null, { timeout: 2000 }), [{ variant: 'w1', ok: true, value: { up: true } }])
  assert.deepEqual(await caller.call.Worker.work({ i: 8 }), { i: 8 })
  // socketmesh's sample, untyped access.
  const sampleReg = await registry(t, { schema: SOCKETMESH_SAMPLE, open: true })
  await meshNode(t, { schema: SOCKETMESH_SAMPLE, role: 'NodeA', registry: sampleReg.addresses[0] })
  const b = await meshNode(t, { schema: SOCKETMESH_SAMPLE, role: 'NodeB', registry: sampleReg.addresses[0] })
  await b.ready('NodeA', { timeout: 8000 })
  const calls = b.call as unknown as Record<string, Record<string, { call: (args: unknown) => Promise<unknown> }>>
  assert.deepEqual(await calls.NodeA.sampleRespondingMethod.call({ test: 'data' }), { command: 'data' })
})
