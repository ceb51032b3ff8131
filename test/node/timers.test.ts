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
