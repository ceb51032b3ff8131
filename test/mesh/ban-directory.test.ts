import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema } from '../../src/mesh/index.js'
import { sleep, until } from '../helpers/wait.js'
import { meshNode, registry, tempDir } from './hostile-peers.js'

// A ban holds whatever the registry says: a member the application banned on one node is listed in the
// directory that node gets (a 'joined' for it, long-term and protected for the mesh), and that must
// not bring it back — neither a dial of ours nor its dial to us.

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: (args?: unknown) => args } } }
})

test('a caller the worker banned stays out although the registry lists it: no connection either way, never an instance', { timeout: 30_000 }, async (t) => {
  const reg = await registry(t, { schema: farm, dataDir: tempDir(t, 'pw-ban-dir-'), open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  const honest = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  await until(() => worker.instances('Caller').length === 1, 8000, 'the worker to list the honest caller')
  // The application bans a caller before it joins (known by id, say from a deny list of its own).
  const banned = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c2', registry: reg.addresses[0], seed: 'f'.repeat(64) })
  await until(() => worker.instances('Caller').length === 2, 8000, 'the second caller to be listed')
  worker.node.manager.setPriority([{ peer: banned.id, priority: 'banned' }])
  await until(() => !worker.node.connections().some((c) => c.peer === banned.id), 5000, 'the ban to close the connection')
  // It comes back: restarts with the same key and registers again; the registry tells the worker.
  await banned.close()
  await until(() => !reg.members().some((m) => m.peer === banned.id), 5000, 'the registry to drop it')
  const back = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c2', registry: reg.addresses[0], seed: 'f'.repeat(64) })
  assert.equal(back.id, banned.id)
  await until(() => reg.members().some((m) => m.peer === banned.id), 5000, 'the registry to list it again')
  await sleep(3000)
  assert.equal(worker.instances('Caller').some((i) => i.peer === banned.id), false)
  assert.equal(worker.node.connections().some((c) => c.peer === banned.id), false)
  assert.equal(worker.node.manager.getPeer(banned.id)?.priority, 'banned')
  assert.deepEqual(await honest.call.Worker.work({ i: 1 }, { timeout: 5000 }), { i: 1 })
})
