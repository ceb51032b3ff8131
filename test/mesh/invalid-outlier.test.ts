import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidOutliers, OUTLIER_EVIDENCE, OUTLIER_TRACKED } from '../../src/mesh/invalid-outlier.js'
import type { Command } from '../../src/mesh/schema.js'

const work = { name: 'work' } as unknown as Command
const other = { name: 'other' } as unknown as Command

/** Plays `steps` (peer:outcome) on a table; the failures each step counts. */
function play (steps: string[], command: Command = work, t = new InvalidOutliers()): number[] {
  return steps.map((s) => {
    const [peer, outcome] = s.split(':') as [string, 'ok' | 'invalid' | 'other']
    return t.record(command, peer, outcome)
  })
}

/** A seeded generator in [0, 1) (the same mixes on every run). */
function seeded (seed: number): () => number {
  return () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
}

/**
 * Round-robin calls over `workers`, invalid with probability `share` (every worker refuses those);
 * `liar` also refuses every `every`-th call it serves. Returns the table and the call at which the
 * liar was first found (-1: never).
 */
function mix (workers: number, share: number, calls: number, seed: number, every = 0): { t: InvalidOutliers; foundAt: number } {
  const t = new InvalidOutliers()
  const random = seeded(seed)
  let liarCalls = 0
  let foundAt = -1
  for (let i = 0; i < calls; i++) {
    const w = i % workers
    const lies = every > 0 && w === 0 && ++liarCalls % every === 0
    const failures = t.record(work, `w${w}`, random() < share || lies ? 'invalid' : 'ok')
    if (failures > 0 && foundAt < 0) foundAt = i
  }
  return { t, foundAt }
}

test('an instance refusing as invalid every call the others serve is an outlier at its 6th refusal: 5 count at once, then 1 a refusal', () => {
  const steps: string[] = []
  for (let i = 0; i < 8; i++) steps.push('A:ok', 'B:ok', 'L:invalid')
  const t = new InvalidOutliers()
  assert.deepEqual(play(steps, work, t), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1, 0, 0, 1])
  assert.equal(t.found, 1)
})

test('an instance refusing every third call while the others serve them all is an outlier (its own successes in between do not clear it)', () => {
  const steps: string[] = []
  for (let i = 0; i < 20; i++) steps.push('A:ok', 'B:ok', i % 3 === 2 ? 'L:invalid' : 'L:ok')
  const t = new InvalidOutliers()
  const counted = play(steps, work, t)
  assert.equal(t.found, 1)
  // Found at its 6th refusal (5 of them beyond the others' share), then 1 a refusal.
  assert.deepEqual(counted.filter((n) => n > 0), [5])
  assert.equal(counted.indexOf(5), 3 * 17 + 2)
})

test('the same partial liar is found among honest workers refusing a share of invalid calls of their own', () => {
  assert.ok(mix(3, 0, 600, 1, 3).foundAt >= 0)
  assert.ok(mix(3, 0.05, 600, 2, 3).foundAt >= 0)
  assert.ok(mix(3, 0.2, 1200, 3, 3).foundAt >= 0)
  assert.ok(mix(5, 0.05, 1200, 4, 2).foundAt >= 0)
})

test('honest workers refusing the same share of invalid calls at random are not outliers (20 000 calls at each share)', () => {
  for (const workers of [2, 3, 5]) {
    for (const share of [0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 1]) {
      const { t } = mix(workers, share, 20_000, 11 * workers + Math.round(share * 100))
      assert.equal(t.found, 0, `${workers} workers, share ${share}`)
    }
  }
})

test('runs of invalid calls, longer than the evidence, falling on every instance in turn are no evidence', () => {
  const steps: string[] = []
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 10; i++) steps.push(`${['A', 'B', 'C'][(round * 10 + i) % 3]}:${i < 7 ? 'invalid' : 'ok'}`)
  }
  const t = new InvalidOutliers()
  assert.deepEqual(play(steps, work, t), steps.map(() => 0))
  assert.equal(t.found, 0)
})

test('a role with a single instance is never judged: nobody else serves its calls', () => {
  const t = new InvalidOutliers()
  assert.deepEqual(play(Array.from({ length: 100 }, (_, i) => i % 2 === 0 ? 'L:invalid' : 'L:ok'), work, t), Array(100).fill(0))
  assert.equal(t.found, 0)
})

test('too few calls served by the others is no evidence: the outlier is found once they served enough', () => {
  const t = new InvalidOutliers()
  const steps = ['L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'L:invalid', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'A:ok', 'L:invalid']
  assert.equal(OUTLIER_EVIDENCE, 5)
  // With 5 served the others' share (one refusal and one success added: 1/7) still explains too much.
  assert.deepEqual(play(steps, work, t), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7])
  assert.equal(t.found, 1)
})

test('failures of other kinds and other commands leave the evidence alone', () => {
  const t = new InvalidOutliers()
  assert.deepEqual(play(['L:invalid', 'L:other', 'A:other', 'A:ok'], work, t), [0, 0, 0, 0])
  const served = Array(10).fill('A:ok') as string[]
  assert.deepEqual(play([...served, 'L:invalid', 'L:other', 'A:other', 'L:invalid', 'L:invalid', 'L:invalid', 'L:invalid', 'L:invalid'], other, t), [...served.map(() => 0), 0, 0, 0, 0, 0, 0, 0, 5])
  assert.equal(t.found, 1)
})

test('at most OUTLIER_TRACKED instances are tracked per command: the one heard from longest ago goes first, with its figures', () => {
  const t = new InvalidOutliers()
  for (let i = 0; i < OUTLIER_TRACKED + 50; i++) t.record(work, `p${i}`, 'ok')
  assert.equal(t.tracked, OUTLIER_TRACKED)
  // The liar's evidence survives peers coming and going, as long as it is heard from.
  for (let i = 0; i < 6; i++) t.record(work, 'L', 'invalid')
  assert.equal(t.found, 1)
  t.record(other, 'L', 'ok')
  assert.equal(t.tracked, OUTLIER_TRACKED + 1)
})
