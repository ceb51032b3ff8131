/**
 * A queued command's queue shared by all its callers: src/mesh/responder-budgets.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, PeerwardenError } from '../../src/mesh/index.js'
import { overShare } from '../../src/mesh/responder-budgets.js'
import { until } from '../helpers/wait.js'
import { meshNode, registry } from '../mesh/hostile-peers.js'

// A queued command holds at most `limits.queuedPerCommand` messages waiting, over all callers: one
// certified caller that parked that many behind a slow message left every other caller ERR_BUSY
// until its messages ran (10 of 10 places; the honest caller refused). Now no caller holds more than
// half of the places the others leave free: it is ERR_BUSY past its share, the others find room.

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Caller'],
    _commands: {
      _broadcast: { note: { queued: true, method: (_args?: unknown) => null } },
      _balanced: { slot: { concurrency: 1, maxQueueSize: 10, method: (_args?: unknown) => null } }
    }
  }
})

function busy (err: unknown): boolean {
  assert.ok(err instanceof PeerwardenError && err.code === 'ERR_REMOTE', String(err))
  assert.equal((err.cause as { code?: string }).code, 'ERR_BUSY')
  return true
}

/** Sends notes until one is refused (or `max` sent); returns how many were accepted. */
async function fill (call: (args: { n: number; pad: string }) => Promise<unknown>, max: number, pad = ''): Promise<number> {
  for (let n = 1; n <= max; n++) {
    try { await call({ n, pad }) } catch (err) { busy(err); return n - 1 }
  }
  return max
}

test('a caller that fills a queued command\'s queue gets ERR_BUSY past its share; another caller still finds room (stats: queueShareRefused)', { timeout: 60_000 }, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const ran: string[] = []
  const worker = await meshNode(t, {
    schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], limits: { queuedPerCommand: 10 },
    handlers: { note: async ({ n }: { n: number }, ctx) => { ran.push(`${ctx.from.variant}:${n}`); if (n === 0) await gate } }
  })
  const attacker = await meshNode(t, { schema: farm, role: 'Caller', variant: 'attacker', registry: reg.addresses[0] })
  const honest = await meshNode(t, { schema: farm, role: 'Caller', variant: 'honest', registry: reg.addresses[0] })
  await until(() => attacker.instances('Worker').length === 1 && honest.instances('Worker').length === 1, 8000, 'the callers to list the worker')

  // The first note runs and holds the queue; what follows waits.
  await attacker.call.Worker.note({ n: 0 })
  await until(() => ran.length === 1, 5000, 'the first note to start')
  const parked = await fill((a) => attacker.call.Worker.note(a), 20)
  const honestIn = await fill((a) => honest.call.Worker.note(a), 10)
  const s = worker.stats()
  console.log(`attacker parked ${parked} of 10 places, the honest caller got ${honestIn} in; queued ${s.queued}, refused past a share ${s.queueShareRefused}`)
  assert.equal(parked, 5, 'the attacker holds half of the queue')
  assert.equal(honestIn, 3, 'the honest caller finds room (half of the 5 places the attacker left, rounded up)')
  assert.equal(s.queued, 8)
  assert.equal(s.queueShareRefused, 2)
  release()
  await until(() => ran.length === 9, 5000, () => `the queued notes to run (${ran.length})`)
  assert.equal(worker.stats().queued, 0)
})

