import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, bump, createConnectionManager, decay } from '../../src/index.js'
import type { ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'
import { rejectUnknownOptions } from '../../src/manager/validate.js'
import { hasCode } from '../helpers/errors.js'

function escapeRe (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Checks that `fn` throws a PeerwardenError ERR_INVALID_ARGUMENT whose message names `field` (as a whole word). */
function assertInvalid (fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
    assert.match(err.message, new RegExp(`(^|[^A-Za-z0-9_])${escapeRe(field)}([^A-Za-z0-9_]|$)`),
      `the message ${JSON.stringify(err.message)} should name ${field}`)
    return true
  })
}

function options (extra: Record<string, unknown>): ConnectionManagerOptions {
  return { dial: noDial, clock: new ManualClock(), ...extra } as ConnectionManagerOptions
}

// ── options of createConnectionManager ───────────────────────────────────────

test('createConnectionManager refuses options without a dial function, naming dial', () => {
  assertInvalid(() => createConnectionManager({ clock: new ManualClock() } as unknown as ConnectionManagerOptions), 'dial')
  assertInvalid(() => createConnectionManager(options({ dial: 'tcp' })), 'dial')
})

test('createConnectionManager refuses an empty localPeer', () => {
  assertInvalid(() => createConnectionManager(options({ localPeer: '' })), 'localPeer')
})

for (const [label, value] of [['NaN', NaN], ['a negative number', -1], ['a non-integer', 2.5], ['Infinity', Infinity], ['a string', '8']] as const) {
  test(`createConnectionManager refuses lowWater given as ${label}`, () => {
    assertInvalid(() => createConnectionManager(options({ lowWater: value, highWater: 50 })), 'lowWater')
  })

  test(`createConnectionManager refuses lowWater given alone as ${label}`, () => {
    assertInvalid(() => createConnectionManager(options({ lowWater: value })), 'lowWater')
  })

  test(`createConnectionManager refuses highWater given as ${label}`, () => {
    assertInvalid(() => createConnectionManager(options({ lowWater: 0, highWater: value })), 'highWater')
  })

  test(`createConnectionManager refuses highWater given alone as ${label}, naming highWater`, () => {
    assertInvalid(() => createConnectionManager(options({ highWater: value })), 'highWater')
  })
}

test('createConnectionManager refuses highWater 0', () => {
  assertInvalid(() => createConnectionManager(options({ lowWater: 0, highWater: 0 })), 'highWater')
})

test('createConnectionManager refuses lowWater above highWater with a message naming both', () => {
  assert.throws(() => createConnectionManager(options({ lowWater: 10, highWater: 5 })), (err: unknown) => {
    assert.ok(err instanceof PeerwardenError)
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
    assert.match(err.message, /lowWater must be <= highWater/)
    return true
  })
})

test('createConnectionManager refuses a negative or NaN gracePeriod', () => {
  assertInvalid(() => createConnectionManager(options({ gracePeriod: -1 })), 'gracePeriod')
  assertInvalid(() => createConnectionManager(options({ gracePeriod: NaN })), 'gracePeriod')
  assertInvalid(() => createConnectionManager(options({ gracePeriod: Infinity })), 'gracePeriod')
})

test('createConnectionManager accepts a gracePeriod of 0', async () => {
  const m = createConnectionManager(options({ gracePeriod: 0 }))
  await m.close()
})

test('createConnectionManager refuses a silencePeriod of 0 or less', () => {
  assertInvalid(() => createConnectionManager(options({ silencePeriod: 0 })), 'silencePeriod')
  assertInvalid(() => createConnectionManager(options({ silencePeriod: -5 })), 'silencePeriod')
  assertInvalid(() => createConnectionManager(options({ silencePeriod: NaN })), 'silencePeriod')
})

test('createConnectionManager refuses a lifetime of 0 or NaN', () => {
  assertInvalid(() => createConnectionManager(options({ lifetime: 0 })), 'lifetime')
  assertInvalid(() => createConnectionManager(options({ lifetime: NaN })), 'lifetime')
})

test('createConnectionManager refuses maxParallelDials of 0 or a non-integer', () => {
  assertInvalid(() => createConnectionManager(options({ maxParallelDials: 0 })), 'maxParallelDials')
  assertInvalid(() => createConnectionManager(options({ maxParallelDials: 1.5 })), 'maxParallelDials')
})

