/**
 * go-libp2p's connmgr_test.go, adapted to peerwarden's contract (docs/concepts.md).
 * Differences from go that these tests pin down on purpose:
 * - tags survive a disconnection, and tags on a never-seen peer are kept (no temporary entries);
 * - getTagInfo().conns is keyed by connection id;
 * - limits are enforced only after start(); trim() goes down to lowWater.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager, type ConnectionManager, type ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock, testConnection, type TestConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

function setup (opts: Partial<ConnectionManagerOptions> = {}, start = 0): { clock: ManualClock; m: ConnectionManager } {
  const clock = new ManualClock(start)
  const m = createConnectionManager({ dial: noDial, clock, lowWater: 10, highWater: 100, gracePeriod: 0, ...opts })
  return { clock, m }
}

/** Connects `n` peers named `${prefix}${i}`, asserting each is accepted. */
function connectMany (m: ConnectionManager, n: number, prefix: string): TestConnection[] {
  const out: TestConnection[] = []
  for (let i = 0; i < n; i++) {
    const c = testConnection(`${prefix}${i}`)
    assert.equal(m.connected(c), true, `${prefix}${i} should be accepted`)
    out.push(c)
  }
  return out
}

function closedCount (conns: readonly TestConnection[]): number {
  return conns.filter((c) => c.closed).length
}

// ── grace period (TestGracePeriod) ─────────────────────────────────────────

test('connections inside the grace period are never trimmed, and are trimmed down to lowWater once it has passed', async () => {
  const { clock, m } = setup({ lowWater: 10, highWater: 100, gracePeriod: 100 })
  m.start()
  const conns = connectMany(m, 30, 'n')
  await m.trim()
  assert.equal(closedCount(conns), 0, 'nothing is trimmable while every connection is in its grace period')
  assert.equal(m.stats().connections, 30)

  await clock.advance(99)
  await m.trim()
  assert.equal(closedCount(conns), 0, 'still in grace 1 ms before it ends')

  await clock.advance(1)
  await m.trim()
  assert.equal(closedCount(conns), 20)
  assert.equal(m.stats().connections, 10)
  for (const c of conns.filter((x) => x.closed)) assert.equal(c.closeReason, 'trimmed')
  await m.close()
})

test('one old connection plus 30 new ones: trim() closes none while the new ones are in grace, then exactly 21 after grace (go TestGracePeriod)', async () => {
  // go: NewConnManager(10, 20, WithGracePeriod(100ms)). highWater is raised to 100 here so that the
  // running manager's admission bound (which would evict the old connection at 20) stays out of the way:
  // this test is about explicit trims.
  const { clock, m } = setup({ lowWater: 10, highWater: 100, gracePeriod: 100 })
  m.start()
  const old = testConnection('old')
  assert.equal(m.connected(old), true)
  await clock.advance(200)
  assert.equal(old.closed, false)

  const fresh = connectMany(m, 30, 'new')
  const all = [old, ...fresh]
  await m.trim()
  // go: only 1 candidate (< lowWater 10) is out of grace, so nothing is closed.
  assert.equal(closedCount(all), 0, `expected no connection closed, closed: ${all.filter((c) => c.closed).map((c) => c.peer).join(', ')}`)

  await clock.advance(200)
  await m.trim()
  assert.equal(closedCount(all), 21)
  assert.equal(m.stats().connections, 10)
  await m.close()
})

// ── protection ─────────────────────────────────────────────────────────────

test('protected peers are never trimmed, even those with the lowest value; unprotecting the last tag makes a peer trimmable (go TestPeerProtectionSingleTag)', async () => {
  // go-libp2p PR #50: trim() goes down to lowWater counting only trimmable connections.
  const { m } = setup({ lowWater: 10, highWater: 100, gracePeriod: 0 })
  m.start()
  const conns = connectMany(m, 20, 'p')
  for (const c of conns) m.tagPeer(c.peer, 'score', 20)
  const protectedConns = conns.slice(0, 5)
  for (const c of protectedConns) {
    m.protect(c.peer, 'global')
    m.tagPeer(c.peer, 'score', -100)
  }
  assert.equal(m.stats().protected, 5)

  await m.trim()
  assert.equal(closedCount(conns), 5, '15 trimmable down to lowWater 10')
  assert.equal(closedCount(protectedConns), 0, 'no protected peer is closed despite their value of -100')
  assert.equal(m.stats().connections, 15)

  assert.equal(m.unprotect('p0', 'global'), false, 'p0 has no protection left')
  assert.equal(m.isProtected('p0'), false)
  await m.trim()
  assert.equal(conns[0].closed, true, 'p0 (-100, no longer protected) is the lowest-ranked peer')
  assert.equal(conns[0].closeReason, 'trimmed')
  for (const c of protectedConns.slice(1)) assert.equal(c.closed, false, `${c.peer} is still protected`)
  assert.equal(closedCount(conns), 6, 'exactly one more: 11 trimmable down to 10')
  assert.equal(m.stats().connections, 14)
  await m.close()
})

