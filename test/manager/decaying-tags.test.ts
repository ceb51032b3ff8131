/**
 * Decaying tags: go-libp2p's decay_test.go with its exact numbers, on virtual time. Unlike go
 * (which ticks on a 1-minute, here 50 ms, resolution), a tag decays every `interval` exactly: the
 * n-th tick is at registration + n × interval.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  PeerwardenError, bump, createConnectionManager, decay, type ConnectionManager, type ConnectionManagerOptions
} from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

function setup (opts: Partial<ConnectionManagerOptions> = {}): { clock: ManualClock; m: ConnectionManager } {
  const clock = new ManualClock()
  // go's decay tests use NewConnManager(10, 10, WithGracePeriod(time.Second)).
  const m = createConnectionManager({ dial: noDial, clock, lowWater: 10, highWater: 10, gracePeriod: 1_000, ...opts })
  return { clock, m }
}

/** The peer's tag values and their total, as getTagInfo reports them. */
function tagsOf (m: ConnectionManager, peer: string): { value: number; tags: Record<string, number> } | undefined {
  const info = m.getTagInfo(peer)
  return info === undefined ? undefined : { value: info.value, tags: info.tags }
}

function isCode (code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof PeerwardenError, `expected a PeerwardenError, got ${String(e)}`)
    assert.equal(e.code, code)
    return true
  }
}

test('expireWhenInactive keeps the value while the tag is bumped within the window and removes the tag once it is not (go TestDecayExpire)', async () => {
  const { clock, m } = setup()
  const tag = m.registerDecayingTag('pop', 250, decay.expireWhenInactive(1_000), bump.sum())
  tag.bump('p', 10)
  assert.deepEqual(tagsOf(m, 'p'), { value: 10, tags: { pop: 10 } })

  // go zeroes the value at the first tick; ours keeps it until it expires.
  await clock.advance(250)
  assert.deepEqual(tagsOf(m, 'p'), { value: 10, tags: { pop: 10 } }, 'the first tick does not zero the value')
  await clock.advance(500) // t = 750
  assert.deepEqual(tagsOf(m, 'p'), { value: 10, tags: { pop: 10 } })

  tag.bump('p', 0) // a visit at t = 750 restarts the window
  await clock.advance(750) // t = 1500: 750 ms since the last visit
  assert.deepEqual(tagsOf(m, 'p'), { value: 10, tags: { pop: 10 } }, 'bumped within the last 1000 ms: kept')

  await clock.advance(250) // t = 1750: 1000 ms since the last visit
  assert.deepEqual(tagsOf(m, 'p'), { value: 0, tags: {} }, 'not bumped for 1000 ms: removed')
  await m.close()
})

test('expireWhenInactive removes a tag that is never bumped again after exactly `after` ms, at the tick that reaches it', async () => {
  const { clock, m } = setup()
  const tag = m.registerDecayingTag('pop', 250, decay.expireWhenInactive(1_000), bump.sum())
  tag.bump('p', 10)
  await clock.advance(999)
  assert.equal(m.getTagInfo('p')?.tags.pop, 10, 'the ticks at 250, 500 and 750 keep it')
  await clock.advance(1)
  assert.deepEqual(tagsOf(m, 'p'), { value: 0, tags: {} })
  await m.close()
})

test('sumBounded clamps every bump into its range (go TestMultipleBumps)', async () => {
  const { m } = setup()
  const tag = m.registerDecayingTag('beep', 100, decay.none(), bump.sumBounded(10, 20))
  tag.bump('p', 5)
  assert.deepEqual(tagsOf(m, 'p'), { value: 10, tags: { beep: 10 } })
  tag.bump('p', 100)
  assert.deepEqual(tagsOf(m, 'p'), { value: 20, tags: { beep: 20 } })
  await m.close()
})

test('three non-decaying tags bumped to their bound add up to 300 and stay there (go TestMultipleTagsNoDecay)', async () => {
  const { clock, m } = setup()
  const tags = ['beep', 'bop', 'foo'].map((name) => m.registerDecayingTag(name, 100, decay.none(), bump.sumBounded(0, 100)))
  for (const t of tags) { t.bump('p', 100); t.bump('p', 100) }
  const expected = { value: 300, tags: { beep: 100, bop: 100, foo: 100 } }
  assert.deepEqual(tagsOf(m, 'p'), expected)
  await clock.advance(1_000)
  assert.deepEqual(tagsOf(m, 'p'), expected, 'decay.none() never changes the value')
  await m.close()
})

