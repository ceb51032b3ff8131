import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { visitAddress } from '../../src/node/first-contact.js'
import { MAX_OTHER_POINTS, RendezvousVisits, WITHDRAW_RETRY_DELAYS, withdrawRetryDelay, type RendezvousPoint } from '../../src/node/rendezvous-visits.js'
import { ManualClock } from '../../src/testing/index.js'

/** Visits on a manual clock; every visit succeeds at once and is recorded. */
function visits (bootstrap: RendezvousPoint[] = [], connected = new Set<string>()): { v: RendezvousVisits; clock: ManualClock; visited: string[] } {
  const clock = new ManualClock(0)
  const visited: string[] = []
  const v = new RendezvousVisits({
    points: () => bootstrap,
    isConnected: (peer) => connected.has(peer),
    visit: async (point) => { visited.push(`${point.id}@${point.address}`) },
    clock
  }, { visitTtl: 300_000, minGap: 15_000, timeout: 2_000 })
  return { v, clock, visited }
}

test('a rendezvous point that is not a bootstrap peer and may hold a topic is visited on leave to withdraw it, at the address remembered', async () => {
  const { v, visited } = visits()
  v.announced('p', ['t1', 't2'], 60_000, () => 'tcp://127.0.0.1:1')
  await v.check(['t1', 't2'], true)
  assert.deepEqual(visited, [], 'nothing to withdraw while both topics are announced')
  await v.check(['t2'], true)
  assert.deepEqual(visited, ['p@tcp://127.0.0.1:1'], 'leaving t1 withdraws it there')
})

test('a point that is not a bootstrap peer is never visited to refresh, only to withdraw', async () => {
  const { v, clock, visited } = visits()
  v.announced('p', ['t'], 60_000, () => 'tcp://127.0.0.1:1')
  await clock.advance(59_000)
  await v.check(['t'])
  await v.check([], false)
  assert.deepEqual(visited, [], 'no refresh visit, and a non-urgent check withdraws nothing')
})

test('a point we are connected to is not visited (the unannounce goes over the connection), and one without an address is not remembered', async () => {
  const { v, visited } = visits([], new Set(['p']))
  v.announced('p', ['t'], 60_000, () => 'tcp://127.0.0.1:1')
  v.announced('q', ['t'], 60_000, () => undefined)
  await v.check([], true)
  assert.deepEqual(visited, [])
})

test('a point whose registrations of ours expired is forgotten and never visited', async () => {
  const { v, clock, visited } = visits()
  v.announced('p', ['t'], 60_000, () => 'tcp://127.0.0.1:1')
  await clock.advance(60_000)
  await v.check([], true)
  assert.deepEqual(visited, [])
})

test(`at most ${MAX_OTHER_POINTS} other points are remembered: the one whose registrations expire soonest gives way`, async () => {
  const { v, clock, visited } = visits()
  for (let i = 0; i <= MAX_OTHER_POINTS; i++) {
    v.announced(`p${i}`, ['t'], 60_000, () => `tcp://127.0.0.1:${i + 1}`)
    await clock.advance(1)
  }
  await v.check([], true)
  assert.equal(visited.length, MAX_OTHER_POINTS)
  assert.ok(!visited.includes('p0@tcp://127.0.0.1:1'), 'the oldest registration was forgotten')
  assert.ok(visited.includes(`p${MAX_OTHER_POINTS}@tcp://127.0.0.1:${MAX_OTHER_POINTS + 1}`))
})

test('after a withdrawing visit that left nothing registered, the point is forgotten: a second leave does not visit it again', async () => {
  const { v, visited } = visits()
  v.announced('p', ['t'], 60_000, () => 'tcp://127.0.0.1:1')
  await v.check([], true)
  await v.check([], true)
  assert.deepEqual(visited, ['p@tcp://127.0.0.1:1'])
})

test('a leave while a visit is in flight visits again once it is over: that visit\'s hello still carried the topic left (regression: the bootstrap kept it)', async () => {
  const clock = new ManualClock(0)
  const hellos: string[][] = []
  let finish: (() => void) | undefined
  let wanted: readonly string[] = []
  const v = new RendezvousVisits({
    points: () => [{ id: 'boot', address: 'tcp://127.0.0.1:1' }],
    isConnected: () => false,
    // The hello says what we announce when the visit begins; the first visit hangs until told.
    visit: async () => { hellos.push([...wanted]); if (hellos.length === 1) await new Promise<void>((resolve) => { finish = resolve }) },
    clock
  }, { visitTtl: 300_000, minGap: 15_000, timeout: 2_000 })
  wanted = ['t']
  const refresh = v.check(wanted)
  wanted = []
  let left = false
  const leaving = v.check(wanted, true).then(() => { left = true })
  await Promise.resolve()
  assert.equal(left, false, 'the leave waits for the visit in flight')
  finish!()
  await Promise.all([refresh, leaving])
  assert.deepEqual(hellos, [['t'], []], 'a second visit withdrew the topic the first one registered')
  await v.check([], true)
  assert.equal(hellos.length, 2, 'nothing left to withdraw')
})

