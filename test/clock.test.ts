import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Alarm } from '../src/clock.js'
import { ManualClock } from '../src/testing/index.js'

// The one shared-timer primitive, on virtual time.

function alarm (clock: ManualClock, onFire?: (now: number, a: Alarm) => void): { a: Alarm; fired: number[] } {
  const fired: number[] = []
  const a: Alarm = new Alarm(clock, (now) => { fired.push(now); onFire?.(now, a) })
  return { a, fired }
}

test('Alarm: the earliest wake-up wins; a later one costs nothing and never moves it', async () => {
  const clock = new ManualClock(0)
  const { a, fired } = alarm(clock)
  a.wakeAt(500)
  a.wakeAt(800)
  assert.equal(a.at, 500)
  a.wakeAt(200)
  assert.equal(a.at, 200)
  assert.equal(clock.pending, 1, 'one timer, whatever the number of wake-ups')
  await clock.advance(199)
  assert.deepEqual(fired, [])
  await clock.advance(1)
  assert.deepEqual(fired, [200], 'fires once, at the earliest time asked for')
  await clock.advance(1000)
  assert.deepEqual(fired, [200], 'the later wake-ups were folded into the earlier one')
  assert.equal(a.armed, false)
  assert.equal(a.at, Infinity)
  assert.equal(clock.pending, 0)
})

test('Alarm: it is disarmed before fire runs, so fire may arm it again; cancel() disarms', async () => {
  const clock = new ManualClock(0)
  const { a, fired } = alarm(clock, (now, self) => { assert.equal(self.armed, false); if (now < 300) self.wakeIn(100) })
  a.wakeIn(100)
  await clock.advance(1000)
  assert.deepEqual(fired, [100, 200, 300])
  a.wakeAt(1500)
  a.cancel()
  await clock.advance(1000)
  assert.deepEqual(fired, [100, 200, 300])
  assert.equal(clock.pending, 0)
})

test('Alarm: Infinity never arms, a past time fires at once, a NaN time fires at once', async () => {
  const clock = new ManualClock(1000)
  const { a, fired } = alarm(clock)
  a.wakeAt(Infinity)
  assert.equal(a.armed, false)
  a.wakeAt(10)
  await clock.advance(0)
  assert.deepEqual(fired, [1000])
  a.wakeAt(NaN)
  assert.equal(a.armed, true)
  await clock.advance(0)
  assert.deepEqual(fired, [1000, 1000])
})

test('Alarm: a wake-up beyond the longest timer delay is reached in steps and fires only at its time', async () => {
  const clock = new ManualClock(0)
  const { a, fired } = alarm(clock)
  const far = 3 * 2 ** 31
  a.wakeAt(far)
  await clock.advance(2 ** 31)
  assert.deepEqual(fired, [], 'the first step fired the timer, not the alarm')
  assert.equal(a.armed, true)
  assert.equal(a.at, far)
  await clock.advance(far - 2 ** 31)
  assert.deepEqual(fired, [far])
  assert.equal(clock.pending, 0)
})
