import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager, type ConnectionManager } from '../../src/index.js'
import { ManualClock, testConnection, type TestConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

// js-libp2p's connection-pruner.spec.ts, through the manager: with max 5 and a sixth connection the
// pruner closes one connection, chosen by tag value, then age; allow-listed addresses are spared.

const GRACE = 100

function manager (clock: ManualClock, extra: { allow?: string[]; lowWater?: number; highWater?: number } = {}): ConnectionManager {
  return createConnectionManager({ dial: noDial, clock, lowWater: 2, highWater: 5, gracePeriod: GRACE, silencePeriod: 1000, ...extra })
}

/** Connects one inbound connection per peer, `spacing` ms apart, and returns them. */
async function connectAll (m: ConnectionManager, clock: ManualClock, peers: Array<{ id: string; address?: string }>, spacing = 10): Promise<TestConnection[]> {
  const out: TestConnection[] = []
  for (const p of peers) {
    const c = testConnection(p.id, { address: p.address ?? `tcp://10.0.0.${out.length + 1}:4001` })
    assert.equal(m.connected(c), true, `${p.id} is accepted below the bound`)
    out.push(c)
    await clock.advance(spacing)
  }
  return out
}

function open (conns: readonly TestConnection[]): string[] {
  return conns.filter((c) => !c.closed).map((c) => c.peer)
}

test('with highWater 5, a sixth connection closes the peer with the lowest tag value', async () => {
  const clock = new ManualClock()
  const m = manager(clock)
  m.start()
  const values = [40, 30, 5, 20, 50] // the lowest is neither the newest nor the oldest
  const peers = values.map((_, i) => ({ id: `p${i}` }))
  values.forEach((v, i) => { m.tagPeer(`p${i}`, 'score', v) })
  const conns = await connectAll(m, clock, peers)
  await clock.advance(GRACE) // everyone is out of the grace period
  m.tagPeer('p5', 'score', 1) // the newcomer is the lowest of all: it is still never the one evicted
  const sixth = testConnection('p5')
  assert.equal(m.connected(sixth), true)
  assert.equal(conns[2].closeReason, 'trimmed', 'the peer tagged 5 is closed')
  assert.deepEqual(open(conns), ['p0', 'p1', 'p3', 'p4'])
  assert.equal(sixth.closed, false)
  assert.equal(m.stats().connections, 5)
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['p0', 'p1', 'p3', 'p4', 'p5'])
  await m.close()
})

test('with equal tags, the shortest-lived connection is closed and the longest-lived one kept', async () => {
  const clock = new ManualClock()
  const m = manager(clock)
  m.start()
  const peers = [0, 1, 2, 3, 4].map((i) => ({ id: `p${i}` }))
  for (const p of peers) m.tagPeer(p.id, 'score', 10)
  const conns = await connectAll(m, clock, peers, 25) // p0 oldest … p4 newest
  await clock.advance(GRACE)
  assert.equal(m.connected(testConnection('p5')), true)
  assert.equal(conns[4].closeReason, 'trimmed', 'the newest (shortest-lived) is closed')
  assert.equal(conns[0].closed, false, 'the oldest (longest-lived) is kept')
  assert.deepEqual(open(conns), ['p0', 'p1', 'p2', 'p3'])
  await m.close()
})

