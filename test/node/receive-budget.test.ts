import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReceiveBudget, type PartialFrame, type ReceiveBudgetReason } from '../../src/node/receive-budget.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

/** A holder that records how the budget ended it, and its entry in `budget`. */
function holder (budget: ReceiveBudget, name: string, ended: Array<[string, ReceiveBudgetReason]>): PartialFrame {
  return budget.track({ overReceiveBudget: (reason) => { ended.push([name, reason]) } })
}

test('over the budget the stalest partial frames (no byte for longest) give way until the total fits, never the last one', () => {
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(3, 60_000, new ManualClock())
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => holder(budget, n, ended))
  a!.held(1)
  b!.held(1)
  c!.held(1)
  assert.equal(budget.over, false)
  a!.held(2) // a figure alone is no progress: a is still the stalest
  d!.held(1)
  assert.equal(budget.over, true)
  budget.enforce()
  assert.deepEqual(ended, [['a', 'over-budget']])
  assert.equal(budget.holding, 3)
  assert.equal(budget.overBudgetCloses, 1)
  // A frame that completed is no longer counted, and starts afresh (the newest) next time.
  b!.held(0)
  b!.held(1)
  c!.held(5)
  budget.enforce()
  assert.deepEqual(ended.map(([n]) => n), ['a', 'c'])
  assert.equal(budget.holding, 2)
  // Alone, a frame bigger than the budget is never ended for it.
  d!.held(0)
  b!.held(10)
  budget.enforce()
  assert.equal(ended.length, 2)
  assert.equal(budget.holding, 10)
})

test('a partial frame that keeps receiving bytes does not give way though it started first: attackers starting frames after it and stalling go first', () => {
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(4, 60_000, new ManualClock())
  const honest = holder(budget, 'honest', ended)
  honest.held(2)
  const attackers = ['a1', 'a2', 'a3'].map((n) => holder(budget, n, ended))
  for (const a of attackers) { a.held(1); honest.progressed() }
  budget.enforce()
  assert.deepEqual(ended, [['a1', 'over-budget']])
  assert.equal(budget.holding, 4)
})

test('a partial frame not whole within frameTimeout ends its holder (\'timeout\'); a completed one never does', async () => {
  const clock = new ManualClock()
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(1000, 5_000, clock)
  const slow = holder(budget, 'slow', ended)
  const quick = holder(budget, 'quick', ended)
  slow.held(10)
  quick.held(10)
  await clock.advance(4_000)
  quick.held(0)
  slow.held(40) // growing does not move the deadline
  await clock.advance(1_000)
  assert.deepEqual(ended, [['slow', 'timeout']])
  assert.equal(budget.frameTimeouts, 1)
  assert.equal(budget.holding, 0)
  // A completed frame's deadline never fires.
  await clock.advance(60_000)
  assert.equal(ended.length, 1)
})

test('a connection\'s one entry is reused for each of its frames: each frame has its own deadline from its start, and a completed frame\'s deadline never ends the next one', async () => {
  const clock = new ManualClock()
  const ended: Array<[string, ReceiveBudgetReason]> = []
  const budget = new ReceiveBudget(1000, 5_000, clock)
  const a = holder(budget, 'a', ended)
  const b = holder(budget, 'b', ended)
  a.held(10)
  await clock.advance(3_000)
  a.held(0)
  a.held(20) // the next frame of the same connection, due at 8 s
  b.held(10)
  assert.equal(budget.size, 2)
  await clock.advance(2_000) // the first frame's deadline: it completed
  assert.deepEqual(ended, [])
  assert.equal(budget.holding, 30)
  await clock.advance(3_000)
  assert.deepEqual(ended, [['a', 'timeout'], ['b', 'timeout']])
  assert.equal(budget.holding, 0)
  assert.equal(budget.size, 0)
  // An entry that ended is counted afresh only if its holder starts another frame.
  a.progressed()
  assert.equal(budget.size, 0)
})

test('one source holds at most an eighth of the budget in partial frames: its own stalest gives way, never its last one, and other sources and exempt streams are untouched', () => {
  const ended: string[] = []
  const budget = new ReceiveBudget(80, 60_000, new ManualClock())
  assert.equal(budget.maxSourceBytes, 10)
  const track = (name: string, source?: string): PartialFrame => budget.track({ overReceiveBudget: () => { ended.push(name) } }, source)
  const other = track('other', '127.0.0.3')
  const local = track('local')
  other.held(8)
  local.held(30)
  const [a1, a2, a3] = ['a1', 'a2', 'a3'].map((n) => track(n, '127.0.0.2'))
  a1!.held(4)
  a2!.held(4)
  assert.equal(budget.over, false)
  a3!.held(4) // 12 > 10: a1 (the source's stalest) gives way, though `other` is older
  assert.equal(budget.over, true)
  budget.enforce()
  assert.deepEqual(ended, ['a1'])
  assert.equal(budget.sourceBudgetCloses, 1)
  assert.equal(budget.overBudgetCloses, 1)
  // A frame alone over the share is never ended for it.
  a2!.held(0)
  a3!.held(0)
  a3!.held(16)
  budget.enforce()
  assert.deepEqual(ended, ['a1'])
  assert.equal(budget.sourceCount, 2)
})

test('a source over its share gives way in O(1): 1,000 give-ways beside 10,000 other sources\' stalled frames visit one frame each (a walk of the give-way order visited 10 million)', () => {
  const ended: Array<[string, ReceiveBudgetReason]> = []
  // A share of 10,000 bytes per source (an eighth of 80,000).
  const budget = new ReceiveBudget(80_000, 60_000, new ManualClock())
  // 10,000 other sources each stall a 1-byte frame: all of them staler than anything the attacker sends.
  for (let i = 0; i < 10_000; i++) budget.track({ overReceiveBudget: (reason) => { ended.push([`o${i}`, reason]) } }, `10.0.${i >> 8}.${i & 255}`).held(1)
  const frames = Array.from({ length: 1_000 }, (_, i) => budget.track({ overReceiveBudget: (reason) => { ended.push([`s${i}`, reason]) } }, '127.0.0.2'))
  for (const f of frames) {
    f.held(5_000)
    if (budget.over) budget.enforce()
  }
  // Two frames of 5,000 fit the share; each later one makes the source's stalest give way.
  assert.equal(budget.sourceBudgetCloses, 998)
  assert.ok(ended.every(([n]) => n.startsWith('s')), 'only the attacker\'s own frames gave way')
  assert.deepEqual(ended.slice(0, 2).map(([n]) => n), ['s0', 's1'], 'its stalest first')
  assert.equal(budget.visited, 998, 'one frame looked at per give-way')
})

test('a source\'s give-way order follows its frames\' progress: the one that went longest without a byte goes first', () => {
  const ended: string[] = []
  const budget = new ReceiveBudget(80, 60_000, new ManualClock())
  const [a, b, c] = ['a', 'b', 'c'].map((n) => budget.track({ overReceiveBudget: () => { ended.push(n) } }, 'src'))
  a!.held(4)
  b!.held(4)
  a!.progressed() // b is now the source's stalest
  c!.held(4)
  budget.enforce()
  assert.deepEqual(ended, ['b'])
})