test('fixed decays at 250, 100 and 50 ms give 3000, 2999, 2986, 2975 (go TestCustomFunctions)', async () => {
  const { clock, m } = setup()
  const t1 = m.registerDecayingTag('beep', 250, decay.fixed(10), bump.sum())
  const t2 = m.registerDecayingTag('bop', 100, decay.fixed(5), bump.sum())
  const t3 = m.registerDecayingTag('foo', 50, decay.fixed(1), bump.sum())
  t1.bump('p', 1_000)
  t2.bump('p', 1_000)
  t3.bump('p', 1_000)
  assert.deepEqual(tagsOf(m, 'p'), { value: 3_000, tags: { beep: 1_000, bop: 1_000, foo: 1_000 } })

  await clock.advance(50) // t = 50: foo ticks once
  assert.deepEqual(tagsOf(m, 'p'), { value: 2_999, tags: { beep: 1_000, bop: 1_000, foo: 999 } })

  await clock.advance(150) // t = 200: bop ×2, foo ×3
  assert.deepEqual(tagsOf(m, 'p'), { value: 2_986, tags: { beep: 1_000, bop: 990, foo: 996 } })

  await clock.advance(50) // t = 250: beep ×1, foo ×1
  assert.deepEqual(tagsOf(m, 'p'), { value: 2_975, tags: { beep: 990, bop: 990, foo: 995 } })
  await m.close()
})

test('after 3 s three peers bumped 1000, 500 and 100 hold 2670, 1170 and 40, the last one having lost two tags (go TestMultiplePeers)', async () => {
  const { clock, m } = setup()
  const t1 = m.registerDecayingTag('beep', 250, decay.fixed(10), bump.sum())
  const t2 = m.registerDecayingTag('bop', 100, decay.fixed(5), bump.sum())
  const t3 = m.registerDecayingTag('foo', 50, decay.fixed(1), bump.sum())
  const bumps: Array<[string, number]> = [['id1', 1_000], ['id2', 500], ['id3', 100]]
  for (const [peer, amount] of bumps) for (const t of [t1, t2, t3]) t.bump(peer, amount)

  await clock.advance(3_000) // beep 12 ticks (-120), bop 30 (-150), foo 60 (-60)
  assert.deepEqual(tagsOf(m, 'id1'), { value: 2_670, tags: { beep: 880, bop: 850, foo: 940 } })
  assert.deepEqual(tagsOf(m, 'id2'), { value: 1_170, tags: { beep: 380, bop: 350, foo: 440 } })
  assert.deepEqual(tagsOf(m, 'id3'), { value: 40, tags: { foo: 40 } }, 'beep and bop reached 0 and were removed')
  await m.close()
})

test('linear decay with overwrite halves the value each tick, and a bump overwrites it (go TestLinearDecayOverwrite)', async () => {
  const { clock, m } = setup()
  const tag = m.registerDecayingTag('beep', 250, decay.linear(0.5), bump.overwrite())
  tag.bump('p', 1_000)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_000, tags: { beep: 1_000 } })
  await clock.advance(250)
  assert.deepEqual(tagsOf(m, 'p'), { value: 500, tags: { beep: 500 } })
  await clock.advance(250)
  assert.deepEqual(tagsOf(m, 'p'), { value: 250, tags: { beep: 250 } })
  tag.bump('p', 1_000)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_000, tags: { beep: 1_000 } })
  await m.close()
})

test('misaligned intervals of 70 and 120 ms tick at exactly their own multiples, with no resolution (go TestResolutionMisaligned)', async () => {
  const { clock, m } = setup()
  const t1 = m.registerDecayingTag('beep', 70, decay.fixed(1), bump.sum())
  const t2 = m.registerDecayingTag('bop', 120, decay.fixed(1), bump.sum())
  t1.bump('p', 1_000)
  t2.bump('p', 1_000)

  await clock.advance(69)
  assert.deepEqual(tagsOf(m, 'p'), { value: 2_000, tags: { beep: 1_000, bop: 1_000 } }, 't = 69: no tick yet')
  await clock.advance(1)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_999, tags: { beep: 999, bop: 1_000 } }, 't = 70')
  await clock.advance(50)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_998, tags: { beep: 999, bop: 999 } }, 't = 120')
  await clock.advance(20)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_997, tags: { beep: 998, bop: 999 } }, 't = 140')
  await clock.advance(100)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_995, tags: { beep: 997, bop: 998 } }, 't = 240: beep at 210, bop at 240')
  await m.close()
})

