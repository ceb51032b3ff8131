import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { defaultKeepAlive, keepAliveTiming, Liveness, type Live } from '../../src/node/liveness.js'
import { ManualClock } from '../../src/testing/index.js'

// Both sides of one connection, each with the Liveness of its side, on a virtual link: what one side
// writes the other reads at once (unless it froze), and a keep-alive read is told to the reader's
// Liveness as the transport does (secure-stream.ts `keepAliveListener`).

/** One end of the virtual link. */
class End implements Live {
  lastRead: number
  lastWrite: number
  remote!: End
  /** Keep-alives written: answers (sent while a keep-alive was being read) and the timer's own. */
  answers = 0
  own = 0
  /** Data messages written. */
  data = 0
  error: Error | undefined
  /** A frozen process: it reads nothing and writes nothing (its socket stays open). */
  frozen = false
  private answering = false

  constructor (private readonly clock: ManualClock, readonly liveness: Liveness) {
    this.lastRead = this.lastWrite = clock.now()
  }

  keepAlive (): void {
    if (this.frozen) return
    if (this.answering) this.answers++
    else this.own++
    this.write(true)
  }

  /** An application message (not a keep-alive). */
  send (): void {
    if (this.frozen) return
    this.data++
    this.write(false)
  }

  destroy (err?: Error): void { this.error = err }

  private write (keepAlive: boolean): void {
    this.lastWrite = this.clock.now()
    this.remote.read(keepAlive)
  }

  private read (keepAlive: boolean): void {
    if (this.frozen) return
    this.lastRead = this.clock.now()
    if (!keepAlive) return
    this.answering = true
    try { this.liveness.heard(this) } finally { this.answering = false }
  }
}

/** A connection between a dialer and a listener with the node's timing for `deadTimeout`. */
function connection (clock: ManualClock, deadTimeout = 20_000, keepAlive = defaultKeepAlive(deadTimeout)): { dialer: End; listener: End } {
  const timing = keepAliveTiming(keepAlive, deadTimeout)
  const dialer = new End(clock, new Liveness(timing.outbound, undefined, clock))
  const listener = new End(clock, new Liveness(timing.inbound, undefined, clock))
  dialer.remote = listener
  listener.remote = dialer
  dialer.liveness.add(dialer)
  listener.liveness.add(listener)
  return { dialer, listener }
}

const isTimeout = (err: unknown): boolean => err instanceof PeerwardenError && err.code === 'ERR_TIMEOUT'

test('the default keep-alive is 45 % of deadTimeout: 9 s of the default 20 s', () => {
  assert.equal(defaultKeepAlive(20_000), 9_000)
  assert.equal(defaultKeepAlive(60_000), 27_000)
  const t = keepAliveTiming(9_000, 20_000)
  assert.deepEqual(t.inbound, { keepAlive: 9_000, deadTimeout: 20_000 })
  assert.deepEqual(t.outbound, { keepAlive: 14_500, deadTimeout: 20_000, answerAfter: 4_500 })
})

test('an idle connection: the listener sends a keep-alive every keepAlive, the dialer only answers them (one write per keep-alive, none of its own), and neither side times out', async () => {
  const clock = new ManualClock(0)
  const { dialer, listener } = connection(clock)
  await clock.advance(600_000)
  assert.equal(dialer.error, undefined)
  assert.equal(listener.error, undefined)
  // 600 s / 9 s: 66 keep-alives from the listener, each answered.
  assert.ok(listener.own >= 60 && listener.own <= 67, `listener keep-alives: ${listener.own}`)
  assert.equal(dialer.own, 0, 'the dialer never needs its own timer')
  assert.equal(dialer.answers, listener.own, 'every keep-alive is answered')
  assert.equal(listener.answers, 0, 'the listener answers nothing (no ping-pong loop)')
})

