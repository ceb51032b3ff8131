import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { createNode, type PeerNode } from '../../src/node/index.js'

// Bug: a dial the remote refused looked like success: connectNow resolved, the connection closed
// 'over-limit' right after, and nothing reached errors() or dial:failed. The dial now resolves only once
// the remote's manager accepted the connection.

test('six nodes connectNow a hub with highWater 3: three succeed, three fail with ERR_REFUSED (cause: the hub\'s reason), seen by dial:failed and explain()', { timeout: 20_000 }, async (t) => {
  const hub = await createNode({ manager: { lowWater: 0, highWater: 3 } })
  const nodes: PeerNode[] = []
  t.after(async () => { await Promise.all([hub, ...nodes].map(async (n) => { await n.close() })) })
  for (let i = 0; i < 6; i++) nodes.push(await createNode({ manager: { lowWater: 0, highWater: 8 } }))
  const failed: Array<{ node: number; code?: string }> = []
  nodes.forEach((n, i) => { n.events.addEventListener('dial:failed', (e) => { failed.push({ node: i, code: (e.detail.error as PeerwardenError).code }) }) })
  const results = await Promise.allSettled(nodes.map(async (n) => await n.manager.connectNow(hub.addresses[0]!)))
  const ok = results.filter((r) => r.status === 'fulfilled')
  const refused = results.flatMap((r) => r.status === 'rejected' ? [r.reason as PeerwardenError] : [])
  assert.equal(ok.length, 3)
  assert.equal(refused.length, 3)
  for (const err of refused) {
    assert.ok(err instanceof PeerwardenError)
    assert.equal(err.code, 'ERR_REFUSED')
    assert.equal(err.cause, 'over-limit')
  }
  assert.equal(failed.filter((f) => f.code === 'ERR_REFUSED').length, 3, 'each refusal reached dial:failed')
  const loser = nodes[results.findIndex((r) => r.status === 'rejected')]!
  assert.equal(loser.manager.listConnections().length, 0, 'a refused dialer holds no connection')
  assert.match(JSON.stringify(loser.manager.explain(hub.addresses[0]!)), /refused/)
  assert.equal(hub.manager.stats().connections, 3)
})