test('remove() takes a decaying tag off one peer only, and removing it again is a no-op (go TestTagRemoval)', async () => {
  const { clock, m } = setup()
  const t1 = m.registerDecayingTag('beep', 100, decay.fixed(1), bump.sum())
  const t2 = m.registerDecayingTag('bop', 100, decay.fixed(1), bump.sum())
  for (const peer of ['id1', 'id2']) { t1.bump(peer, 1_000); t2.bump(peer, 1_000) }

  await clock.advance(100)
  assert.deepEqual(tagsOf(m, 'id1'), { value: 1_998, tags: { beep: 999, bop: 999 } })
  assert.deepEqual(tagsOf(m, 'id2'), { value: 1_998, tags: { beep: 999, bop: 999 } })

  t1.remove('id1')
  assert.deepEqual(tagsOf(m, 'id1'), { value: 999, tags: { bop: 999 } }, 'removed at once')

  await clock.advance(100)
  assert.deepEqual(tagsOf(m, 'id1'), { value: 998, tags: { bop: 998 } })
  assert.deepEqual(tagsOf(m, 'id2'), { value: 1_996, tags: { beep: 998, bop: 998 } })

  assert.doesNotThrow(() => { t1.remove('id1') })
  assert.doesNotThrow(() => { t1.remove('never-seen') })
  assert.equal(m.getTagInfo('never-seen'), undefined, 'remove() does not create a peer')
  assert.deepEqual(tagsOf(m, 'id1'), { value: 998, tags: { bop: 998 } })
  await m.close()
})

test('closing a decaying tag keeps its current values and stops their decay; a second close is a no-op; bump and remove then throw ERR_CLOSED (go TestTagClosure)', async () => {
  const { clock, m } = setup()
  const t1 = m.registerDecayingTag('beep', 100, decay.fixed(1), bump.sum())
  const t2 = m.registerDecayingTag('bop', 100, decay.fixed(1), bump.sum())
  t1.bump('p', 1_000)
  t2.bump('p', 1_000)
  await clock.advance(200)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_996, tags: { beep: 998, bop: 998 } })

  t1.close()
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_996, tags: { beep: 998, bop: 998 } }, 'close keeps the values')
  assert.doesNotThrow(() => { t1.close() })

  await clock.advance(100)
  assert.deepEqual(tagsOf(m, 'p'), { value: 1_995, tags: { beep: 998, bop: 997 } }, 'the closed tag no longer decays; the other does')

  assert.throws(() => { t1.bump('p', 1) }, isCode('ERR_CLOSED'))
  assert.throws(() => { t1.remove('p') }, isCode('ERR_CLOSED'))
  t2.bump('p', 3)
  assert.equal(m.getTagInfo('p')?.tags.bop, 1_000, 'the other tag still accepts bumps')
  await m.close()
})

test('closing the manager closes every decaying tag', async () => {
  const { m } = setup()
  const tag = m.registerDecayingTag('beep', 100, decay.fixed(1), bump.sum())
  tag.bump('p', 10)
  await m.close()
  assert.throws(() => { tag.bump('p', 1) }, isCode('ERR_CLOSED'))
  assert.throws(() => m.registerDecayingTag('other', 100, decay.none(), bump.sum()), isCode('ERR_CLOSED'))
})

test('registering a decaying tag under a name already in use throws ERR_DUPLICATE_TAG', async () => {
  const { clock, m } = setup()
  const first = m.registerDecayingTag('beep', 100, decay.fixed(1), bump.sum())
  assert.throws(() => m.registerDecayingTag('beep', 50, decay.none(), bump.overwrite()), isCode('ERR_DUPLICATE_TAG'))
  // The first registration is untouched.
  first.bump('p', 10)
  await clock.advance(100)
  assert.deepEqual(tagsOf(m, 'p'), { value: 9, tags: { beep: 9 } })
  assert.equal(first.interval, 100)
  assert.equal(first.name, 'beep')
  await m.close()
})

test("a decaying tag's value counts in the peer's value and changes the trim order as it decays", async () => {
  const { clock, m } = setup({ lowWater: 2, highWater: 100, gracePeriod: 0 })
  m.start()
  const p1 = testConnection('p1')
  const p2 = testConnection('p2')
  const p3 = testConnection('p3')
  for (const c of [p1, p2, p3]) assert.equal(m.connected(c), true)
  m.tagPeer('p1', 'static', 5)
  m.tagPeer('p2', 'static', 10)
  m.tagPeer('p3', 'static', 15)
  const activity = m.registerDecayingTag('activity', 100, decay.fixed(10), bump.sum())

  activity.bump('p1', 20)
  assert.deepEqual(tagsOf(m, 'p1'), { value: 25, tags: { static: 5, activity: 20 } })
  assert.equal(m.getPeer('p1')?.value, 25)
  assert.equal(m.listConnections().find((c) => c.peer === 'p1')?.value, 25)

  await m.trim() // 3 -> 2: p2 (10) is now the lowest, not p1 (5 + 20)
  assert.equal(p2.closed, true, 'p2 (10) is trimmed before p1 (25)')
  assert.equal(p1.closed, false)
  assert.equal(p3.closed, false)

  await clock.advance(200) // activity: 20 -> 10 -> 0, removed
  assert.deepEqual(tagsOf(m, 'p1'), { value: 5, tags: { static: 5 } })
  m.setWatermarks(1, 100)
  await m.trim()
  assert.equal(p1.closed, true, 'once decayed, p1 (5) is below p3 (15)')
  assert.equal(p3.closed, false)
  await m.close()
})
