import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { DeadlineQueue } from '../../src/node/deadlines.js'
import { Liveness, type Live } from '../../src/node/liveness.js'
import { ManualClock } from '../../src/testing/index.js'

// The node's shared timers run on the injected clock: here, virtual time.

test('DeadlineQueue: entries expire at their deadline, in order, never before; a deleted one never; the timer goes when empty', async () => {
  const clock = new ManualClock(0)
  const q = new DeadlineQueue(1000, clock)
  const expired: string[] = []
  const entry = (name: string): { expire: () => void } => ({ expire: () => { expired.push(`${name}@${clock.now()}`) } })
  const a = entry('a')
  const b = entry('b')
  const c = entry('c')
  q.add(a)
  await clock.advance(300)
  q.add(b)
  q.add(c)
  q.delete(c)
  await clock.advance(699)
  assert.deepEqual(expired, [], 'nothing before its deadline')
  await clock.advance(1)
  assert.deepEqual(expired, ['a@1000'])
  await clock.advance(300)
  assert.deepEqual(expired, ['a@1000', 'b@1300'], 'c was deleted')
  assert.equal(q.size, 0)
  assert.equal(clock.pending, 0, 'no timer left armed')
})

test('DeadlineQueue: re-adding an entry moves its deadline; clear() drops everything without expiring it', async () => {
  const clock = new ManualClock(0)
  const q = new DeadlineQueue(100, clock)
  let n = 0
  const e = { expire: () => { n++ } }
  q.add(e)
  await clock.advance(90)
  q.add(e)
  await clock.advance(90)
  assert.equal(n, 0, 'the second add pushed the deadline to 190')
  await clock.advance(10)
  assert.equal(n, 1)
  q.add(e)
  q.clear()
  await clock.advance(1000)
  assert.equal(n, 1)
  assert.equal(clock.pending, 0)
})

function live (clock: ManualClock): Live & { keepAlives: number; error?: Error } {
  const x = {
    lastRead: clock.now(),
    lastWrite: clock.now(),
    keepAlives: 0,
    error: undefined as Error | undefined,
    keepAlive () { x.keepAlives++; x.lastWrite = clock.now() },
    destroy (err?: Error) { x.error = err }
  }
  return x
}

test('Liveness: an idle connection sends keep-alives every keepAlive ms; one that hears nothing for deadTimeout is destroyed with ERR_TIMEOUT', async () => {
  const clock = new ManualClock(0)
  const l = new Liveness(5_000, 20_000, clock)
  const quiet = live(clock)
  const chatty = live(clock)
  l.add(quiet)
  l.add(chatty)
  for (let t = 0; t < 19_000; t += 1000) {
    await clock.advance(1000)
    chatty.lastRead = clock.now() // the remote's keep-alives arrive
  }
  assert.ok(quiet.keepAlives >= 3 && quiet.keepAlives <= 4, `keep-alives every 5 s: ${quiet.keepAlives}`)
  assert.equal(quiet.error, undefined, 'not dead before deadTimeout')
  await clock.advance(2_000) // 21 s: past deadTimeout plus one sweep (1 s)
  const err = quiet.error as Error | undefined
  assert.ok(err instanceof PeerwardenError)
  assert.equal(err.code, 'ERR_TIMEOUT')
  assert.equal(chatty.error, undefined, 'a connection that hears its peer lives on')
  l.delete(chatty)
  assert.equal(clock.pending, 0, 'no sweep while there is nothing to watch')
})

/** A `live` whose deadlines the sweep reads are counted: how often it was looked at. */
function counted (clock: ManualClock): ReturnType<typeof live> & { looks: number } {
  const x = live(clock)
  let lastRead = x.lastRead
  const c = Object.assign(x, { looks: 0 })
  Object.defineProperty(c, 'lastRead', {
    get: () => { c.looks++; return lastRead },
    set: (v: number) => { lastRead = v }
  })
  return c
}

test('Liveness: an idle connection is looked at once per keep-alive, not once per tick (a timing wheel, not a scan of every connection)', async () => {
  const clock = new ManualClock(0)
  const l = new Liveness(5_000, 20_000, clock) // ticks every 1 s
  const xs = Array.from({ length: 100 }, () => counted(clock))
  for (const x of xs) l.add(x)
  for (let t = 0; t < 60_000; t += 1000) {
    await clock.advance(1000)
    for (const x of xs) x.lastRead = clock.now() // the remote's keep-alives arrive
  }
  for (const x of xs) {
    assert.ok(x.keepAlives >= 11 && x.keepAlives <= 12, `keep-alives every 5 s over 60 s: ${x.keepAlives}`)
    // A scan reads lastRead at each of the 60 ticks; the wheel twice per look (the check, the
    // filing under the next deadline), one look per keep-alive.
    assert.ok(x.looks <= 2 * 13, `lastRead read ${x.looks} times in 60 ticks`)
    assert.equal(x.error, undefined)
  }
})

