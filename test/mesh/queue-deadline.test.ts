import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HandlerDeadline, type DeadlineFigures, type RunOutcome } from '../../src/mesh/queue-deadline.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

const tick = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

test('a consumer holding maxOverdue runs past their deadline starts no new one until one ends; the waiting run\'s deadline starts when it does', async () => {
  const clock = new ManualClock(1000)
  const figures: DeadlineFigures = { handlerTimeouts: 0, overdueHandlers: 0, stalledConsumers: 0 }
  const stalls: number[] = []
  const d = new HandlerDeadline(clock, 100, figures, new AbortController().signal, 2, (late) => { stalls.push(late) })
  const ends: Array<() => void> = []
  const started: Array<{ id: string; deadline: number }> = []
  const hang = (id: string) => async (_signal: AbortSignal, deadline: number): Promise<void> => {
    started.push({ id, deadline })
    await new Promise<void>((resolve) => { ends.push(resolve) })
  }
  for (const id of ['a', 'b']) {
    const run = d.run(id, hang(id))
    await clock.advance(100)
    assert.equal(((await run) as RunOutcome & { timedOut: boolean }).timedOut, true)
    d.forget(id) // dead-lettered
  }
  assert.equal(figures.overdueHandlers, 2)
  const third = d.run('c', hang('c'))
  await tick()
  assert.deepEqual(started.map((s) => s.id), ['a', 'b'], 'c waits')
  assert.equal(figures.stalledConsumers, 1)
  assert.deepEqual(stalls, [2])
  await clock.advance(500)
  ends[0]!() // a ends at last
  await tick()
  await tick()
  assert.deepEqual(started.map((s) => s.id), ['a', 'b', 'c'])
  assert.equal(started[2]!.deadline, clock.now() + 100, 'c\'s deadline counts from its start')
  assert.equal(figures.stalledConsumers, 0)
  ends[2]!()
  assert.deepEqual(await third, { ok: true })
})

test('a consumer waiting for room stops waiting when the queue closes: its message stays pending', async () => {
  const clock = new ManualClock(0)
  const figures: DeadlineFigures = { handlerTimeouts: 0, overdueHandlers: 0, stalledConsumers: 0 }
  const closing = new AbortController()
  const d = new HandlerDeadline(clock, 10, figures, closing.signal, 1)
  const first = d.run('a', async () => { await new Promise(() => {}) })
  await clock.advance(10)
  await first
  d.forget('a')
  let ran = false
  const second = d.run('b', async () => { ran = true })
  await tick()
  closing.abort()
  const outcome = await second
  assert.equal(ran, false)
  assert.equal(outcome.ok, false)
  assert.equal(figures.stalledConsumers, 0)
})
