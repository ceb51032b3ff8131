import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { BreakerState } from '../../src/mesh/breaker.js'
import { HEALTH_INTERVAL, healthReport, HealthReporter } from '../../src/mesh/health.js'
import { MAX_HEALTH_BREAKERS, type HealthReport } from '../../src/mesh/messages.js'
import { MAX_STATUS_BREAKERS, memberStatuses } from '../../src/mesh/registry-status.js'
import { ManualClock } from '../../src/testing/index.js'

// The health a mesh node reports to its registries, in virtual time: what a report holds, when it
// is sent, and how often.

const peer = (n: number): string => n.toString(16).padStart(64, '0')

test('healthReport keeps the breakers that are not closed, by peer id, at most MAX_HEALTH_BREAKERS', () => {
  assert.deepEqual(healthReport(false, []), { draining: false, breakers: [] })
  assert.deepEqual(healthReport(true, [{ peer: peer(2), state: 'open' }, { peer: peer(3), state: 'closed' }, { peer: peer(1), state: 'half-open' }]), {
    draining: true,
    breakers: [{ peer: peer(1), state: 'half-open' }, { peer: peer(2), state: 'open' }]
  })
  const many = Array.from({ length: MAX_HEALTH_BREAKERS + 10 }, (_, i) => ({ peer: peer(i), state: 'open' as const }))
  assert.equal(healthReport(false, many).breakers.length, MAX_HEALTH_BREAKERS)
})

function setup (): { clock: ManualClock; breakers: Map<string, BreakerState>; sent: Array<{ at: number; report: HealthReport }>; reporter: HealthReporter } {
  const clock = new ManualClock(10_000)
  const breakers = new Map<string, BreakerState>()
  const reporter = new HealthReporter({ breakers: () => [...breakers].map(([p, state]) => ({ peer: p, state })), clock })
  const sent: Array<{ at: number; report: HealthReport }> = []
  reporter.add('r1', 'channel-1', (report) => { sent.push({ at: clock.now(), report }) })
  return { clock, breakers, sent, reporter }
}

test('a node that is up with no breaker open sends nothing; draining is sent at once', () => {
  const { sent, reporter } = setup()
  reporter.check()
  assert.equal(sent.length, 0)
  reporter.drain()
  assert.deepEqual(sent.map((s) => s.report), [{ draining: true, breakers: [] }])
  reporter.check()
  assert.equal(sent.length, 1, 'no change, nothing sent')
})

test('changes are sent at most once per HEALTH_INTERVAL, the last state when the interval ends', async () => {
  const { clock, breakers, sent, reporter } = setup()
  breakers.set(peer(1), 'open')
  reporter.check()
  assert.deepEqual(sent.map((s) => s.at), [10_000])
  breakers.set(peer(2), 'open')
  reporter.check()
  breakers.set(peer(3), 'open')
  reporter.check()
  assert.equal(sent.length, 1, 'rate-limited')
  await clock.advance(HEALTH_INTERVAL)
  assert.deepEqual(sent.map((s) => [s.at, s.report.breakers.length]), [[10_000, 1], [10_000 + HEALTH_INTERVAL, 3]])
  // Everything closes again: the registry hears the default report (it held breakers).
  breakers.clear()
  await clock.advance(HEALTH_INTERVAL)
  assert.deepEqual(sent[sent.length - 1].report, { draining: false, breakers: [] })
  const count = sent.length
  await clock.advance(10 * HEALTH_INTERVAL)
  assert.equal(sent.length, count, 'nothing more once nothing changes')
})

test('a breaker that turns half-open with time (no call) is reported by the poll', async () => {
  const { clock, breakers, sent, reporter } = setup()
  breakers.set(peer(1), 'open')
  reporter.check()
  breakers.set(peer(1), 'half-open')
  await clock.advance(HEALTH_INTERVAL)
  assert.deepEqual(sent.map((s) => s.report.breakers[0].state), ['open', 'half-open'])
})

test('a registry added later hears the current report at once; a renewal on the same channel sends nothing; a stale channel\'s close does not remove the new one', () => {
  const { breakers, sent, reporter } = setup()
  breakers.set(peer(1), 'open')
  const r2: HealthReport[] = []
  reporter.add('r2', 'channel-a', (report) => { r2.push(report) })
  assert.equal(r2.length, 1)
  reporter.add('r2', 'channel-a', (report) => { r2.push(report) })
  assert.equal(r2.length, 1, 'a renewal')
  reporter.add('r2', 'channel-b', (report) => { r2.push(report) })
  assert.equal(r2.length, 2, 'a new connection hears it again')
  reporter.remove('r2', 'channel-a')
  reporter.drain()
  assert.equal(r2.length, 2, 'rate-limited, still listed')
  reporter.remove('r2', 'channel-b')
  reporter.close()
  reporter.check()
  assert.equal(sent.length, 1, 'r1 heard draining once (now closed)')
})

test('the registry\'s status carries each member\'s last report, with at most `budget` breakers over all members', () => {
  const entry = (n: number) => ({ peer: peer(n), role: 'Worker', variant: `w${n}`, addresses: [] })
  const open = (k: number): HealthReport => ({ draining: false, breakers: Array.from({ length: k }, (_, i) => ({ peer: peer(100 + i), state: 'open' as const })) })
  const rows = memberStatuses([
    { entry: entry(1), since: 1, expires: 2 },
    { entry: entry(2), since: 1, expires: 2, health: open(3) },
    { entry: entry(3), since: 1, expires: 2, health: open(3) },
    { entry: entry(4), since: 1, expires: 2, health: { draining: true, breakers: open(2).breakers } }
  ], 4)
  assert.deepEqual(rows.map((r) => [r.variant, r.health?.draining, r.health?.breakers.length]), [['w1', undefined, undefined], ['w2', false, 3], ['w3', false, 1], ['w4', true, 0]])
  assert.equal('health' in rows[0], false)
  assert.equal(MAX_STATUS_BREAKERS >= 4096, true, 'room for every member to report a few')
})
