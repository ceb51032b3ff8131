import assert from 'node:assert/strict'
import { test } from 'node:test'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// maxPeers forgot only peers that never connected: strangers that came inbound once, with a fresh
// identity each time, stayed known for good (test/hostile/identity-churn.test.ts on a real node).

test('at maxPeers, strangers that came inbound and left are forgotten once no never-connected peer is left, the longest gone first', async () => {
  const { m, clock } = manager({ maxPeers: 100 })
  for (let i = 0; i < 1000; i++) {
    const c = testConnection(`s${i}`, { address: `tcp://20.1.${i >> 8}.${i & 255}:4000` })
    m.connected(c)
    await clock.advance(1)
    m.disconnected(c)
  }
  const { known, evicted } = m.stats()
  // The budget scans for them again once the count grew by max(16, count / 16).
  assert.ok(known <= 100 + 16, `${known} known`)
  assert.ok(evicted >= 1000 - 116)
  assert.equal(m.getPeer('s0'), undefined, 'the longest gone went')
  assert.notEqual(m.getPeer('s999'), undefined, 'the latest stays')
  assert.match(m.explain('s0').at(-1)!.reason, /a stranger that came to us and left/)
})

test('peers we reached ourselves, connected now, tagged, protected or long-term are never forgotten as strangers that came and went', async () => {
  const { m } = manager({ maxPeers: 10 })
  const out = testConnection('out', { direction: 'outbound', address: 'tcp://20.9.0.1:4000' })
  m.connected(out)
  m.disconnected(out)
  const kept = ['tagged', 'prot', 'lt']
  for (const id of kept) {
    const c = testConnection(id, { address: `tcp://20.9.1.${kept.indexOf(id)}:4000` })
    m.connected(c)
    m.disconnected(c)
  }
  m.tagPeer('tagged', 'app', 1)
  m.protect('prot', 'app')
  m.setLongTerm('lt', true)
  const live = testConnection('live', { address: 'tcp://20.9.2.1:4000' })
  m.connected(live)
  for (let i = 0; i < 200; i++) {
    const c = testConnection(`s${i}`, { address: `tcp://20.2.${i >> 8}.${i & 255}:4000` })
    m.connected(c)
    m.disconnected(c)
  }
  for (const id of ['out', 'live', ...kept]) assert.notEqual(m.getPeer(id), undefined, `${id} is still known`)
  assert.ok(m.stats().known <= 10 + 16)
})
