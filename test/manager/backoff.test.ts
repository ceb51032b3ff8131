import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import type { ConnectionManager, ConnectionManagerOptions } from '../../src/index.js'
import { DEFAULT_BACKOFF, jittered, nextDelay, restAfterClose, sunk, type BackoffPolicy, type RestCause } from '../../src/manager/backoff.js'
import { ManualClock, MemoryNetwork } from '../../src/testing/index.js'

const fixed = (x: number) => (): number => x

// ── nextDelay as a table ────────────────────────────────────────────────────

test('the default policy is the documented one', () => {
  assert.deepEqual({ ...DEFAULT_BACKOFF }, {
    provenBase: 1000,
    unprovenBase: 5000,
    factor: 2,
    provenMax: 300_000,
    unprovenMax: 1_800_000,
    jitter: 0.2,
    sinkAfter: 3,
    afterDisconnect: 10_000,
    afterTrim: 60_000,
    restJitter: 0.25,
    bootstrapQuiet: 2_000
  })
})

test('nextDelay follows base * factor^(failures - 1), scaled by 1 - jitter + 2 * jitter * random()', () => {
  // [failures, proven, random, expected]
  const table: Array<[number, boolean, number, number]> = [
    // unproven: 5 s, 10 s, 20 s, 40 s … at the centre of the jitter
    [1, false, 0.5, 5000],
    [2, false, 0.5, 10_000],
    [3, false, 0.5, 20_000],
    [4, false, 0.5, 40_000],
    [5, false, 0.5, 80_000],
    // proven: 1 s, 2 s, 4 s, 8 s …
    [1, true, 0.5, 1000],
    [2, true, 0.5, 2000],
    [3, true, 0.5, 4000],
    [4, true, 0.5, 8000],
    // random() = 0 → scale 0.8 (the bottom of the jitter)
    [1, false, 0, 4000],
    [2, false, 0, 8000],
    [1, true, 0, 800],
    [3, true, 0, 3200],
    // random() = 0.999 → scale 1.1996, rounded to the millisecond
    [1, false, 0.999, 5998],
    [2, false, 0.999, 11_996],
    [1, true, 0.999, 1200],
    [3, true, 0.999, 4798]
  ]
  for (const [failures, proven, r, expected] of table) {
    assert.equal(nextDelay(failures, proven, fixed(r)), expected, `nextDelay(${failures}, ${proven}, () => ${r})`)
  }
})

test('a proven peer is always retried sooner than an unproven one after the same number of failures', () => {
  for (const r of [0, 0.5, 0.999]) {
    for (let failures = 1; failures <= 12; failures++) {
      const proven = nextDelay(failures, true, fixed(r))
      const unproven = nextDelay(failures, false, fixed(r))
      assert.ok(proven < unproven, `failures ${failures}, random ${r}: proven ${proven} < unproven ${unproven}`)
    }
  }
})

test('the delay grows with every consecutive failure until it reaches the cap', () => {
  for (const proven of [false, true]) {
    let previous = 0
    for (let failures = 1; failures <= 9; failures++) {
      const d = nextDelay(failures, proven, fixed(0.5))
      assert.ok(d > previous, `${proven ? 'proven' : 'unproven'} failure ${failures}: ${d} > ${previous}`)
      if (failures > 1) assert.equal(d, previous * 2, 'doubles with factor 2')
      previous = d
    }
  }
})

test('the unproven delay is capped at 30 minutes and the proven one at 5 minutes (before jitter)', () => {
  // unproven: 5000 * 2^8 = 1_280_000 is still below the cap; 5000 * 2^9 = 2_560_000 is capped.
  assert.equal(nextDelay(9, false, fixed(0.5)), 1_280_000)
  assert.equal(nextDelay(10, false, fixed(0.5)), 1_800_000)
  assert.equal(nextDelay(11, false, fixed(0.5)), 1_800_000)
  // proven: 1000 * 2^8 = 256_000 is below; 1000 * 2^9 = 512_000 is capped at 300_000.
  assert.equal(nextDelay(9, true, fixed(0.5)), 256_000)
  assert.equal(nextDelay(10, true, fixed(0.5)), 300_000)
  assert.equal(nextDelay(25, true, fixed(0.5)), 300_000)
  // The jitter still spreads capped peers so that they do not retry in lockstep.
  assert.equal(nextDelay(20, false, fixed(0)), 1_440_000)
  assert.equal(nextDelay(20, false, fixed(0.999)), 2_159_280)
  assert.equal(nextDelay(20, true, fixed(0)), 240_000)
  assert.equal(nextDelay(20, true, fixed(0.999)), 359_880)
})

test('a huge failure count neither overflows nor yields NaN', () => {
  for (const failures of [1024, 10_000, Number.MAX_SAFE_INTEGER]) {
    assert.equal(nextDelay(failures, false, fixed(0.5)), 1_800_000)
    assert.equal(nextDelay(failures, true, fixed(0.5)), 300_000)
  }
})

