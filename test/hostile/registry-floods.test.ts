import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema } from '../../src/mesh/index.js'
import { until } from '../helpers/wait.js'
import { budgetRange, RangeBudget } from '../../src/node/range-budget.js'
import { STATUS_PROTOCOL } from '../../src/mesh/registry-status.js'
import { ManualClock } from '../../src/testing/manual-clock.js'
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
  const reg = await registry(t, { schema: farm, open: true, statusBudget: { localBytesPerMinute: 64 * 1024 } })
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

test('a member that registers addresses on other hosts is listed with its proven ones first (a wildcard host as where it connects from) and at most 2 others, marked unproven', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const claimed = ['tcp://198.51.100.7:4000', 'tcp://198.51.100.8:4000', 'tcp://example.org:4000', 'tcp://127.0.0.1:4001', 'tcp://203.0.113.9:4000', 'tcp://0.0.0.0:4002', 'tcp://[::]:4003']
  const rogue = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'Worker', variant: 'rogue', addresses: claimed }] })
  await rogue.node.manager.connectNow(reg.addresses[0]!)
  await until(() => reg.members().some((m) => m.peer === rogue.node.id), 5000, 'the rogue member to register')
  const entry = reg.members().find((m) => m.peer === rogue.node.id)!
  // The registry sees the member come from 127.0.0.1: that address is proven, and so are its wildcard
  // ones (every interface, there), then two others follow.
  assert.deepEqual(entry.addresses, ['tcp://127.0.0.1:4001', 'tcp://127.0.0.1:4002', 'tcp://127.0.0.1:4003', 'tcp://198.51.100.7:4000', 'tcp://198.51.100.8:4000'])
  assert.equal(entry.unproven, 2)
})

test('new registrations from one range are budgeted: past registrationBudget they are refused with when to try again', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true, registrationBudget: { localPerMinute: 4 } })
  const heard: unknown[] = []
  for (let i = 0; i < 6; i++) {
    const sybil = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'Worker', variant: `s${i}` }], onMessage: (m) => { heard.push(m) } })
    await sybil.node.manager.connectNow(reg.addresses[0]!)
  }
  await until(() => heard.filter((m) => ['registered', 'refused'].includes((m as { t: string }).t)).length >= 6, 5000, 'every registration to be answered')
  assert.equal(reg.members().length, 4)
  const refusals = heard.filter((m) => (m as { t: string }).t === 'refused') as Array<{ reason: string }>
  assert.equal(refusals.length, 2)
  assert.match(refusals[0]!.reason, /over budget: try again in \d+ s/)
})

test('a related member takes a rogue member\'s unproven address as a hint: it cannot take the address of a peer the member knows', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', registry: reg.addresses[0]! })
  // A peer the caller knows at an address on another host.
  const third = '3'.repeat(64)
  const address = 'tcp://198.51.100.7:4000'
  caller.node.manager.addPeers([{ id: third, addresses: [address] }])
  const rogue = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'Worker', variant: 'rogue', addresses: [address] }] })
  await rogue.node.manager.connectNow(reg.addresses[0]!)
  await until(() => caller.node.manager.getPeer(rogue.node.id) !== undefined, 5000, 'the caller to hear of the rogue member')
  assert.deepEqual(caller.node.manager.getPeer(third)?.addresses, [address])
  assert.ok(!(caller.node.manager.getPeer(rogue.node.id)?.addresses ?? []).includes(address), 'the rogue member took the third party\'s address')
})

test('the per-range budgets: loopback and private /24s are local (a cluster restarting at once), public ranges and relayed peers are not; a range refills over a minute', async () => {
  assert.deepEqual(budgetRange('tcp://127.0.0.1:4000'), { range: 'loopback', local: true })
  assert.deepEqual(budgetRange('tcp://10.1.2.3:4000'), { range: '10.1.2', local: true })
  assert.deepEqual(budgetRange('tcp://8.8.4.4:4000'), { range: '8.8.4', local: false })
  assert.equal(budgetRange('/relay/x').local, false)
  const clock = new ManualClock()
  const b = new RangeBudget(2, 100, clock)
  assert.deepEqual([b.take('tcp://8.8.4.4:1', 1), b.take('tcp://8.8.4.5:1', 1)], [0, 0])
  assert.ok(b.take('tcp://8.8.4.6:1', 1) > 0, 'the third from one public /24 waits')
  assert.equal(b.take('tcp://8.8.5.1:1', 1), 0, 'another range does not')
  for (let i = 0; i < 50; i++) assert.equal(b.take(`tcp://10.0.0.${i}:1`, 1), 0)
  await clock.advance(30_000)
  assert.equal(b.take('tcp://8.8.4.6:1', 1), 0, 'half a minute refilled one')
})