test('messages queued by a caller whose channel closed are released from every budget once they ran: count, bytes, bytes per peer and its share', { timeout: 60_000 }, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  const opens: Record<string, () => void> = {}
  const gates: Record<string, Promise<void>> = {}
  for (const v of ['leaver', 'other']) gates[v] = new Promise<void>((resolve) => { opens[v] = resolve })
  const ran: string[] = []
  const worker = await meshNode(t, {
    schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], limits: { queuedPerCommand: 10 },
    handlers: { note: async ({ n }: { n: number }, ctx) => { ran.push(`${ctx.from.variant}:${n}`); if (n === 0) await gates[ctx.from.variant] } }
  })
  const leaver = await meshNode(t, { schema: farm, role: 'Caller', variant: 'leaver', registry: reg.addresses[0] })
  const other = await meshNode(t, { schema: farm, role: 'Caller', variant: 'other', registry: reg.addresses[0] })
  await until(() => leaver.instances('Worker').length === 1 && other.instances('Worker').length === 1, 8000, 'the callers to list the worker')
  await leaver.call.Worker.note({ n: 0 })
  await until(() => ran.length === 1, 5000, 'the first note to start')
  const pad = 'x'.repeat(64 * 1024)
  const parked = await fill((a) => leaver.call.Worker.note(a), 5, pad)
  assert.equal(parked, 5)
  const held = worker.stats()
  assert.ok(held.queuedBytes > 5 * 64 * 1024 && held.callBytes > 5 * 64 * 1024, `queuedBytes ${held.queuedBytes}, callBytes ${held.callBytes}`)
  await leaver.close()
  await until(() => worker.instances('Caller').length === 1, 10_000, 'the worker to see the leaver go')
  opens.leaver!()
  await until(() => ran.length === 6, 5000, () => `the leaver's queued notes to run (${ran.length})`)
  await until(() => worker.stats().callBytes === 0, 5000, () => `callBytes back to 0 (${worker.stats().callBytes})`)
  const after = worker.stats()
  console.log(`while parked: queued ${held.queued}, queuedBytes ${held.queuedBytes}, callBytes ${held.callBytes}; after the channel closed and they ran: ${after.queued}, ${after.queuedBytes}, ${after.callBytes}`)
  assert.equal(after.queued, 0)
  assert.equal(after.queuedBytes, 0)
  // Nothing of the leaver's share is left: another caller may take the whole of its own.
  await other.call.Worker.note({ n: 0 })
  await until(() => ran.includes('other:0'), 5000, 'the other caller\'s first note to start')
  assert.equal(await fill((a) => other.call.Worker.note(a), 20), 5, 'the other caller holds its full share (half of 10), not less')
  opens.other!()
})

test('a caller that fills a bulkhead\'s waiting calls gets ERR_BUSY past its share; another caller still finds a place', { timeout: 60_000 }, async (t) => {
  const reg = await registry(t, { schema: farm, open: true })
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const worker = await meshNode(t, {
    schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0],
    handlers: { slot: async ({ n }: { n: number }) => { if (n === 0) await gate; return n } }
  })
  const attacker = await meshNode(t, { schema: farm, role: 'Caller', variant: 'attacker', registry: reg.addresses[0] })
  const honest = await meshNode(t, { schema: farm, role: 'Caller', variant: 'honest', registry: reg.addresses[0] })
  await until(() => attacker.instances('Worker').length === 1 && honest.instances('Worker').length === 1, 8000, 'the callers to list the worker')
  const running = attacker.call.Worker.slot({ n: 0 }, { timeout: 30_000 })
  await until(() => worker.stats().running === 1, 5000, 'the first call to take the slot')
  /** Starts calls until one is refused; the accepted ones wait for the slot. */
  const park = async (caller: typeof attacker, max: number): Promise<{ accepted: Array<Promise<unknown>>; refused: boolean }> => {
    const accepted: Array<Promise<unknown>> = []
    for (let n = 1; n <= max; n++) {
      const before = worker.stats().queued
      const call = caller.call.Worker.slot({ n }, { timeout: 30_000 })
      // Either refused at once, or counted waiting for the slot.
      const outcome = await Promise.race([call.then(() => 'done', (err: unknown) => err), until(() => worker.stats().queued === before + 1, 10_000, 'the call to wait for the slot').then(() => 'waiting')])
      if (outcome instanceof Error) { busy(outcome); return { accepted, refused: true } }
      accepted.push(call)
    }
    return { accepted, refused: false }
  }
  const a = await park(attacker, 20)
  const h = await park(honest, 10)
  const s = worker.stats()
  console.log(`attacker parked ${a.accepted.length} of 10 waiting places, the honest caller ${h.accepted.length}; queued ${s.queued}, refused past a share ${s.queueShareRefused}`)
  assert.equal(a.accepted.length, 5)
  assert.equal(h.accepted.length, 3)
  release()
  assert.equal(await running, 0)
  await Promise.all([...a.accepted, ...h.accepted])
  assert.equal(worker.stats().queued, 0)
})

test('overShare: a peer holding none always may; else only while it holds under half of the places the others leave free', () => {
  const rows: Array<[number, number, number, boolean, string]> = [
    [0, 0, 10, true, 'an empty queue'],
    [0, 9, 10, true, 'a peer holding none, the last place'],
    [4, 4, 10, true, 'alone, 4 of 10: under half'],
    [5, 5, 10, false, 'alone, 5 of 10: its half'],
    [2, 7, 10, true, 'beside 5 of another: 2 of the 5 left'],
    [3, 8, 10, false, 'beside 5 of another: 3 of the 5 left'],
    [1, 1, 1, false, 'a queue of one: its one place']
  ]
  for (const [mine, waiting, max, may, why] of rows) assert.equal(overShare(mine, waiting, max) === undefined, may, why)
})