test('a peer protected under two tags stays protected until both are removed (go TestPeerProtectionMultipleTags)', async () => {
  const { m } = setup({ lowWater: 5, highWater: 100, gracePeriod: 0 })
  m.start()
  const conns = connectMany(m, 10, 'p')
  const guarded = conns.slice(0, 3)
  for (const c of guarded) {
    m.protect(c.peer, 'tag1')
    m.protect(c.peer, 'tag2')
    m.tagPeer(c.peer, 'score', -100)
  }
  for (const c of conns.slice(3)) m.tagPeer(c.peer, 'score', 20)

  for (const c of guarded) assert.equal(m.unprotect(c.peer, 'tag1'), true, `${c.peer} remains protected under tag2`)
  for (const c of guarded) {
    assert.equal(m.isProtected(c.peer), true)
    assert.equal(m.isProtected(c.peer, 'tag1'), false)
    assert.equal(m.isProtected(c.peer, 'tag2'), true)
  }
  await m.trim()
  assert.equal(closedCount(guarded), 0, 'still protected under tag2')
  assert.equal(closedCount(conns), 2, '7 trimmable down to lowWater 5')

  assert.equal(m.unprotect('p0', 'tag2'), false)
  await m.trim()
  assert.equal(guarded[0].closed, true, 'p0 lost its last protection and has the lowest value')
  assert.equal(guarded[1].closed, false)
  assert.equal(guarded[2].closed, false)
  assert.equal(closedCount(conns), 3)
  await m.close()
})

test('protect is idempotent and not reference-counted; unprotect reports whether another tag remains (go TestPeerProtectionIdempotent)', async () => {
  const { m } = setup()
  for (let i = 0; i < 4; i++) m.protect('p', 'global')
  assert.equal(m.isProtected('p'), true)
  assert.equal(m.isProtected('p', 'global'), true)
  assert.equal(m.stats().protected, 1, 'one protected peer, however many times protect() was called')

  assert.equal(m.unprotect('p', 'unused'), true, 'still protected under global')
  assert.equal(m.unprotect('p', 'unused2'), true, 'still protected under global')
  assert.equal(m.unprotect('p', 'global'), false, 'a single unprotect undoes four protects')
  assert.equal(m.isProtected('p'), false)
  assert.equal(m.stats().protected, 0)
  assert.equal(m.unprotect('unknown-peer', 'global'), false)
  await m.close()
})

test('protected peers are never trimmed, leaving the count above lowWater', async () => {
  const { m } = setup({ lowWater: 0, highWater: 100, gracePeriod: 0 })
  m.start()
  const conns = connectMany(m, 10, 'p')
  const guarded = conns.slice(0, 8)
  for (const c of guarded) m.protect(c.peer, 'keep')
  await m.trim()
  assert.equal(closedCount(guarded), 0)
  assert.equal(conns[8].closed, true)
  assert.equal(conns[9].closed, true)
  assert.equal(m.stats().connections, 8, 'the 8 protected connections stay although lowWater is 0')
  await m.close()
})

// ── tags ───────────────────────────────────────────────────────────────────

test('getTagInfo is undefined for an unknown peer, and describes a connected peer and its tags (go TestGetTagInfo)', async () => {
  const { clock, m } = setup({}, 5_000)
  assert.equal(m.getTagInfo('nobody'), undefined)

  await clock.advance(250)
  const c = testConnection('p')
  assert.equal(m.connected(c), true)
  await clock.advance(10)
  assert.deepEqual(m.getTagInfo('p'), { firstSeen: 5_250, value: 0, tags: {}, conns: { [c.id]: 5_250 } })

  m.tagPeer('p', 'tag', 5)
  const info = m.getTagInfo('p')
  assert.ok(info !== undefined)
  assert.equal(info.value, 5)
  assert.deepEqual(info.tags, { tag: 5 })
  assert.deepEqual(info.conns, { [c.id]: 5_250 })
  assert.equal(info.firstSeen, 5_250)
  await m.close()
})