test('a member flapping its registration (register, go, again, 12 times) costs a watcher at most one joined/left per 500 ms, and the watcher ends with its latest state', T, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const heard: Array<{ t: string; peer?: string; entry?: { peer: string } }> = []
  const watcher = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'Caller', variant: 'watcher' }], onMessage: (m) => { heard.push(m as never) } })
  await watcher.node.manager.connectNow(reg.addresses[0]!)
  await until(() => reg.members().some((m) => m.peer === watcher.node.id), 5000, 'the watcher to register')
  let registered = 0
  const flapper = await handMade(t, REGISTRY_PROTOCOL, {
    initial: () => [{ t: 'register', role: 'Worker', variant: 'flapper' }],
    onMessage: (m) => { if ((m as { t?: string })?.t === 'registered') registered++ }
  })
  const id = flapper.node.id
  const start = Date.now()
  const FLAPS = 12
  for (let i = 1; i <= FLAPS; i++) {
    await flapper.node.manager.connectNow(reg.addresses[0]!)
    await until(() => registered >= i, 5000, `registration ${i}`)
    if (i === FLAPS) break
    flapper.last()!.conn.close()
    await until(() => !reg.members().some((m) => m.peer === id), 5000, `the registry to see flap ${i} go`)
  }
  const elapsed = Date.now() - start
  await until(() => reg.stats().notices.waiting === 0, 5000, 'the last notice to go out')
  await until(() => heard.filter((m) => m.t === 'joined' || m.t === 'left').at(-1)?.t === 'joined', 5000, 'the watcher to hear the flapper\'s latest state')
  const about = heard.filter((m) => (m.t === 'joined' && m.entry?.peer === id) || (m.t === 'left' && m.peer === id))
  assert.ok(about.length <= 2 + Math.ceil(elapsed / 500), `${about.length} notices for ${2 * FLAPS - 1} flaps in ${elapsed} ms`)
  assert.ok(reg.stats().notices.coalesced + reg.stats().notices.unchanged > 0, 'some flaps were folded')
})

test('registration bytes from one range are budgeted (registrationBudget.localBytesPerMinute): large registrations past it are refused with when to try again', T, async (t) => {
  // About 2 KiB per registration (8 addresses of 200 characters): 3 fit in 6 KiB a minute.
  const reg = await registry(t, { schema: farm, open: true, registrationBudget: { localBytesPerMinute: 6 * 1024 } })
  const addresses = Array.from({ length: 8 }, (_, k) => `tcp://127.0.0.1:${4000 + k}/${'x'.repeat(180)}`)
  const heard: unknown[] = []
  for (let i = 0; i < 5; i++) {
    const big = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'Worker', variant: `b${i}`, addresses }], onMessage: (m) => { heard.push(m) } })
    await big.node.manager.connectNow(reg.addresses[0]!)
  }
  await until(() => heard.filter((m) => ['registered', 'refused'].includes((m as { t: string }).t)).length >= 5, 5000, 'every registration to be answered')
  assert.equal(reg.members().length, 3)
  const refusals = heard.filter((m) => (m as { t: string }).t === 'refused') as Array<{ reason: string }>
  assert.equal(refusals.length, 2)
  assert.match(refusals[0]!.reason, /registration bytes from this address range are over budget: try again in \d+ s/)
  assert.equal(reg.stats().registrationsOverBudget, 2)
})

test('createRegistry refuses a registrationBudget that is not a positive number, or an unknown one', async () => {
  await assert.rejects(registry({ after () {} } as never, { schema: farm, open: true, registrationBudget: { bytesPerMinute: -1 } }), { code: 'ERR_INVALID_ARGUMENT', message: /registrationBudget\.bytesPerMinute/ })
  await assert.rejects(registry({ after () {} } as never, { schema: farm, open: true, registrationBudget: { bytesPerMinut: 1 } as never }), { code: 'ERR_INVALID_ARGUMENT', message: /bytesPerMinut/ })
})

test('relayed peers are budgeted in a range of their own (<relay range>/relayed), not in the relay\'s, and one of them spends at most a quarter of it', () => {
  const relayed = (ip: string): string => `tcp://${ip}:4001/relay/${'ab'.repeat(32)}`
  assert.deepEqual(budgetRange(relayed('8.8.4.4')), { range: '8.8.4/relayed', local: false })
  assert.deepEqual(budgetRange(relayed('127.0.0.1')), { range: 'loopback/relayed', local: true })
  const b = new RangeBudget(8, 100, new ManualClock())
  for (let i = 0; i < 8; i++) assert.equal(b.take('tcp://8.8.4.4:1', 1), 0)
  assert.ok(b.take('tcp://8.8.4.9:1', 1) > 0, 'the relay\'s own range is spent')
  const got = (peer: string): number => { let n = 0; while (n < 10 && b.take(relayed('8.8.4.4'), 1, peer) === 0) n++; return n }
  assert.equal(got('p1'), 2, 'a quarter of the range for one relayed peer')
  assert.deepEqual([got('p2'), got('p3'), got('p4')], [2, 2, 2])
  assert.equal(got('p5'), 0, 'the relay\'s customers share one range\'s budget')
})