test('the listener\'s keep-alives leave together: those of connections made within one tick go out in the same tick, every time', async () => {
  const clock = new ManualClock(0)
  const timing = keepAliveTiming(defaultKeepAlive(20_000), 20_000)
  const inbound = new Liveness(timing.inbound, undefined, clock)
  const pairs = []
  for (let i = 0; i < 20; i++) {
    await clock.advance(37) // 20 connections from 37 to 740 ms: within one 1 s tick
    const dialer = new End(clock, new Liveness(timing.outbound, undefined, clock))
    const listener = new End(clock, inbound)
    dialer.remote = listener
    listener.remote = dialer
    dialer.liveness.add(dialer)
    inbound.add(listener)
    pairs.push({ dialer, listener })
  }
  const sentAt = new Set<number>()
  for (const { listener } of pairs) {
    const send = listener.keepAlive.bind(listener)
    listener.keepAlive = () => { sentAt.add(clock.now()); send() }
  }
  await clock.advance(90_000)
  assert.ok(pairs.every(({ listener, dialer }) => listener.own === 9 && dialer.error === undefined), 'every connection kept alive')
  assert.equal(sentAt.size, 9, `9 rounds of keep-alives in 90 s, each from one tick: ${[...sentAt].join(', ')}`)
})

/**
 * Freezes `side` once the connection has run 30.5 s, and returns how long after the other side last
 * heard from it that other side closed the connection (asserted to be a timeout).
 */
async function frozenNoticedAfter (side: 'dialer' | 'listener'): Promise<number> {
  const clock = new ManualClock(0)
  const ends = connection(clock)
  const watcher = side === 'dialer' ? ends.listener : ends.dialer
  await clock.advance(30_500)
  ends[side].frozen = true
  const heardLast = watcher.lastRead
  while (watcher.error === undefined && clock.now() < 120_000) await clock.advance(100)
  assert.ok(isTimeout(watcher.error), `the ${side === 'dialer' ? 'listener' : 'dialer'} closed it`)
  return clock.now() - heardLast
}

test('a dialer that freezes (its socket open, it answers nothing) is noticed by the listener within deadTimeout plus one tick of its last answer', async () => {
  const after = await frozenNoticedAfter('dialer')
  assert.ok(after >= 20_000 && after <= 21_100, `noticed ${after} ms after the last answer`)
})

test('a listener that freezes (its socket open, it sends nothing) is noticed by the dialer within deadTimeout plus one tick of its last keep-alive', async () => {
  const after = await frozenNoticedAfter('listener')
  assert.ok(after >= 20_000 && after <= 21_100, `noticed ${after} ms after the last keep-alive`)
})

test('traffic one way only: the side that only reads still hears from the other within deadTimeout, both ways round', async () => {
  for (const streamer of ['dialer', 'listener'] as const) {
    const clock = new ManualClock(0)
    const ends = connection(clock)
    const from = ends[streamer]
    const to = streamer === 'dialer' ? ends.listener : ends.dialer
    for (let t = 0; t < 300_000; t += 200) {
      from.send()
      await clock.advance(200)
    }
    assert.equal(from.error, undefined, `${streamer} streams, and hears the other side`)
    assert.equal(to.error, undefined, `${streamer} streams, the other side hears it`)
    assert.equal(from.own + from.answers, 0, 'a side that writes sends no keep-alive')
    assert.ok(to.own + to.answers > 0, 'the silent side sent keep-alives')
  }
})

test('with deadTimeout 60 s an idle connection costs the listener one write per 27 s, and a frozen dialer is still noticed within deadTimeout plus one tick', async () => {
  const clock = new ManualClock(0)
  const { dialer, listener } = connection(clock, 60_000)
  await clock.advance(540_000)
  assert.ok(listener.own >= 19 && listener.own <= 20, `keep-alives in 540 s: ${listener.own}`)
  assert.equal(dialer.answers, listener.own)
  dialer.frozen = true
  const heardLast = listener.lastRead
  while (listener.error === undefined && clock.now() < 720_000) await clock.advance(100)
  assert.ok(isTimeout(listener.error))
  assert.ok(clock.now() - heardLast <= 61_100, `noticed ${clock.now() - heardLast} ms after the last keep-alive`)
})

test('an older listener that sends a keep-alive every 10 s and expects no answers: the dialer answers each, and both stay up', async () => {
  const clock = new ManualClock(0)
  const timing = keepAliveTiming(defaultKeepAlive(20_000), 20_000)
  const dialer = new End(clock, new Liveness(timing.outbound, undefined, clock))
  const listener = new End(clock, new Liveness(10_000, 20_000, clock))
  dialer.remote = listener
  listener.remote = dialer
  dialer.liveness.add(dialer)
  listener.liveness.add(listener)
  await clock.advance(120_000)
  assert.equal(dialer.error, undefined)
  assert.equal(listener.error, undefined)
  assert.ok(dialer.answers >= 11 && dialer.answers <= listener.own, `answers ${dialer.answers}, keep-alives ${listener.own}`)
})