test('untagPeer on an unknown peer or an unknown tag is a no-op, and removes only the named tag (go TestUntagPeer)', async () => {
  const { m } = setup()
  const c = testConnection('p')
  m.connected(c)
  m.tagPeer('p', 'tag', 5)
  m.tagPeer('p', 'tag two', 5)

  m.untagPeer('unknown', 'tag')
  assert.equal(m.getTagInfo('unknown'), undefined, 'untagging an unknown peer does not create it')
  m.untagPeer('p', 'no such tag')
  assert.deepEqual(m.getTagInfo('p')?.tags, { tag: 5, 'tag two': 5 })
  assert.equal(m.getTagInfo('p')?.value, 10)

  m.untagPeer('p', 'tag')
  assert.deepEqual(m.getTagInfo('p')?.tags, { 'tag two': 5 })
  assert.equal(m.getTagInfo('p')?.value, 5)
  assert.equal(m.getPeer('p')?.value, 5)
  await m.close()
})

test('upsertTag on an unseen peer creates its record, and keeps counting after it connects (go TestUpsertTag)', async () => {
  const { m } = setup()
  m.upsertTag('p', 'tag', (v) => v + 1)
  assert.equal(m.getTagInfo('p')?.value, 1)
  assert.deepEqual(m.getTagInfo('p')?.tags, { tag: 1 })

  const c = testConnection('p')
  assert.equal(m.connected(c), true)
  assert.equal(m.getTagInfo('p')?.value, 1, 'the early tag is kept when the peer connects')
  m.upsertTag('p', 'tag', (v) => v + 1)
  assert.equal(m.getTagInfo('p')?.value, 2)
  m.upsertTag('p', 'tag', (v) => v - 1)
  assert.equal(m.getTagInfo('p')?.value, 1)
  assert.deepEqual(m.getTagInfo('p')?.tags, { tag: 1 })
  assert.deepEqual(m.getTagInfo('p')?.conns, { [c.id]: 0 })
  await m.close()
})

test('tags on a never-seen peer are kept, survive a trim, and are still there once it connects (go TestTagPeerNonExistant, TestTemporaryEntryConvertedOnConnection)', async () => {
  const { m } = setup({ lowWater: 0, highWater: 100, gracePeriod: 0 })
  m.start()
  m.tagPeer('early', 'tag', 20)
  assert.equal(m.getTagInfo('early')?.value, 20)
  assert.deepEqual(m.getTagInfo('early')?.conns, {})

  // go deletes such temporary entries at the next trim (TestTemporaryEntriesClearedFirst); we keep them.
  const other = testConnection('other')
  m.connected(other)
  await m.trim()
  assert.equal(other.closed, true)
  assert.deepEqual(m.getTagInfo('early')?.tags, { tag: 20 })

  const c = testConnection('early')
  assert.equal(m.connected(c), true)
  assert.equal(m.getTagInfo('early')?.value, 20)
  assert.deepEqual(m.getTagInfo('early')?.tags, { tag: 20 })
  assert.deepEqual(Object.keys(m.getTagInfo('early')?.conns ?? {}), [c.id])
  assert.equal(m.listConnections().find((x) => x.peer === 'early')?.value, 20)
  await m.close()
})

test('a peer tagged long before it connects still gets its full grace period once connected', async () => {
  const { clock, m } = setup({ lowWater: 0, highWater: 100, gracePeriod: 100 })
  m.start()
  m.tagPeer('early', 'tag', 1)
  await clock.advance(1_000)
  const c = testConnection('early')
  assert.equal(m.connected(c), true)
  await m.trim()
  assert.equal(c.closed, false, 'the grace period starts at the connection, not when the peer was first tagged')
  await clock.advance(100)
  await m.trim()
  assert.equal(c.closed, true)
  await m.close()
})

test('tags survive the disconnection of the peer, unlike go-libp2p', async () => {
  const { m } = setup()
  const c = testConnection('p')
  m.connected(c)
  m.tagPeer('p', 'tag', 7)
  m.protect('p', 'keep')
  m.disconnected(c)
  assert.equal(m.stats().connections, 0)
  const info = m.getTagInfo('p')
  assert.ok(info !== undefined, 'the peer is still known after its last connection closed')
  assert.equal(info.value, 7)
  assert.deepEqual(info.tags, { tag: 7 })
  assert.deepEqual(info.conns, {})
  assert.equal(m.isProtected('p', 'keep'), true)

  const again = testConnection('p')
  assert.equal(m.connected(again), true)
  assert.equal(m.getTagInfo('p')?.value, 7)
  assert.equal(m.listConnections()[0]?.value, 7)
  await m.close()
})

// ── connection accounting ──────────────────────────────────────────────────

