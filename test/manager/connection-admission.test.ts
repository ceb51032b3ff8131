import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AccessList } from '../../src/manager/access-list.js'
import { AdmissionGate, type AdmissionHost } from '../../src/manager/connection-admission.js'
import type { PeerKnowledge } from '../../src/manager/peer-knowledge.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import type { TrimScheduler } from '../../src/manager/trim-scheduler.js'
import { resolveOptions } from '../../src/manager/validate.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

// The gate alone, on a host whose trim scheduler offers one fixed victim: what it decides, changing nothing.
function gate (count: number, opts: { allow?: string[] } = {}): { gate: AdmissionGate; clock: ManualClock; victim: PeerRecord; asked: Array<string | undefined> } {
  const clock = new ManualClock()
  const victim = new PeerRecord('victim', 'victim', 0)
  const asked: Array<string | undefined> = []
  const trimming = {
    lowest: (except: PeerRecord | undefined) => { asked.push(except?.key); return victim },
    evicting: () => {},
    index: { size: 1 }
  } as unknown as TrimScheduler
  const host: AdmissionHost = {
    clock,
    opts: resolveOptions({ dial: async () => { throw new Error('no dial') }, lowWater: 1, highWater: 4, gracePeriod: 1000 }),
    knowledge: { lookup: () => ({ byAddress: undefined, own: undefined }) } as unknown as PeerKnowledge,
    trimming,
    allowList: new AccessList('allow', opts.allow ?? []),
    denyList: new AccessList('deny', []),
    closed: () => false
  }
  return { gate: new AdmissionGate(host, () => count), clock, victim, asked }
}

test('below the bound the gate accepts without asking the trim scheduler for a victim', () => {
  const { gate: g, asked } = gate(3)
  const d = g.decide(undefined, 'p', 'tcp://20.1.2.7:4001', false)
  assert.equal(d.accept, true)
  assert.equal(d.accept && d.evict, undefined)
  assert.deepEqual(asked, [])
})

test('at the bound a stranger takes the lowest-ranked peer\'s place, and a second stranger from the same /24 within a grace period is refused', async () => {
  const { gate: g, clock, victim } = gate(4)
  const first = g.decide(undefined, 'a', 'tcp://20.1.2.7:4001', false)
  assert.equal(first.accept && first.evict, victim)
  const why = g.evicting(new TestConnection({ peer: 'a', address: 'tcp://20.1.2.7:4001' }), victim, clock.now())
  assert.equal(why.reason, 'trimmed: evicted to make room for a at highWater 4: lowest-ranked trimmable peer (priority medium, value 0, idle, outbound)')
  const second = g.decide(undefined, 'b', 'tcp://20.1.2.9:4001', false)
  assert.deepEqual(second.accept ? undefined : second.close, 'over-limit')
  assert.equal(g.decide(undefined, 'c', 'tcp://20.9.9.9:4001', false).accept, true, 'another range is not limited')
  await clock.advance(1000)
  assert.equal(g.decide(undefined, 'b', 'tcp://20.1.2.9:4001', false).accept, true, 'once the grace period ended')
})

test('a connection of a peer the application dials now is forced, by key or by address, only while the dial runs', async () => {
  const { gate: g, clock, asked } = gate(4)
  const record = new PeerRecord('p', 'p', 0)
  record.addresses = ['tcp://20.1.2.7:4001']
  g.evicting(new TestConnection({ peer: 'x', address: 'tcp://20.1.2.8:4001' }), new PeerRecord('v', 'v', 0), clock.now())
  // The range took a place just now: a stranger from it is refused, the forced dial is not.
  assert.equal(g.decide(record, 'p', 'tcp://20.1.2.7:4001', false).accept, false)
  let during: boolean[] = []
  await g.forcedWhile(record, async () => {
    during = [g.decide(record, 'p', undefined, false).accept, g.decide(undefined, 'q', 'tcp://20.1.2.7:4001', false).accept]
    return new TestConnection({ peer: 'p' })
  })
  assert.deepEqual(during, [true, true], 'by key and by address')
  assert.equal(g.decide(record, 'p', 'tcp://20.1.2.7:4001', false).accept, false, 'after the dial: a stranger again')
  assert.ok(asked.length > 0)
})

test('admits() asks decide()\'s question and changes nothing: the range that took a place is not recorded', () => {
  const { gate: g } = gate(4)
  assert.equal(g.admits('a', 'tcp://20.1.2.7:4001'), true)
  assert.equal(g.admits('b', 'tcp://20.1.2.9:4001'), true, 'no place was taken by asking')
})