test('createConnectionManager refuses a dialTimeout of 0 or NaN', () => {
  assertInvalid(() => createConnectionManager(options({ dialTimeout: 0 })), 'dialTimeout')
  assertInvalid(() => createConnectionManager(options({ dialTimeout: NaN })), 'dialTimeout')
})

for (const list of ['allow', 'deny'] as const) {
  test(`createConnectionManager refuses ${list} when it is not an array`, () => {
    assertInvalid(() => createConnectionManager(options({ [list]: '10.0.0.0/8' })), list)
    assertInvalid(() => createConnectionManager(options({ [list]: { 0: 'a' } })), list)
  })

  test(`createConnectionManager refuses ${list} with an empty string or a non-string, naming the index`, () => {
    assertInvalid(() => createConnectionManager(options({ [list]: ['peer-a', ''] })), `${list}[1]`)
    assertInvalid(() => createConnectionManager(options({ [list]: [42] })), `${list}[0]`)
  })

  test(`createConnectionManager refuses an invalid CIDR in ${list}`, () => {
    assertInvalid(() => createConnectionManager(options({ [list]: ['10.0.0.0/99'] })), `${list}[0]`)
    assertInvalid(() => createConnectionManager(options({ [list]: ['1.2.3.4/8', 'fe80::/129'] })), `${list}[1]`)
    assertInvalid(() => createConnectionManager(options({ [list]: ['300.1.2.0/24'] })), `${list}[0]`)
  })

  test(`createConnectionManager accepts valid IPv4 and IPv6 CIDRs and peer ids in ${list}`, async () => {
    const m = createConnectionManager(options({ [list]: ['10.0.0.0/8', '::1', 'fe80::/10', '1.2.3.4', 'peer-a'] }))
    await m.close()
  })
}

test('createConnectionManager refuses a prioritise hook that is not a function', () => {
  assertInvalid(() => createConnectionManager(options({ prioritise: 'high' })), 'prioritise')
})

test('createConnectionManager refuses a clock that lacks one of its methods', () => {
  const clock = new ManualClock()
  assertInvalid(() => createConnectionManager(options({ clock: { now: () => 0, setTimeout: clock.setTimeout.bind(clock) } })), 'clock')
  assertInvalid(() => createConnectionManager(options({ clock: { setTimeout: () => 0, clearTimeout: () => {} } })), 'clock')
  assertInvalid(() => createConnectionManager(options({ clock: { now: 0, setTimeout: () => 0, clearTimeout: () => {} } })), 'clock')
})

test('createConnectionManager refuses a random that is not a function', () => {
  assertInvalid(() => createConnectionManager(options({ random: 0.5 })), 'random')
})

test('createConnectionManager refuses a store that is not a PeerStore', () => {
  assertInvalid(() => createConnectionManager(options({ store: {} })), 'store')
})

// ── defaults ────────────────────────────────────────────────────────────────

test('by default the manager holds 96 connections (highWater) and trims down to 32 (lowWater)', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, gracePeriod: 0 })
  m.start()
  for (let i = 0; i < 96; i++) assert.equal(m.connected(testConnection(`p${i}`)), true)
  assert.equal(m.stats().connections, 96)
  // The 97th evicts one: the count stays at highWater.
  const extra = testConnection('p96')
  assert.equal(m.connected(extra), true)
  assert.equal(m.stats().connections, 96)
  await m.trim()
  assert.equal(m.stats().connections, 32)
  await m.close()
})

test('giving only highWater: 10 works and lowWater defaults to min(32, highWater) = 10', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, gracePeriod: 0, highWater: 10 })
  m.start()
  for (let i = 0; i < 11; i++) assert.equal(m.connected(testConnection(`p${i}`)), true)
  assert.equal(m.stats().connections, 10, 'the count is held at highWater 10')
  await m.trim()
  assert.equal(m.stats().connections, 10, 'trim() goes down to lowWater, which is 10')
  // lowWater is 10, not 32: lowering highWater to 10 again is allowed, and setMaxConnections(4) keeps low <= high.
  m.setWatermarks(10, 10)
  m.setMaxConnections(4)
  assert.equal(m.stats().connections, 4)
  await m.trim()
  assert.equal(m.stats().connections, 4, 'lowWater followed max down to 4')
  await m.close()
})

// ── method arguments ────────────────────────────────────────────────────────

