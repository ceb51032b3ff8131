import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createNode } from '../../src/node/index.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { until } from '../helpers/wait.js'

// A connection that reported its streams once (streamsChanged) is never sampled again before a trim:
// the manager trusts its reports. The node's connections did not report when a channel opened or
// closed, so a trim went by the idleness of the last report and closed a connection in use.

test('a node reports a channel opened after the last report: the trim keeps the busy connection and closes the idle one', { timeout: 20_000 }, async (t) => {
  const a = await createNode({ manager: { lowWater: 1, highWater: 10, gracePeriod: 0 } })
  const b = await createNode({ manager: { lowWater: 0 } })
  const c = await createNode({ manager: { lowWater: 0 } })
  t.after(async () => { await Promise.all([a.close(), b.close(), c.close()]) })
  const adopted = new Map<string, NodeConnection>()
  a.events.addEventListener('connection', (e) => { const { connection } = (e as CustomEvent<{ connection: NodeConnection }>).detail; adopted.set(connection.peer, connection) })
  // Y: outbound from A to B; X: inbound to A from C. Both idle, X is the one an idle trim closes first (inbound).
  const y = await a.manager.connectNow(b.addresses[0]!) as NodeConnection
  const fromC = await c.manager.connectNow(a.addresses[0]!) as NodeConnection
  await until(() => adopted.has(c.id), 5000, 'A to adopt the connection from C')
  const x = adopted.get(c.id)!
  assert.equal(x.direction, 'inbound')
  await new Promise<void>((resolve) => { queueMicrotask(resolve) }) // the adoption's first reports
  // The last report: both idle.
  a.manager.streamsChanged(y)
  a.manager.streamsChanged(x)
  // Then C and A open an application channel on X (C's end answers A's open).
  fromC.mux.pair({ protocol: 'app/1' }, () => { fromC.mux.createChannel({ protocol: 'app/1' })?.open() })
  const channel = x.mux.createChannel({ protocol: 'app/1' })
  assert.ok(channel !== null)
  channel.open()
  await until(() => x.streams === 1, 5000, () => `the channel to open on X (streams ${x.streams})`)
  await a.manager.trim()
  assert.equal(a.manager.getPeer(b.id)?.connected, false, 'the idle connection (Y, to B) was trimmed')
  assert.equal(a.manager.getPeer(c.id)?.connected, true, 'the busy one (X, from C) stays: its channel was reported')
})
