import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { acceptedReason } from '../../src/manager/accept-decision.js'
import { admit, belowBoundReason, BELOW_BOUND } from '../../src/manager/admission.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

const noDial = async (): Promise<never> => { throw new Error('no dial') }

test('an admission below the bound is the one shared object, and the newcomer\'s place under highWater is its reason in the log', () => {
  const a = admit({ priority: 'medium', allowed: false, forced: false, count: 4, highWater: 10, victim: undefined, trimmable: 0 })
  assert.equal(a, BELOW_BOUND)
  assert.equal(a, admit({ priority: 'low', allowed: true, forced: false, count: 0, highWater: 1, victim: undefined, trimmable: 0 }))
  assert.ok(a.accept && a.evict === undefined)
  assert.ok(Object.isFrozen(a))
  assert.equal(belowBoundReason(4, 10), '5 of highWater 10')
})

test('the accepted reason names the direction, then the admission', () => {
  assert.equal(acceptedReason('outbound', belowBoundReason(4, 10)), 'outbound connection accepted: 5 of highWater 10')
})

test('explain() shows the reason of a connection accepted below the bound as a plain decision', async () => {
  const clock = new ManualClock(1000)
  const m = createConnectionManager({ dial: noDial, lowWater: 2, highWater: 3, clock })
  m.connected(new TestConnection({ peer: 'a', id: 'ca', direction: 'inbound' }))
  m.connected(new TestConnection({ peer: 'b', id: 'cb', direction: 'outbound' }))
  assert.deepEqual(m.explain('a'), [{ at: 1000, action: 'accept', reason: 'inbound connection accepted: 1 of highWater 3' }])
  assert.deepEqual(m.explain('b'), [{ at: 1000, action: 'accept', reason: 'outbound connection accepted: 2 of highWater 3' }])
  m.disconnected(new TestConnection({ peer: 'a', id: 'ca', direction: 'inbound' }))
  m.connected(new TestConnection({ peer: 'a', id: 'ca2', direction: 'outbound' }))
  assert.deepEqual(m.explain('a').map((d) => d.reason), [
    'inbound connection accepted: 1 of highWater 3',
    'the transport reported the connection closed',
    'outbound connection accepted: 2 of highWater 3'
  ], 'each accept keeps its own count')
  await m.close()
})

test('a refusal at the bound is one shared answer per highWater and priority, and explain() shows its exact text', async () => {
  const input = { allowed: false, forced: false, count: 2, highWater: 2, victim: undefined, trimmable: 0 } as const
  const none = admit({ ...input, priority: 'medium' })
  assert.equal(none, admit({ ...input, priority: 'low' }), 'nothing trimmable: one answer whatever the priority')
  assert.ok(!none.accept && none.close === 'over-limit' && Object.isFrozen(none))
  assert.equal(none.reason, 'at highWater 2 and no connection is trimmable (all protected, allow-listed or in grace)')
  assert.notEqual(admit({ ...input, highWater: 3, count: 3, priority: 'medium' }), none, 'another bound, another answer')

  const clock = new ManualClock(1000)
  const m = createConnectionManager({ dial: noDial, lowWater: 0, highWater: 1, gracePeriod: 60_000, clock })
  m.connected(new TestConnection({ peer: 'a', id: 'ca', direction: 'inbound' }))
  m.tagPeer('b', 'known', 1) // a known record: its refusal goes to its own log
  m.connected(new TestConnection({ peer: 'b', id: 'cb', direction: 'inbound' }))
  assert.deepEqual(m.explain('b').filter((d) => d.action === 'refuse'), [
    { at: 1000, action: 'refuse', reason: 'over-limit: at highWater 1 and no connection is trimmable (all protected, allow-listed or in grace)' }
  ])
  await m.close()
})

test('a connection the transport closed is explained by its code with the same text each time, past explainDepth', async () => {
  const clock = new ManualClock(1000)
  const m = createConnectionManager({ dial: noDial, lowWater: 2, highWater: 3, explainDepth: 3, clock })
  for (let i = 0; i < 5; i++) {
    const c = new TestConnection({ peer: 'a', id: `ca${i}`, direction: 'inbound' })
    m.connected(c)
    await clock.advance(10)
    m.disconnected(c)
  }
  assert.deepEqual(m.explain('a'), [
    { at: 1040, action: 'disconnected', reason: 'the transport reported the connection closed' },
    { at: 1040, action: 'accept', reason: 'inbound connection accepted: 1 of highWater 3' },
    { at: 1050, action: 'disconnected', reason: 'the transport reported the connection closed' }
  ], 'the newest explainDepth decisions')
  await m.close()
})