/** Visits to one other point on a manual clock, each failing with the next of `failures` (then succeeding). */
function failing (failures: unknown[]): { v: RendezvousVisits; clock: ManualClock; visited: number[] } {
  const clock = new ManualClock(0)
  const visited: number[] = []
  const v = new RendezvousVisits({
    points: () => [],
    isConnected: () => false,
    visit: async () => {
      visited.push(clock.now())
      const err = failures.shift()
      if (err !== undefined) throw err
    },
    clock
  }, { visitTtl: 300_000, minGap: 15_000, timeout: 2_000 })
  v.announced('p', ['t'], 60_000, () => 'tcp://127.0.0.1:1')
  return { v, clock, visited }
}

const refused = new PeerwardenError('ERR_DIAL_FAILED', 'dial to tcp://127.0.0.1:1 failed: connect ECONNREFUSED', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })

test('a withdrawing visit that failed is tried again after a backoff, and the leave waits for it (regression: leave() resolved while the point still handed the node out)', async () => {
  const { v, clock, visited } = failing([new Error('visit timed out')])
  let left = false
  const leaving = v.check([], true).then(() => { left = true })
  await clock.advance(WITHDRAW_RETRY_DELAYS[0]! - 1)
  assert.equal(left, false, 'the leave waits for the withdrawal, not for the first visit')
  assert.deepEqual(visited, [0])
  await clock.advance(1)
  await leaving
  assert.deepEqual(visited, [0, WITHDRAW_RETRY_DELAYS[0]], 'a second visit withdrew it')
  assert.equal(v.counts.withdrawalsAbandoned, 0)
  await v.check([], true)
  assert.equal(visited.length, 2, 'nothing left to withdraw there')
})

test('a withdrawal is given up after four failed visits and counted; the leave then resolves', async () => {
  const { v, clock, visited } = failing(Array.from({ length: 10 }, () => new Error('visit timed out')))
  const leaving = v.check([], true)
  await clock.advance(60_000)
  await leaving
  assert.equal(visited.length, 1 + WITHDRAW_RETRY_DELAYS.length)
  assert.equal(v.counts.withdrawalsAbandoned, 1)
  assert.equal(v.counts.visitsFailed, visited.length)
})

test('a point nobody listens at is given up at once: no retry for a refused connection', async () => {
  const { v, clock, visited } = failing([refused])
  const leaving = v.check([], true)
  await clock.advance(0)
  await leaving
  assert.deepEqual(visited, [0])
  assert.equal(v.counts.withdrawalsAbandoned, 1)
})

test('a failed refresh is not retried by backoff: the next check tries again', async () => {
  const clock = new ManualClock(0)
  let visits = 0
  const v = new RendezvousVisits({
    points: () => [{ id: 'boot', address: 'tcp://127.0.0.1:1' }],
    isConnected: () => false,
    visit: async () => { visits++; throw new Error('visit timed out') },
    clock
  }, { visitTtl: 300_000, minGap: 15_000, timeout: 2_000 })
  await v.check(['t'])
  await clock.advance(10_000)
  assert.equal(visits, 1)
})

test('withdrawRetryDelay: the delays in order, then none; none for a point that is not there', () => {
  assert.deepEqual([0, 1, 2, 3].map((n) => withdrawRetryDelay(n, new Error('visit timed out'))), [...WITHDRAW_RETRY_DELAYS, undefined])
  assert.equal(withdrawRetryDelay(0, refused), undefined)
  assert.equal(withdrawRetryDelay(0, new PeerwardenError('ERR_PEER_MISMATCH', 'another peer')), undefined)
  assert.equal(withdrawRetryDelay(0, new PeerwardenError('ERR_DIAL_FAILED', 'reset', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })), WITHDRAW_RETRY_DELAYS[0])
})

test('a withdrawal visit goes only where we dialled, or to a listen address on the host the connection came from — never to another host a peer named', () => {
  assert.equal(visitAddress({ direction: 'outbound', address: 'tcp://10.0.0.1:4000', remoteListen: ['tcp://10.9.9.9:1'] }), 'tcp://10.0.0.1:4000')
  assert.equal(visitAddress({ direction: 'inbound', address: 'tcp://10.0.0.1:53111', remoteListen: ['tcp://10.9.9.9:1', 'tcp://10.0.0.1:4000'] }), 'tcp://10.0.0.1:4000')
  assert.equal(visitAddress({ direction: 'inbound', address: 'tcp://10.0.0.1:53111', remoteListen: ['tcp://10.9.9.9:1'] }), undefined)
  assert.equal(visitAddress({ direction: 'inbound', address: `tcp://10.0.0.2:4000/relay/${'a'.repeat(64)}`, remoteListen: ['tcp://10.0.0.2:4000'] }), undefined)
})
