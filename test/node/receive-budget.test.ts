import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReceiveBudget, type PartialFrameHolder, type ReceiveBudgetReason } from '../../src/node/receive-budget.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

/** A holder that records how the budget ended it. */
function holder (name: string, ended: Array<[string, ReceiveBudgetReason]>): PartialFrameHolder {
  return { overReceiveBudget: (reason) => { ended.push([name, reason]) } }
}

test('over the budget the stalest partial frames (no byte for longest) give way until the total fits, never the last one', () => {
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(3, 60_000, new ManualClock())
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => holder(n, ended))
  budget.held(a!, 1)
  budget.held(b!, 1)
  budget.held(c!, 1)
  assert.equal(budget.over, false)
  budget.held(a!, 2) // a figure alone is no progress: a is still the stalest
  budget.held(d!, 1)
  assert.equal(budget.over, true)
  budget.enforce()
  assert.deepEqual(ended, [['a', 'over-budget']])
  assert.equal(budget.holding, 3)
  assert.equal(budget.overBudgetCloses, 1)
  // A frame that completed is no longer counted, and starts afresh (the newest) next time.
  budget.held(b!, 0)
  budget.held(b!, 1)
  budget.held(c!, 5)
  budget.enforce()
  assert.deepEqual(ended.map(([n]) => n), ['a', 'c'])
  assert.equal(budget.holding, 2)
  // Alone, a frame bigger than the budget is never ended for it.
  budget.held(d!, 0)
  budget.held(b!, 10)
  budget.enforce()
  assert.equal(ended.length, 2)
  assert.equal(budget.holding, 10)
})

test('a partial frame that keeps receiving bytes does not give way though it started first: attackers starting frames after it and stalling go first', () => {
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(4, 60_000, new ManualClock())
  const honest = holder('honest', ended)
  budget.held(honest, 2)
  const attackers = ['a1', 'a2', 'a3'].map((n) => holder(n, ended))
  for (const a of attackers) { budget.held(a, 1); budget.progressed(honest) }
  budget.enforce()
  assert.deepEqual(ended, [['a1', 'over-budget']])
  assert.equal(budget.holding, 4)
})

test('a partial frame not whole within frameTimeout ends its holder (\'timeout\'); a completed one never does', async () => {
  const clock = new ManualClock()
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(1000, 5_000, clock)
  const slow = holder('slow', ended)
  const quick = holder('quick', ended)
  budget.held(slow, 10)
  budget.held(quick, 10)
  await clock.advance(4_000)
  budget.held(quick, 0)
  budget.held(slow, 40) // growing does not move the deadline
  await clock.advance(1_000)
  assert.deepEqual(ended, [['slow', 'timeout']])
  assert.equal(budget.frameTimeouts, 1)
  assert.equal(budget.holding, 0)
  // A completed frame's deadline never fires.
  await clock.advance(60_000)
  assert.equal(ended.length, 1)
})
