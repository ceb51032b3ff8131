import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createNode } from '../../src/node/index.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { until } from '../helpers/wait.js'

// Bug: NodeConnection.streams was never written (always 0), so the manager's "idle before busy" never
// applied to node and mesh connections. It now counts the application channels open on the connection.

test('a node connection\'s streams counts the application channels open on it (the control channel aside), so the manager sees busy connections', { timeout: 15_000 }, async (t) => {
  const a = await createNode()
  const b = await createNode()
  t.after(async () => { await a.close(); await b.close() })
  const channels: Array<{ close(): void }> = []
  for (const n of [a, b]) {
    n.protocol('app/1', (conn: NodeConnection) => {
      const ch = conn.mux.createChannel({ protocol: 'app/1' })
      if (ch === null) return
      ch.open()
      if (n === a) channels.push(ch)
    })
  }
  const conn = await a.manager.connectNow(b.addresses[0]!) as NodeConnection
  assert.equal(typeof conn.streams, 'number')
  await until(() => conn.streams === 1, 5000, () => `one application channel open (streams ${conn.streams})`)
  channels[0]!.close()
  await until(() => conn.streams === 0, 5000, () => `the channel closed (streams ${conn.streams})`)
})
