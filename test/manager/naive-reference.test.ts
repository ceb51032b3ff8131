import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'
import { NaiveConnMgr } from '../../bench/reference/naive-connmgr.js'

// The benchmarks divide by this reference: it must decide what the manager decides, only slower.

async function both (n: number, low: number, high: number): Promise<{ m: ReturnType<typeof createConnectionManager>; naive: NaiveConnMgr; pw: TestConnection[]; nv: TestConnection[]; clock: ManualClock }> {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async () => { throw new Error('no dial') }, clock, lowWater: low, highWater: high, gracePeriod: 1000 })
  const naive = new NaiveConnMgr(low, high, 1000, () => clock.now())
  const pw: TestConnection[] = []
  const nv: TestConnection[] = []
  for (let i = 0; i < n; i++) {
    const init = { peer: `p${i}`, direction: i % 2 === 0 ? 'inbound' as const : 'outbound' as const }
    pw.push(new TestConnection(init))
    nv.push(new TestConnection(init))
    assert.ok(m.connected(pw[i]!))
    assert.ok(naive.connected(nv[i]!))
    // Distinct values: the order is the rank alone, with no tie left to insertion order.
    m.tagPeer(`p${i}`, 'v', (i * 37) % n)
    naive.tagPeer(`p${i}`, (i * 37) % n)
  }
  await clock.advance(3000)
  m.start()
  return { m, naive, pw, nv, clock }
}

const closed = (conns: TestConnection[]): string[] => conns.filter((c) => c.closed).map((c) => c.peer).sort()

test('the naive reference trims the same peers as trim()', async () => {
  const { m, naive, pw, nv } = await both(200, 120, 200)
  await m.trim()
  assert.equal(naive.trim(), 80)
  assert.deepEqual(closed(nv), closed(pw))
  assert.equal(closed(pw).length, 80)
  await m.close()
})

test('the naive reference evicts the same peer as an inbound connection at the bound', async () => {
  const { m, naive, pw, nv } = await both(200, 100, 200)
  for (let k = 0; k < 5; k++) {
    assert.ok(m.connected(new TestConnection({ peer: `new${k}` })))
    assert.ok(naive.connected(new TestConnection({ peer: `new${k}` })))
    assert.deepEqual(closed(nv), closed(pw), `after newcomer ${k}`)
  }
  assert.equal(closed(pw).length, 5)
  await m.close()
})

test('the naive reference picks the same next dials as the dial order', () => {
  const clock = new ManualClock()
  const naive = new NaiveConnMgr(8, 16, 1000, () => clock.now())
  naive.addPeers(Array.from({ length: 50 }, (_, i) => `k${i}`))
  naive.peers.get('k7')!.successes = 3
  naive.peers.get('k7')!.lastConnected = 0
  naive.peers.get('k9')!.priority = 'high'
  naive.peers.get('k3')!.nextDialAt = 10_000
  const picked = naive.nextDials(4).map((r) => r.id)
  assert.deepEqual(picked, ['k9', 'k7', 'k0', 'k1'], 'high priority first, then a proven peer, then first come; k3 waits')
})

test('the naive reference and trim() close the same peers when a trim takes a few of many (the heap walk, not the sort)', async () => {
  const { m, naive, pw, nv } = await both(1000, 900, 1000)
  await m.trim()
  assert.equal(naive.trim(), 100)
  assert.equal(closed(pw).length, 100, 'more than 64 and at most an eighth of the index: the walk')
  assert.deepEqual(closed(nv), closed(pw))
  await m.close()
})
