import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { EARLY_RETRIES, NodeDialer, refusedEarly } from '../../src/node/node-dial.js'
import { ManualClock } from '../../src/testing/index.js'

// The node's dial after an early refusal (the remote took the TCP connection and closed it before
// answering the handshake: over its per-IP budgets), in virtual time.

const closedEarly = (): PeerwardenError => new PeerwardenError('ERR_DIAL_FAILED', 'dial failed: the remote closed the connection during the handshake', { cause: new PeerwardenError('ERR_CONNECTION_CLOSED', 'the remote closed the connection during the handshake') })
const refused = (): PeerwardenError => new PeerwardenError('ERR_DIAL_FAILED', 'connect ECONNREFUSED', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
const conn = { verdict: async () => {}, close: () => {} } as unknown as NodeConnection

/** A dialer over a transport whose dials fail with `failures` in turn, then succeed; the times of its dials. */
function setUp (failures: Array<() => Error>): { clock: ManualClock; dialer: NodeDialer; at: number[] } {
  const clock = new ManualClock(0)
  const at: number[] = []
  const transport = {
    dial: async () => {
      at.push(clock.now())
      const f = failures.shift()
      if (f !== undefined) throw f()
      return conn
    }
  }
  // random() = 0.5: the wait is exactly its mean, 1000 ms.
  const dialer = new NodeDialer(transport, { hello: () => {}, settled: () => {} }, { clock, random: () => 0.5 })
  dialer.retryEarlyFor(['tcp://10.0.0.1:4001#b'])
  return { clock, dialer, at }
}

test('an early refusal is retried within the same dial after about a second, not left to the manager\'s backoff', async () => {
  const { clock, dialer, at } = setUp([closedEarly, closedEarly])
  let done = false
  const p = dialer.dial('tcp://10.0.0.1:4001#b', { peer: 'b', signal: new AbortController().signal }).then((c) => { done = true; return c })
  await clock.advance(999)
  assert.deepEqual(at, [0], 'no retry before the wait')
  await clock.advance(1)
  assert.deepEqual(at, [0, 1000])
  await clock.advance(1000)
  assert.equal(await p, conn)
  assert.ok(done)
  assert.deepEqual(at, [0, 1000, 2000])
  assert.deepEqual({ dials: dialer.dials, failed: dialer.failed, retriedEarly: dialer.retriedEarly }, { dials: 1, failed: 0, retriedEarly: 2 })
})

test('the retries after early refusals are bounded: the dial then fails into the manager\'s backoff', async () => {
  const { clock, dialer, at } = setUp(Array.from({ length: EARLY_RETRIES + 1 }, () => closedEarly))
  const p = dialer.dial('tcp://10.0.0.1:4001#b', { peer: 'b', signal: new AbortController().signal })
  const rejected = assert.rejects(p, (err: PeerwardenError) => refusedEarly(err))
  await clock.advance(10_000)
  await rejected
  assert.equal(at.length, EARLY_RETRIES + 1)
  assert.deepEqual({ dials: dialer.dials, failed: dialer.failed }, { dials: 1, failed: 1 })
})

test('an early refusal of an address heard from peers (not a bootstrap node\'s) is not retried: it may be an unrelated service', async () => {
  const { dialer, at } = setUp([closedEarly])
  await assert.rejects(dialer.dial('tcp://10.0.0.9:4001#c', { peer: 'c', signal: new AbortController().signal }), (err: PeerwardenError) => refusedEarly(err))
  assert.deepEqual(at, [0])
  assert.equal(dialer.retriedEarly, 0)
})

test('a refused connection (nobody listens) or a handshake error is not retried', async () => {
  for (const f of [refused, () => new PeerwardenError('ERR_HANDSHAKE', 'bad'), () => new PeerwardenError('ERR_DIAL_FAILED', 'reset', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })]) {
    const { dialer, at } = setUp([f])
    await assert.rejects(dialer.dial('tcp://10.0.0.1:4001#b', { peer: 'b', signal: new AbortController().signal }))
    assert.deepEqual(at, [0])
    assert.equal(dialer.retriedEarly, 0)
  }
})

test('a dial called off while it waits to retry ends at once with ERR_ABORTED, not counted as failed', async () => {
  const { clock, dialer, at } = setUp([closedEarly])
  const ac = new AbortController()
  const p = dialer.dial('tcp://10.0.0.1:4001#b', { peer: 'b', signal: ac.signal })
  await clock.advance(500)
  ac.abort()
  await assert.rejects(p, { code: 'ERR_ABORTED' })
  await clock.advance(5000)
  assert.deepEqual(at, [0], 'no retry after the abort')
  assert.equal(dialer.failed, 0)
  assert.equal(clock.pending, 0, 'the wait\'s timer is gone')
})
