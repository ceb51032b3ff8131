import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

test('an inbound connection at highWater evicts the newest out-of-grace peer', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: noDial, lowWater: 2, highWater: 4, gracePeriod: 100, clock })
  m.start()
  const conns = []
  for (let i = 0; i < 5; i++) {
    const c = testConnection(`p${i}`)
    conns.push(c)
    assert.equal(m.connected(c), true)
    await clock.advance(200)
  }
  assert.equal(m.stats().connections, 4)
  assert.equal(conns[3].closeReason, 'trimmed')
  await m.close()
})