test('Liveness: a side with one idle connection wakes about once per keep-alive, not once per period (a node that dialled one peer)', async () => {
  const clock = new ManualClock(0)
  let wakes = 0
  const counting = { now: () => clock.now(), setTimeout: (fn: () => void, ms: number) => { wakes++; return clock.setTimeout(fn, ms) }, clearTimeout: (h: unknown) => { clock.clearTimeout(h) } }
  const l = new Liveness(5_000, 20_000, counting) // a period of 1 s
  const x = live(clock)
  l.add(x)
  for (let t = 0; t < 60_000; t += 1000) {
    await clock.advance(1000)
    x.lastRead = clock.now() // the remote's keep-alives arrive
  }
  assert.ok(x.keepAlives >= 11 && x.keepAlives <= 12, `keep-alives every 5 s over 60 s: ${x.keepAlives}`)
  assert.ok(wakes <= 13, `the timer was set ${wakes} times in 60 s (once per period would be 60)`)
  assert.equal(x.error, undefined)
})

test('Liveness: traffic defers the keep-alive, and a connection that goes silent among busy ones is destroyed within deadTimeout plus one tick', async () => {
  const clock = new ManualClock(0)
  const l = new Liveness(5_000, 20_000, clock)
  const busy = Array.from({ length: 50 }, () => live(clock))
  const silent = live(clock)
  for (const x of busy) l.add(x)
  l.add(silent)
  for (let t = 0; t < 40_000; t += 500) {
    await clock.advance(500)
    for (const x of busy) { x.lastRead = clock.now(); x.lastWrite = clock.now() } // traffic both ways
    if (t < 10_000) silent.lastRead = clock.now()
    if (silent.error !== undefined) break
  }
  for (const x of busy) {
    assert.equal(x.keepAlives, 0, 'a connection that writes needs no keep-alive')
    assert.equal(x.error, undefined)
  }
  // Last heard at 10 s: dead at 30 s, noticed by the tick at 31 s at the latest.
  assert.ok(silent.error instanceof PeerwardenError && silent.error.code === 'ERR_TIMEOUT')
  assert.ok(clock.now() >= 30_000 && clock.now() <= 31_000, `noticed at ${clock.now()} ms`)
  for (const x of busy) l.delete(x)
  assert.equal(l.size, 0)
  assert.equal(clock.pending, 0, 'no tick while there is nothing to watch')
})

test('Liveness: after a long gap (a suspended process, a late timer) every overdue connection is handled at the first tick, and the wheel goes on', () => {
  // A clock whose one timer fires only when the test says: as late as it likes.
  let now = 0
  let due: (() => void) | undefined
  const clock = { now: () => now, setTimeout: (fn: () => void) => { due = fn; return 1 }, clearTimeout: () => { due = undefined } }
  const fire = (): void => { const f = due; due = undefined; f?.() }
  const l = new Liveness(5_000, 20_000, clock)
  const at = (t: number): Live & { error?: Error } => {
    const x = { lastRead: t, lastWrite: t, error: undefined as Error | undefined, keepAlive () { x.lastWrite = now }, destroy (err?: Error) { x.error = err } }
    return x
  }
  const a = at(0)
  l.add(a)
  now = 3_000
  fire() // on time: nothing due yet
  const b = at(now)
  l.add(b)
  now = 3_600_000 // the next tick comes an hour late
  fire()
  assert.ok(a.error instanceof PeerwardenError && a.error.code === 'ERR_TIMEOUT', 'a is dead')
  assert.ok(b.error instanceof PeerwardenError && b.error.code === 'ERR_TIMEOUT', 'b is dead')
  let keepAlives = 0
  const c = { lastRead: now, lastWrite: now, keepAlive () { keepAlives++; c.lastWrite = now }, destroy () { assert.fail('c is alive') } }
  l.add(c)
  for (let i = 0; i < 6; i++) { now += 1_000; c.lastRead = now; fire() }
  assert.equal(keepAlives, 1, 'a connection added after the gap is served as usual')
  assert.notEqual(due, undefined, 'the wheel still ticks')
})
