import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema } from '../../src/mesh/index.js'
import { until } from '../helpers/wait.js'
import { STATUS_PROTOCOL } from '../../src/mesh/registry-status.js'
import { disconnections, handMade, meshNode, registry, REGISTRY_PROTOCOL } from '../mesh/hostile-peers.js'

// A member of the mesh floods its registry: health reports (each flip of `draining` was a log line
// and a write to the member table, with no budget), registrations (one per half a certificate's
// life per connection), a role the schema does not have. Real registry on 127.0.0.1.

const T = { timeout: 30_000 }
const noop = (_args?: unknown): null => null
const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: noop } } }
})

test('a member flooding its registry with health reports (draining flipping) is closed (\'protocol\') past 20 in 10 s; the registry still registers others', T, async (t) => {
  const lines: string[] = []
  const logger = {
    level: 'info',
    info: (_o: unknown, msg?: string) => { lines.push(msg ?? '') },
    warn: () => {},
    error: () => {},
    debug: () => {},
    trace: () => {},
    fatal: () => {},
    child () { return this }
  }
  const reg = await registry(t, { schema: farm, open: true, logger: logger as never })
  let registered = false
  const rogue = await handMade(t, REGISTRY_PROTOCOL, {
    initial: () => [{ t: 'register', role: 'Worker', variant: 'rogue', addresses: [] }],
    onMessage: (m, ch) => {
      if ((m as { t?: string })?.t !== 'registered') return
      registered = true
      for (let i = 0; i < 500; i++) ch.send({ t: 'health', draining: i % 2 === 0, breakers: [] })
    }
  })
  const gone = disconnections(rogue.node)
  await rogue.node.manager.connectNow(reg.addresses[0]!)
  await until(() => registered, 5000, 'the rogue member to register')
  await until(() => gone.some((d) => d.peer === reg.id), 5000, 'the registry to close the flooding member')
  assert.equal(gone.find((d) => d.peer === reg.id)!.reason, 'protocol')
  const flips = lines.filter((l) => l === 'member draining' || l === 'member up').length
  assert.ok(flips <= 20, `${flips} log lines for the flood`)
  const worker = await meshNode(t, { schema: farm, role: 'Worker', registry: reg.addresses[0]!, handlers: { work: () => 'ok' } })
  await until(() => reg.members().some((m) => m.peer === worker.id), 5000, 'an honest worker to register')
})

test('a registration flood on one connection is closed at the second one; an unknown or huge role is refused with a reason, never thrown', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const heard: unknown[] = []
  const flooder = await handMade(t, REGISTRY_PROTOCOL, {
    initial: () => [
      { t: 'register', role: 'NoSuchRole', variant: 'x' },
      ...Array.from({ length: 50 }, () => ({ t: 'register', role: 'Worker', variant: 'x' }))
    ],
    onMessage: (m) => { heard.push(m) }
  })
  const gone = disconnections(flooder.node)
  await flooder.node.manager.connectNow(reg.addresses[0]!)
  await until(() => gone.some((d) => d.peer === reg.id), 5000, 'the registry to close the flooding connection')
  assert.equal(gone.find((d) => d.peer === reg.id)!.reason, 'protocol')
  assert.equal((heard[0] as { t: string }).t, 'refused')
  assert.equal(heard.length, 1, 'one answer, then closed')
  assert.deepEqual(reg.members(), [])
  const huge = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'W'.repeat(100_000), variant: 'x' }] })
  const hugeGone = disconnections(huge.node)
  await huge.node.manager.connectNow(reg.addresses[0]!)
  await until(() => hugeGone.some((d) => d.peer === reg.id), 5000, 'the registry to close the huge role')
  assert.equal(hugeGone.find((d) => d.peer === reg.id)!.reason, 'protocol')
})

test('status requests across connections from one range are budgeted: 9 connections x 8 requests get the budget\'s answers, the rest a refusal with when to ask again (no silence)', T, async (t) => {
  // 64 KiB a minute from loopback, an answer counted as 4 KiB at least: 16 answers.
  const reg = await registry(t, { schema: farm, open: true, statusBudget: { loopbackBytesPerMinute: 64 * 1024 } })
  const heard: unknown[] = []
  for (let i = 0; i < 9; i++) {
    const asker = await handMade(t, STATUS_PROTOCOL, { initial: () => Array(8).fill({ t: 'status' }), onMessage: (m) => { heard.push(m) } })
    await asker.node.manager.connectNow(reg.addresses[0]!)
  }
  await until(() => heard.length >= 72, 10_000, () => `every request to be answered or refused (${heard.length})`)
  const answers = heard.filter((m) => (m as { t?: string }).t === 'status').length
  const refusals = heard.filter((m) => (m as { t?: string }).t === 'refused') as Array<{ reason: string }>
  assert.ok(answers <= 16, `${answers} status answers`)
  assert.equal(answers + refusals.length, 72)
  assert.match(refusals[0]!.reason, /over budget: ask again in \d+ s/)
})

test('createRegistry refuses a statusBudget that is not a positive number', async () => {
  await assert.rejects(registry({ after () {} } as never, { schema: farm, open: true, statusBudget: { bytesPerMinute: 0 } }), { code: 'ERR_INVALID_ARGUMENT' })
})
