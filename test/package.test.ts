import assert from 'node:assert/strict'
import { test } from 'node:test'
// Self-reference: the package's own "exports" resolve to the built dist/ (npm run build first).
import { PeerwardenError, Priority, bump, createConnectionManager, decay } from 'peerwarden'
import { ManualClock, MemoryNetwork } from 'peerwarden/testing'

test('the package entry points resolve by name and work together', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const m = createConnectionManager({ dial: a.dial, localPeer: 'a', clock, lowWater: 1, highWater: 2 })
  a.bind(m)
  const conn = await m.connectNow(b.address)
  assert.equal(conn.peer, 'b')
  assert.equal(m.stats().connections, 1)
  assert.equal(Priority.HIGH, 'high')
  assert.equal(typeof decay.linear(0.5), 'function')
  assert.equal(typeof bump.sum(), 'function')
  assert.throws(() => createConnectionManager({ dial: a.dial, lowWater: 3, highWater: 2 }), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_INVALID_ARGUMENT')
  await m.close()
})

test("the README's virtual-time example runs as written: the dial completes once the clock moves", async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock, latency: 5 })
  const a = net.addNode('a'); const b = net.addNode('b')
  const manager = createConnectionManager({ dial: a.dial, localPeer: 'a', clock })
  a.bind(manager)
  const dialing = manager.connectNow(b.address)
  let settled = false
  void dialing.then(() => { settled = true })
  await Promise.resolve()
  assert.equal(settled, false, 'the dial waits for virtual time')
  await clock.advance(30_000)
  assert.equal((await dialing).peer, 'b')
  // Typed events: detail is known without a cast.
  const reasons: string[] = []
  manager.events.addEventListener('connection:closed', (e) => { reasons.push(e.detail.reason) })
  manager.setPriority([{ peer: 'b', priority: 'banned' }])
  assert.deepEqual(reasons, ['banned'])
  await manager.close()
})