test('tagPeer refuses an empty peer, an empty tag and a value that is not finite', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.tagPeer('', 'app', 1) }, 'peer')
  assertInvalid(() => { m.tagPeer('p', '', 1) }, 'tag')
  assertInvalid(() => { m.tagPeer('p', 'app', NaN) }, 'value')
  assertInvalid(() => { m.tagPeer('p', 'app', Infinity) }, 'value')
  assertInvalid(() => { m.tagPeer('p', 'app', '3' as never) }, 'value')
  assert.equal(m.getTagInfo('p'), undefined, 'a refused tagPeer leaves no trace')
  await m.close()
})

test('untagPeer refuses an empty peer or tag', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.untagPeer('', 'app') }, 'peer')
  assertInvalid(() => { m.untagPeer('p', '') }, 'tag')
  await m.close()
})

test('upsertTag refuses an upsert that is not a function or returns NaN', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.upsertTag('p', 'app', 5 as never) }, 'upsert')
  assertInvalid(() => { m.upsertTag('', 'app', (v) => v + 1) }, 'peer')
  assertInvalid(() => { m.upsertTag('p', '', (v) => v + 1) }, 'tag')
  m.tagPeer('p', 'app', 3)
  assertInvalid(() => { m.upsertTag('p', 'app', () => NaN) }, 'upsert result')
  assert.equal(m.getTagInfo('p')?.tags.app, 3, 'a refused upsert leaves the value as it was')
  await m.close()
})

test('protect and unprotect refuse an empty peer or tag', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.protect('p', '') }, 'tag')
  assertInvalid(() => { m.protect('', 'keep') }, 'peer')
  assertInvalid(() => { m.unprotect('p', '') }, 'tag')
  assertInvalid(() => { m.unprotect('', 'keep') }, 'peer')
  assert.equal(m.isProtected('p'), false)
  await m.close()
})

test('setPriority refuses an unknown priority, an empty peer and a non-array', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.setPriority([{ peer: 'p', priority: 'urgent' as never }]) }, 'updates[0].priority')
  assertInvalid(() => { m.setPriority([{ peer: 'p', priority: 'high' }, { peer: '', priority: 'low' }]) }, 'updates[1].peer')
  assertInvalid(() => { m.setPriority({ peer: 'p', priority: 'high' } as never) }, 'updates')
  assert.equal(m.getPeer('p'), undefined, 'a refused batch changes nothing')
  await m.close()
})

test('setWatermarks(5, 2) is refused with a message naming low and high', async () => {
  const m = createConnectionManager(options({}))
  assert.throws(() => { m.setWatermarks(5, 2) }, (err: unknown) => {
    assert.ok(err instanceof PeerwardenError)
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
    assert.match(err.message, /\blow\b.*<=.*\bhigh\b/)
    return true
  })
  assertInvalid(() => { m.setWatermarks(NaN, 10) }, 'low')
  assertInvalid(() => { m.setWatermarks(1, 0) }, 'high')
  await m.close()
})

test('setMaxConnections refuses 0 and non-integers', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.setMaxConnections(0) }, 'max')
  assertInvalid(() => { m.setMaxConnections(2.5) }, 'max')
  await m.close()
})

test('setLifetime refuses 0', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.setLifetime(0) }, 'lifetime')
  await m.close()
})

test('registerDecayingTag refuses a bad interval, name or function, and a duplicate name', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => m.registerDecayingTag('t', 0, decay.none(), bump.sum()), 'interval')
  assertInvalid(() => m.registerDecayingTag('t', NaN, decay.none(), bump.sum()), 'interval')
  assertInvalid(() => m.registerDecayingTag('', 1000, decay.none(), bump.sum()), 'name')
  assertInvalid(() => m.registerDecayingTag('t', 1000, 'none' as never, bump.sum()), 'decay')
  assertInvalid(() => m.registerDecayingTag('t', 1000, decay.none(), null as never), 'bump')
  m.registerDecayingTag('t', 1000, decay.none(), bump.sum())
  assert.throws(() => m.registerDecayingTag('t', 1000, decay.none(), bump.sum()), (err: unknown) => {
    assert.ok(err instanceof PeerwardenError)
    // errors.ts documents a dedicated code for this case.
    assert.equal(err.code, 'ERR_DUPLICATE_TAG')
    assert.match(err.message, /"t"/)
    return true
  })
  await m.close()
})

test('setTopicQuota refuses max below min, a negative min and an empty topic', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.setTopicQuota('chat', { min: 5, max: 2 }) }, 'quota.max')
  assertInvalid(() => { m.setTopicQuota('chat', { min: -1 }) }, 'quota.min')
  assertInvalid(() => { m.setTopicQuota('', { min: 1 }) }, 'topic')
  await m.close()
})

