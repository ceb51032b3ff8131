import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'

// The `accepted` hook: how a transport hears of the connections the manager accepts (the node adopts
// its connections through it), called directly rather than through the manager's own events.

const noDial = async (): Promise<never> => { throw new Error('no') }

test('accepted is called once per accepted connection, before peer:connected; a refused one is never seen', async () => {
  const order: string[] = []
  const m = createConnectionManager({
    dial: noDial,
    clock: new ManualClock(),
    highWater: 1,
    lowWater: 1,
    gracePeriod: 60_000,
    deny: ['denied'],
    accepted: (conn, replaced) => { order.push(`hook ${conn.peer} ${String(replaced)}`) }
  })
  m.events.addEventListener('peer:connected', (e) => { order.push(`event ${e.detail.peer}`) })
  const a = testConnection('a')
  assert.equal(m.connected(a), true)
  assert.equal(m.connected(a), true, 'a repeated notification')
  assert.equal(m.connected(testConnection('denied')), false)
  assert.equal(m.connected(testConnection('b')), false, 'over the bound, nothing may give way')
  assert.deepEqual(order, ['hook a false', 'event a'])
  await m.close()
})

test('accepted sees a connection that replaced a duplicate with replaced = true, and no peer:connected follows', async () => {
  const seen: Array<[string, boolean]> = []
  let connectedEvents = 0
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), localPeer: 'a', accepted: (conn, replaced) => { seen.push([conn.id, replaced]) } })
  m.events.addEventListener('peer:connected', () => { connectedEvents++ })
  const first = testConnection('z', { direction: 'outbound', id: 'first' })
  const second = testConnection('z', { direction: 'inbound', id: 'second' })
  assert.equal(m.connected(first), true)
  assert.equal(m.connected(second), true)
  assert.equal(first.closeReason, 'duplicate', 'the tie-break keeps the connection initiated by the larger id')
  assert.deepEqual(seen, [['first', false], ['second', true]])
  assert.equal(connectedEvents, 1)
  await m.close()
})

test('an accepted hook that throws is a hook:error: the connection stays accepted and peer:connected still fires', async () => {
  const errors: Array<{ hook: string; peer: string; error: Error }> = []
  let connectedEvents = 0
  const m = createConnectionManager({ dial: noDial, clock: new ManualClock(), accepted: () => { throw new Error('adopt failed') } })
  m.events.addEventListener('hook:error', (e) => { errors.push(e.detail) })
  m.events.addEventListener('peer:connected', () => { connectedEvents++ })
  const conn = testConnection('p')
  assert.equal(m.connected(conn), true)
  assert.equal(conn.closed, false)
  assert.equal(connectedEvents, 1)
  assert.equal(errors.length, 1)
  assert.equal(errors[0].hook, 'accepted')
  assert.equal(errors[0].peer, 'p')
  assert.match(errors[0].error.message, /adopt failed/)
  assert.equal(m.stats().hookErrors, 1)
  await m.close()
})

test('accepted must be a function', () => {
  assert.throws(() => createConnectionManager({ dial: noDial, accepted: 42 as never }), /accepted/)
})
