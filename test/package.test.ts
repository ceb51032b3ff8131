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