for (const entry of ['127.0.0.1', '127.0.0.0/8']) {
  test(`a connection from an IP allow-listed as ${entry} is not closed even with the lowest tag`, async () => {
    const clock = new ManualClock()
    const m = manager(clock, { allow: [entry] })
    m.start()
    const peers = [
      { id: 'p0', address: 'tcp://10.0.0.1:1234' },
      { id: 'p1', address: 'tcp://127.0.0.1:1234' }, // allow-listed, lowest tag
      { id: 'p2', address: 'tcp://10.0.0.2:1234' },
      { id: 'p3', address: 'tcp://10.0.0.3:1234' },
      { id: 'p4', address: 'tcp://10.0.0.4:1234' }
    ]
    const values = [20, 1, 40, 10, 50]
    values.forEach((v, i) => { m.tagPeer(`p${i}`, 'score', v) })
    const conns = await connectAll(m, clock, peers)
    await clock.advance(GRACE)
    assert.equal(m.connected(testConnection('p5', { address: 'tcp://10.0.0.5:1234' })), true)
    assert.equal(conns[1].closed, false, 'the allow-listed peer survives')
    assert.equal(conns[3].closeReason, 'trimmed', 'the lowest-tagged peer that is not allow-listed is closed instead')
    assert.deepEqual(open(conns), ['p0', 'p1', 'p2', 'p4'])
    // An explicit trim, once p5 is out of grace, spares it too, though it has the lowest tag. (A trim
    // counts only trimmable connections against lowWater 2, as go-libp2p's connmgr does: of the four
    // trimmable peers p5 (0), p0 (20), p2 (40), p4 (50), the two lowest go.)
    await clock.advance(GRACE)
    await m.trim()
    assert.equal(conns[1].closed, false)
    assert.equal(conns[0].closeReason, 'trimmed')
    assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['p1', 'p2', 'p4'])
    await m.close()
  })
}

test('with no tags at all, exactly the excess is closed, newest first — before start() too, since the bound holds from creation', async () => {
  const clock = new ManualClock()
  // js-libp2p's test accounts six connections, then prunes; here the sixth meets the bound at once.
  const m = manager(clock)
  const conns = await connectAll(m, clock, [0, 1, 2, 3, 4].map((i) => ({ id: `p${i}` })))
  await clock.advance(GRACE)
  const sixth = testConnection('p5')
  assert.equal(m.connected(sixth), true)
  assert.equal(conns.filter((c) => c.closed).length, 1, 'exactly one connection is closed')
  assert.equal(conns[4].closeReason, 'trimmed', 'the newest one (the newcomer is never the one evicted)')
  assert.equal(m.stats().connections, 5)
  assert.equal(m.running, false)
  await m.close()
})

test('a sixth connection without tags evicts exactly one peer, the newest out of its grace period', async () => {
  const clock = new ManualClock()
  const m = manager(clock)
  m.start()
  const conns = await connectAll(m, clock, [0, 1, 2, 3, 4].map((i) => ({ id: `p${i}` })), 30)
  // Opened at 0, 30, 60, 90, 120; now 150 with grace 100: only p0 and p1 are out of their grace period.
  await clock.advance(0)
  assert.equal(clock.now(), 150)
  const sixth = testConnection('p5')
  assert.equal(m.connected(sixth), true)
  assert.equal(conns.filter((c) => c.closed).length, 1)
  assert.equal(conns[1].closeReason, 'trimmed', 'p1 (opened at 30) is the newest peer out of grace; p2, p3 and p4 are spared')
  assert.equal(m.stats().connections, 5)
  await m.close()
})

test('trim() and a lowered limit close exactly the excess, lowest tag first', async () => {
  const clock = new ManualClock()
  const m = manager(clock, { lowWater: 3, highWater: 8 })
  m.start()
  const values = [7, 3, 9, 1, 8, 2, 6]
  values.forEach((v, i) => { m.tagPeer(`p${i}`, 'score', v) })
  const conns = await connectAll(m, clock, values.map((_, i) => ({ id: `p${i}` })))
  await clock.advance(GRACE)
  m.setMaxConnections(5) // highWater 5: the two lowest (1 and 2) go at once
  assert.deepEqual(conns.filter((c) => c.closed).map((c) => c.peer).sort(), ['p3', 'p5'])
  assert.equal(m.stats().connections, 5)
  await m.trim() // down to lowWater 3: then 3 and 6
  assert.deepEqual(conns.filter((c) => c.closed).map((c) => c.peer).sort(), ['p1', 'p3', 'p5', 'p6'])
  assert.equal(conns.every((c) => !c.closed || c.closeReason === 'trimmed'), true)
  assert.deepEqual(open(conns), ['p0', 'p2', 'p4'])
  await m.trim() // at lowWater: nothing more
  assert.equal(m.stats().connections, 3)
  await m.close()
})

