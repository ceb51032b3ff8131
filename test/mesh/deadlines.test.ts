import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { DeadlineSweep } from '../../src/mesh/deadline-sweep.js'
import { HandlerContext } from '../../src/mesh/handler-context.js'
import { ManualClock } from '../../src/testing/index.js'

// The mesh's deadlines run on the injected clock: here, virtual time.

test('DeadlineSweep: one timer for many deadlines; each expires when the clock passes it, never before', async () => {
  const clock = new ManualClock(1_000)
  const deadlines = new Map<string, number>([['a', 1_500], ['b', 3_000], ['c', 2_000]])
  const expired: string[] = []
  const sweep = new DeadlineSweep((now) => {
    let next = Infinity
    for (const [name, at] of deadlines) {
      if (at <= now) { expired.push(`${name}@${now}`); deadlines.delete(name) } else next = Math.min(next, at)
    }
    return next
  }, clock)
  for (const at of deadlines.values()) sweep.track(at)
  assert.equal(clock.pending, 1, 'one timer, not one per call')
  await clock.advance(499)
  assert.deepEqual(expired, [])
  await clock.advance(1)
  assert.deepEqual(expired, ['a@1500'])
  await clock.advance(1_500)
  assert.deepEqual(expired, ['a@1500', 'c@2000', 'b@3000'])
  assert.equal(clock.pending, 0, 'nothing left to wait for')
  sweep.stop()
})

test("HandlerContext: ctx.signal aborts with ERR_TIMEOUT when the clock reaches the call's deadline, and dispose() leaves no timer", async () => {
  const clock = new ManualClock(10_000)
  const noCalls = (): never => { throw new Error('not used') }
  const ctx = new HandlerContext({ role: 'Api', variant: 'a' }, 10_250, noCalls, clock)
  const signal = ctx.signal
  await clock.advance(249)
  assert.equal(signal.aborted, false)
  await clock.advance(1)
  assert.equal(signal.aborted, true)
  assert.ok(signal.reason instanceof PeerwardenError)
  assert.equal((signal.reason as PeerwardenError).code, 'ERR_TIMEOUT')

  const done = new HandlerContext({ role: 'Api', variant: 'a' }, 20_000, noCalls, clock)
  void done.signal
  assert.equal(clock.pending, 1)
  done.dispose()
  assert.equal(clock.pending, 0)
})