test('addPeers refuses a peer with neither an id nor an address, naming its index', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.addPeers([{ id: 'ok' }, {}]) }, 'peers[1]')
  assertInvalid(() => { m.addPeers([{ addresses: [] }]) }, 'peers[0]')
  assertInvalid(() => { m.addPeers([{ id: '' }]) }, 'peers[0].id')
  assertInvalid(() => { m.addPeers([{ address: '' }]) }, 'peers[0].address')
  assertInvalid(() => { m.addPeers([{ id: 'x', priority: 'urgent' as never }]) }, 'peers[0].priority')
  assertInvalid(() => { m.addPeers('x' as never) }, 'peers')
  assert.equal(m.stats().known, 0, 'a refused batch adds nobody')
  await m.close()
})

test('connected() refuses a malformed connection, naming the field', async () => {
  const m = createConnectionManager(options({}))
  const close = (): void => {}
  assertInvalid(() => m.connected(null as never), 'connection')
  assertInvalid(() => m.connected({ peer: 'p', direction: 'inbound', close } as never), 'connection.id')
  assertInvalid(() => m.connected({ id: 'c1', peer: '', direction: 'inbound', close } as never), 'connection.peer')
  assertInvalid(() => m.connected({ id: 'c1', peer: 'p', direction: 'sideways', close } as never), 'connection.direction')
  assertInvalid(() => m.connected({ id: 'c1', peer: 'p', direction: 'inbound' } as never), 'connection.close')
  assert.equal(m.stats().connections, 0)
  await m.close()
})

// ── closed manager ──────────────────────────────────────────────────────────

test('a closed manager throws ERR_CLOSED from start() and addPeers(), and close() may be called twice', async () => {
  const m = createConnectionManager(options({}))
  await m.close()
  await m.close()
  for (const use of [() => { m.start() }, () => { m.addPeers([{ id: 'p' }]) }]) {
    assert.throws(use, (err: unknown) => {
      assert.ok(err instanceof PeerwardenError)
      assert.equal(err.code, 'ERR_CLOSED')
      return true
    })
  }
  assert.equal(m.running, false)
})

test('after close, what would add state or act throws ERR_CLOSED; what only releases is a quiet no-op; reads answer', async () => {
  const m = createConnectionManager(options({}))
  m.tagPeer('p', 'a', 5)
  m.protect('p', 'keep')
  await m.close()
  const acts: Array<[string, () => unknown]> = [
    ['tagPeer', () => { m.tagPeer('p', 'a', 1) }],
    ['upsertTag', () => { m.upsertTag('p', 'a', (v) => v + 1) }],
    ['protect', () => { m.protect('q', 'x') }],
    ['setPriority', () => { m.setPriority([{ peer: 'p', priority: 'high' }]) }],
    ['setLongTerm', () => { m.setLongTerm('p', true) }],
    ['setWatermarks', () => { m.setWatermarks(1, 2) }],
    ['setMaxConnections', () => { m.setMaxConnections(5) }],
    ['setLifetime', () => { m.setLifetime(1000) }],
    ['setTopicQuota', () => { m.setTopicQuota('t', { min: 1 }) }],
    ['resetBackoff', () => { m.resetBackoff() }]
  ]
  for (const [name, act] of acts) assert.throws(act, hasCode('ERR_CLOSED'), name)
  await assert.rejects(m.trim(), hasCode('ERR_CLOSED'))
  await assert.rejects(m.connectNow('p'), hasCode('ERR_CLOSED'))
  // Teardown in any order never throws.
  assert.equal(m.unprotect('p', 'keep'), false)
  m.untagPeer('p', 'a')
  m.setTopicQuota('t', undefined)
  m.forgetPeer('p')
  await m.disconnect('p')
  m.disconnected(testConnection('p'))
  // Nothing was created or changed by the refused calls; reads still answer.
  assert.equal(m.getPeer('q'), undefined)
  assert.equal(m.getTagInfo('p')?.value, 5)
  assert.equal(m.stats().known, 1)
})

test('a closed manager refuses connections and closes them', async () => {
  const m = createConnectionManager(options({}))
  await m.close()
  const c = testConnection('p')
  assert.equal(m.connected(c), false)
  assert.equal(c.closed, true)
  assert.equal(m.stats().connections, 0)
})

// ── finding 19: arguments that passed silently ─────────────────────────────