test('nextDelay stays inside [base * (1 - jitter), base * (1 + jitter)] for any random() in [0, 1)', () => {
  for (let i = 0; i < 100; i++) {
    const r = i / 100
    const d = nextDelay(1, false, fixed(r))
    assert.ok(d >= 4000 && d <= 6000, `random ${r}: ${d}`)
    const p = nextDelay(1, true, fixed(r))
    assert.ok(p >= 800 && p <= 1200, `random ${r}: ${p}`)
  }
})

test('nextDelay honours a custom policy', () => {
  const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, provenBase: 100, unprovenBase: 300, factor: 3, provenMax: 1000, unprovenMax: 5000, jitter: 0 }
  assert.equal(nextDelay(1, false, fixed(0.9), policy), 300)
  assert.equal(nextDelay(2, false, fixed(0.9), policy), 900)
  assert.equal(nextDelay(3, false, fixed(0.9), policy), 2700)
  assert.equal(nextDelay(4, false, fixed(0.9), policy), 5000)
  assert.equal(nextDelay(1, true, fixed(0.1), policy), 100)
  assert.equal(nextDelay(3, true, fixed(0.1), policy), 900)
  assert.equal(nextDelay(4, true, fixed(0.1), policy), 1000)
})

// ── restAfterClose as a table ───────────────────────────────────────────────

test('restAfterClose: trimmed, initial-sync and disconnect rest afterTrim ± 25 %, lifetime one lifetime, dropped afterDisconnect ± 25 % unless long-term or permanent, the rest none', () => {
  const plain = { longTerm: false, permanent: false }
  const longTerm = { longTerm: true, permanent: false }
  const permanent = { longTerm: false, permanent: true }
  // [cause, peer, lifetime, random, expected]
  const table: Array<[RestCause, typeof plain, number | undefined, number, number | undefined]> = [
    ['trimmed', plain, undefined, 0.5, 60_000],
    ['trimmed', plain, undefined, 0, 45_000],
    ['trimmed', longTerm, undefined, 0.999, 74_970],
    ['initial-sync', permanent, undefined, 0.5, 60_000],
    ['disconnect', plain, undefined, 0.25, 52_500],
    ['lifetime', plain, 30_000, 0, 30_000],
    ['lifetime', plain, undefined, 0.5, 0],
    ['dropped', plain, undefined, 0.5, 10_000],
    ['dropped', plain, undefined, 0, 7_500],
    ['dropped', longTerm, undefined, 0.5, undefined],
    ['dropped', permanent, undefined, 0.5, undefined],
    ['banned', plain, undefined, 0.5, undefined],
    ['duplicate', plain, undefined, 0.5, undefined],
    ['stopped', plain, undefined, 0.5, undefined],
    ['denied', plain, undefined, 0.5, undefined],
    ['over-limit', plain, undefined, 0.5, undefined],
    ['abandoned', plain, undefined, 0.5, undefined],
    ['protocol', plain, undefined, 0.5, undefined],
    ['timeout', plain, undefined, 0.5, undefined]
  ]
  for (const [cause, peer, lifetime, r, expected] of table) {
    let draws = 0
    const random = (): number => { draws++; return r }
    assert.equal(restAfterClose(cause, peer, lifetime, random), expected, `${cause} ${JSON.stringify(peer)} lifetime ${lifetime} random ${r}`)
    // A rest without jitter draws no random number (the sequence of draws is part of replayable runs).
    const jitteredRest = expected !== undefined && cause !== 'lifetime'
    assert.equal(draws, jitteredRest ? 1 : 0, `${cause}: random() drawn only for a jittered rest`)
  }
})

test('jittered is the one jitter formula: nextDelay is jittered(raw, jitter) and the rests jittered(rest, restJitter)', () => {
  for (const r of [0, 0.1, 0.5, 0.75, 0.999]) {
    assert.equal(nextDelay(3, false, fixed(r)), jittered(20_000, DEFAULT_BACKOFF.jitter, fixed(r)))
    assert.equal(restAfterClose('trimmed', { longTerm: false, permanent: false }, undefined, fixed(r)), Math.round(60_000 * (0.75 + 0.5 * r)), 'the formula the manager used before: ±25 %')
  }
})

test('a peer sinks after sinkAfter consecutive failures, not before', () => {
  assert.equal(sunk(0), false)
  assert.equal(sunk(1), false)
  assert.equal(sunk(2), false)
  assert.equal(sunk(3), true)
  assert.equal(sunk(50), true)
  const policy = { ...DEFAULT_BACKOFF, sinkAfter: 5 }
  assert.equal(sunk(4, policy), false)
  assert.equal(sunk(5, policy), true)
})

// ── backoff through the manager ─────────────────────────────────────────────

function networked (extra: Partial<ConnectionManagerOptions> = {}): { m: ConnectionManager; clock: ManualClock; net: MemoryNetwork; started: string[] } {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, random: () => 0.5, ...extra })
  me.bind(m)
  const started: string[] = []
  m.events.addEventListener('dial:started', (e) => { started.push(e.detail.address) })
  return { m, clock, net, started }
}