test('a lowered limit holds at once even when every connection is in its grace period', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, lowWater: 1, highWater: 4, gracePeriod: GRACE, silencePeriod: 30 })
  m.start()
  const conns = await connectAll(m, clock, [0, 1, 2, 3].map((i) => ({ id: `p${i}` })), 1)
  m.setWatermarks(1, 2)
  assert.equal(m.stats().connections, 2, 'back at highWater 2 at once')
  // newest first among equals: p3 and p2 go
  assert.deepEqual(open(conns), ['p0', 'p1'])
  assert.equal(conns.every((c) => !c.closed || c.closeReason === 'trimmed'), true)
  await m.close()
})

test('start() above highWater holds the bound at once, in-grace connections included', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, lowWater: 1, highWater: 2, gracePeriod: GRACE, silencePeriod: 30 })
  for (const p of ['p0', 'p1', 'p2', 'p3']) m.protect(p, 'app')
  const conns = await connectAll(m, clock, [0, 1, 2, 3].map((i) => ({ id: `p${i}` })), 0) // protected: forced past the bound
  for (const p of ['p1', 'p2', 'p3']) m.unprotect(p, 'app') // trimmable now, but background trims wait for start()
  assert.equal(m.stats().connections, 4)
  m.start()
  assert.equal(m.stats().connections, 2)
  assert.equal(conns[0].closed, false, 'the protected peer stays')
  await m.close()
})

test('trim() after a same-millisecond duplicate among many expiring connections closes each peer once', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, localPeer: 'zz', lowWater: 0, highWater: 100, gracePeriod: GRACE, silencePeriod: 30 })
  m.start()
  const conns: TestConnection[] = []
  for (let i = 0; i < 33; i++) {
    const c = testConnection(`p${String(i).padStart(2, '0')}`)
    assert.equal(m.connected(c), true)
    conns.push(c)
  }
  // Both sides dialled at once: our outbound connection to p00 wins the tie-break ('zz' > 'p00').
  const dup = testConnection('p00', { direction: 'outbound' })
  assert.equal(m.connected(dup), true)
  assert.equal(conns[0].closeReason, 'duplicate')
  await clock.advance(3 * GRACE) // 33 grace periods end together
  const closed: string[] = []
  m.events.addEventListener('connection:closed', (e) => { closed.push(e.detail.connection.id) })
  await m.trim() // lowWater 0: every trimmable peer goes
  assert.equal(new Set(closed).size, closed.length, 'no connection is closed twice')
  assert.equal(closed.length, 33)
  assert.equal(m.stats().connections, 0)
  assert.deepEqual([m.stats().inbound, m.stats().outbound], [0, 0])
  await m.close()
})

test('lowering the limit holds it at once: in-grace connections go too, lowest-ranked first; protected ones stay', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, clock, lowWater: 4, highWater: 10, gracePeriod: 60_000 })
  m.start()
  const conns = await connectAll(m, clock, Array.from({ length: 8 }, (_, i) => ({ id: `p${i}` })), 10)
  m.tagPeer('p0', 'valuable', 50)
  m.tagPeer('p1', 'valuable', 40)
  m.protect('p7', 'app')
  // all 8 are inside their grace period (60 s)
  m.setMaxConnections(3)
  const open = conns.filter((c) => !c.closed).map((c) => c.peer).sort()
  assert.deepEqual(open, ['p0', 'p1', 'p7'])
  assert.equal(m.stats().connections, 3)
  // a watermark trim still spares in-grace connections (go-libp2p semantics)
  const m2 = createConnectionManager({ dial: noDial, clock, lowWater: 1, highWater: 10, gracePeriod: 60_000 })
  m2.start()
  const more = await connectAll(m2, clock, Array.from({ length: 6 }, (_, i) => ({ id: `q${i}` })), 10)
  await m2.trim()
  assert.equal(more.filter((c) => c.closed).length, 0)
  await m.close()
  await m2.close()
})