test('the same connection reported twice is counted once (go TestDoubleConnection)', async () => {
  const { m } = setup()
  m.start()
  const c = testConnection('p')
  assert.equal(m.connected(c), true)
  assert.equal(m.connected(c), true, 'a repeated notification is not a refusal')
  m.tagPeer('p', 'foo', 10)
  assert.equal(m.stats().connections, 1)
  assert.equal(m.listConnections().length, 1)
  assert.equal(m.getTagInfo('p')?.value, 10)
  assert.deepEqual(Object.keys(m.getTagInfo('p')?.conns ?? {}), [c.id])
  assert.equal(c.closed, false)
  await m.close()
})

test('disconnected() of an unknown connection, or of another connection object of a known peer, is a no-op (go TestDisconnected)', async () => {
  const { m } = setup()
  const c = testConnection('p')
  m.connected(c)
  m.tagPeer('p', 'tag', 3)

  m.disconnected(testConnection('stranger'))
  assert.equal(m.stats().connections, 1)

  const other = testConnection('p') // same peer, another connection id
  m.disconnected(other)
  assert.equal(m.stats().connections, 1)
  assert.deepEqual(Object.keys(m.getTagInfo('p')?.conns ?? {}), [c.id])
  assert.equal(c.closed, false)

  m.disconnected(c)
  assert.equal(m.stats().connections, 0)
  assert.equal(m.getPeer('p')?.connected, false)
  assert.deepEqual(m.getTagInfo('p')?.conns, {})
  m.disconnected(c) // twice: still harmless
  assert.equal(m.stats().connections, 0)
  await m.close()
})

// ── trimming ───────────────────────────────────────────────────────────────

test('trimming 300 connections to lowWater 200 keeps the 100 tagged peers and closes the negatively tagged one (go TestConnTrimming)', async () => {
  const { m } = setup({ lowWater: 200, highWater: 300, gracePeriod: 0 })
  m.start()
  const conns = connectMany(m, 300, 'p')
  for (const c of conns.slice(0, 100)) m.tagPeer(c.peer, 't', 10)
  m.tagPeer(conns[299].peer, 't', -5)
  assert.equal(closedCount(conns), 0)

  let trimmed = -1
  m.events.addEventListener('trim', (e) => { trimmed = e.detail.closed })
  await m.trim()
  assert.equal(closedCount(conns.slice(0, 100)), 0, 'the tagged peers stay open')
  assert.equal(conns[299].closed, true, 'the peer tagged -5 is closed first')
  assert.equal(conns[299].closeReason, 'trimmed')
  assert.equal(closedCount(conns), 100)
  assert.equal(m.stats().connections, 200)
  assert.equal(trimmed, 100)
  await m.close()
})

test('trim closes whole peers, lowest rank first: priority, then tag value, idle before busy, inbound before outbound, newest before oldest, long-term last', async () => {
  const { clock, m } = setup({ lowWater: 9, highWater: 100, gracePeriod: 0 })
  m.start()
  const conns = new Map<string, TestConnection>()
  const add = async (peer: string, init: { direction?: 'inbound' | 'outbound'; streams?: number } = {}): Promise<void> => {
    const c = testConnection(peer, init)
    assert.equal(m.connected(c), true)
    conns.set(peer, c)
    await clock.advance(10)
  }
  // Opened oldest first.
  await add('busy', { streams: 2 })
  await add('outbound', { direction: 'outbound' })
  await add('older')
  await add('newest')
  await add('negative')
  await add('low-priority')
  await add('valued')
  await add('high-priority')
  await add('long-term')
  m.tagPeer('negative', 'score', -5)
  m.setPriority([{ peer: 'low-priority', priority: 'low' }])
  m.tagPeer('low-priority', 'score', 100)
  m.tagPeer('valued', 'score', 50)
  m.setPriority([{ peer: 'high-priority', priority: 'high' }])
  m.tagPeer('high-priority', 'score', -100)
  m.setLongTerm('long-term', true)
  m.setPriority([{ peer: 'long-term', priority: 'low' }])
  m.tagPeer('long-term', 'score', -1_000)

  const expected = ['low-priority', 'negative', 'newest', 'older', 'outbound', 'busy', 'valued', 'high-priority', 'long-term']
  const order: string[] = []
  for (let low = 8; low >= 0; low--) {
    m.setWatermarks(low, 100)
    await m.trim()
    const nowClosed = [...conns.values()].filter((c) => c.closed && !order.includes(c.peer)).map((c) => c.peer)
    assert.equal(nowClosed.length, 1, `lowering lowWater to ${low} closes exactly one peer, closed: ${nowClosed.join(', ')}`)
    order.push(nowClosed[0])
  }
  assert.deepEqual(order, expected)
  for (const c of conns.values()) assert.equal(c.closeReason, 'trimmed')
  await m.close()
})