const count = (list: string[], address: string): number => list.filter((a) => a === address).length

test('a refusing peer that never connected is retried after exactly 5000, then 10000, then 20000 ms', async () => {
  const { m, clock, net, started } = networked()
  const r = net.addNode('r')
  r.behaviour = 'refuse'
  let delivered = 0
  net.onDial('mem://r', () => { delivered++ })
  m.addPeers([{ id: 'r', address: 'mem://r' }])
  m.start()
  await clock.advance(0)
  assert.equal(count(started, 'mem://r'), 1)
  assert.equal(delivered, 1)
  assert.equal(m.getPeer('r')?.failures, 1)
  assert.equal(m.getPeer('r')?.nextDialAt, 5000)

  await clock.advance(4999)
  assert.equal(count(started, 'mem://r'), 1, 'not before 5000 ms')
  await clock.advance(1)
  assert.equal(count(started, 'mem://r'), 2, 'at 5000 ms')
  assert.equal(m.getPeer('r')?.failures, 2)
  assert.equal(m.getPeer('r')?.nextDialAt, 15_000)

  await clock.advance(9999)
  assert.equal(count(started, 'mem://r'), 2, 'not before another 10000 ms')
  await clock.advance(1)
  assert.equal(count(started, 'mem://r'), 3, 'at 15000 ms')
  assert.equal(m.getPeer('r')?.nextDialAt, 35_000)

  await clock.advance(19_999)
  assert.equal(count(started, 'mem://r'), 3, 'not before another 20000 ms')
  await clock.advance(1)
  assert.equal(count(started, 'mem://r'), 4, 'at 35000 ms')
  assert.equal(delivered, 4)
  assert.equal(m.getPeer('r')?.failures, 4)
  await m.close()
})

test('the jitter comes from the injected random: random() = 0 retries an unproven peer after 4000 ms', async () => {
  const { m, clock, net, started } = networked({ random: () => 0 })
  net.addNode('r').behaviour = 'refuse'
  m.addPeers([{ id: 'r', address: 'mem://r' }])
  m.start()
  await clock.advance(0)
  assert.equal(count(started, 'mem://r'), 1)
  await clock.advance(3999)
  assert.equal(count(started, 'mem://r'), 1)
  await clock.advance(1)
  assert.equal(count(started, 'mem://r'), 2)
  await m.close()
})

test('a peer that connected before and now refuses is retried after 1000 ms, then 2000 ms', async () => {
  const { m, clock, net, started } = networked()
  const p = net.addNode('p')
  m.addPeers([{ id: 'p', address: 'mem://p' }])
  m.start()
  await clock.advance(0)
  assert.equal(m.getPeer('p')?.connected, true)
  assert.equal(count(started, 'mem://p'), 1)

  // The peer drops us and refuses from now on.
  await clock.advance(100)
  p.behaviour = 'refuse'
  p.connections()[0].close('bye')
  await clock.advance(0)
  assert.equal(m.getPeer('p')?.connected, false)
  // It dropped us: the redial waits afterDisconnect (10000 ms with random() = 0.5).
  assert.equal(count(started, 'mem://p'), 1)
  await clock.advance(10_000)
  assert.equal(count(started, 'mem://p'), 2, 'redialled after afterDisconnect')
  assert.equal(m.getPeer('p')?.failures, 1)
  assert.equal(m.getPeer('p')?.nextDialAt, 10_100 + 1000, 'proven: 1000 ms, not 5000 ms')

  await clock.advance(999)
  assert.equal(count(started, 'mem://p'), 2)
  await clock.advance(1)
  assert.equal(count(started, 'mem://p'), 3, 'retried 1000 ms after the failure')
  await clock.advance(1999)
  assert.equal(count(started, 'mem://p'), 3)
  await clock.advance(1)
  assert.equal(count(started, 'mem://p'), 4, 'then 2000 ms later')
  await m.close()
})

test('a successful dial resets the failures and the backoff', async () => {
  const { m, clock, net, started } = networked()
  const r = net.addNode('r')
  r.behaviour = 'refuse'
  m.addPeers([{ id: 'r', address: 'mem://r' }])
  m.start()
  await clock.advance(0)
  await clock.advance(5000)
  assert.equal(m.getPeer('r')?.failures, 2)
  r.behaviour = 'accept'
  await clock.advance(10_000)
  assert.equal(count(started, 'mem://r'), 3)
  assert.equal(m.getPeer('r')?.connected, true)
  assert.equal(m.getPeer('r')?.failures, 0)
  assert.equal(m.getPeer('r')?.nextDialAt, undefined)

  // The next failure starts over from the (proven) base.
  r.behaviour = 'refuse'
  r.connections()[0].close('bye')
  await clock.advance(10_000) // afterDisconnect
  assert.equal(count(started, 'mem://r'), 4)
  assert.equal(m.getPeer('r')?.failures, 1)
  assert.equal(m.getPeer('r')?.nextDialAt, clock.now() + 1000)
  await m.close()
})
