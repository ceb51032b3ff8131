import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidOutliers, OUTLIER_STREAK } from '../../src/mesh/invalid-outlier.js'
import type { Command } from '../../src/mesh/schema.js'

const work = { name: 'work' } as unknown as Command
const other = { name: 'other' } as unknown as Command

/** Plays `steps` (peer:outcome) on a fresh table; the failures each step counts. */
function play (steps: string[], command: Command = work, t = new InvalidOutliers()): number[] {
  return steps.map((s) => {
    const [peer, outcome] = s.split(':') as [string, 'ok' | 'invalid' | 'other']
    return t.record(command, peer, outcome)
  })
}

test('an instance refusing as invalid 5 calls in a row while the others serve 5 is an outlier: its streak counts at once, then each refusal', () => {
  const steps = ['L:invalid', 'A:ok', 'B:ok', 'L:invalid', 'A:ok', 'B:ok', 'L:invalid', 'A:ok', 'L:invalid', 'B:ok', 'L:invalid', 'L:invalid']
  assert.deepEqual(play(steps), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, OUTLIER_STREAK, 1])
})

test('another instance refusing a call as invalid voids the evidence: the calls may just be invalid', () => {
  const steps = ['L:invalid', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'L:invalid', 'L:invalid', 'B:invalid', 'L:invalid', 'L:invalid', 'L:invalid']
  assert.deepEqual(play(steps), steps.map(() => 0))
})

test('the suspect serving a call clears it; failures of other kinds and other commands leave the evidence alone', () => {
  const t = new InvalidOutliers()
  assert.deepEqual(play(['L:invalid', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'L:invalid', 'L:invalid', 'L:invalid', 'L:ok', 'L:invalid'], work, t), Array(11).fill(0))
  assert.deepEqual(play(['L:invalid', 'L:other', 'A:other'], work, t), [0, 0, 0])
  assert.deepEqual(play(['L:invalid', 'A:ok'], other, t), [0, 0])
  assert.equal(t.found, 0)
})

test('too few calls served by the others is no evidence: the outlier is found once they served as many', () => {
  const t = new InvalidOutliers()
  assert.deepEqual(play(['L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'L:invalid'], work, t), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7])
  assert.equal(t.found, 1)
})