test('disconnected() refuses a connection without an id, naming connection.id; an unknown well-formed one is a quiet no-op', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => { m.disconnected({} as never) }, 'connection.id')
  assertInvalid(() => { m.disconnected(null as never) }, 'connection')
  m.disconnected(testConnection('nobody'))
  await m.close()
})

test('explain(), getPeer(), getTagInfo() and isProtected() refuse a peer that is not a non-empty string, naming peer', async () => {
  const m = createConnectionManager(options({}))
  assertInvalid(() => m.explain(undefined as never), 'peer')
  assertInvalid(() => m.getPeer(null as never), 'peer')
  assertInvalid(() => m.getTagInfo(3 as never), 'peer')
  assertInvalid(() => m.isProtected(undefined as never), 'peer')
  assert.equal(m.getPeer('unknown'), undefined)
  assert.deepEqual(m.explain('unknown'), [])
  await m.close()
})

test('a tag named __proto__ is listed by getTagInfo().tags like any other (regression: it counted in the value but was missing)', async () => {
  const m = createConnectionManager(options({}))
  m.tagPeer('p', '__proto__', 3)
  m.tagPeer('p', 'app', 2)
  const info = m.getTagInfo('p')
  assert.equal(info?.value, 5)
  assert.deepEqual(Object.keys(info?.tags ?? {}).sort(), ['__proto__', 'app'])
  assert.equal(Object.getOwnPropertyDescriptor(info?.tags, '__proto__')?.value, 3)
  assert.equal(Object.getPrototypeOf(info?.tags), Object.prototype, 'tags stays a plain object')
  await m.close()
})

test('tag values stay finite: sums clamp at Number.MAX_SAFE_INTEGER, and an upsert returning Infinity is refused (regression: values reached Infinity)', async () => {
  const m = createConnectionManager(options({}))
  m.tagPeer('p', 'a', 1e308)
  m.tagPeer('p', 'b', 1e308)
  assert.equal(m.getTagInfo('p')?.value, Number.MAX_SAFE_INTEGER)
  assert.equal(m.getPeer('p')?.value, Number.MAX_SAFE_INTEGER)
  m.tagPeer('q', 'a', -1e308)
  m.tagPeer('q', 'b', -1e308)
  assert.equal(m.getTagInfo('q')?.value, -Number.MAX_SAFE_INTEGER)
  m.upsertTag('r', 'a', () => 1e308)
  m.upsertTag('r', 'a', (v) => v * 10)
  assert.ok(Number.isFinite(m.getTagInfo('r')!.tags.a))
  assert.ok(Number.isFinite(m.getTagInfo('r')!.value))
  assertInvalid(() => { m.upsertTag('r', 'a', () => Infinity) }, 'upsert result')
  m.untagPeer('p', 'a')
  assert.equal(m.getTagInfo('p')?.value, Number.MAX_SAFE_INTEGER, 'untagging does not leave a rounding error behind')
  m.tagPeer('p', 'b', 1)
  assert.equal(m.getTagInfo('p')?.value, 1)
  const t = m.registerDecayingTag('d', 1000, decay.none(), bump.sum())
  t.bump('s', 1e308)
  t.bump('s', 1e308)
  assert.equal(m.getTagInfo('s')?.value, Number.MAX_SAFE_INTEGER)
  assert.ok(Number.isFinite(m.getTagInfo('s')!.tags.d))
  await m.close()
})

// ── unknown option names ─────────────────────────────────────────────────────

test('createConnectionManager refuses an unknown option, naming it and the closest valid one (regression: highwater was ignored)', () => {
  assert.throws(() => createConnectionManager(options({ highwater: 10 })), (err: unknown) => {
    assert.ok(err instanceof PeerwardenError)
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
    assert.match(err.message, /highwater/)
    assert.match(err.message, /highWater/)
    return true
  })
  assertInvalid(() => createConnectionManager(options({ maxParalelDials: 2 })), 'maxParallelDials')
})

test('rejectUnknownOptions names the option and suggests the closest known name only when it is close', () => {
  assert.doesNotThrow(() => { rejectUnknownOptions('options', { a: 1, b: undefined }, ['a', 'b', 'c']) })
  assert.throws(() => { rejectUnknownOptions('node options', { annonce: [] }, ['announce', 'listen']) }, /node options: unknown option "annonce".*"announce"/)
  assert.throws(() => { rejectUnknownOptions('options', { zzzzzzzz: 1 }, ['lowWater']) }, (err: unknown) => {
    assert.ok(err instanceof PeerwardenError)
    assert.doesNotMatch(err.message, /did you mean/)
    return true
  })
})
