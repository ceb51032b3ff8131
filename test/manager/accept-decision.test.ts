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
