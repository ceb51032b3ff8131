import assert from 'node:assert/strict'
import { test } from 'node:test'
import c from 'compact-encoding'
import { createNode } from '../../src/node/index.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { until, within } from '../helpers/wait.js'

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

// Bug (found by the connection benchmark once a dial waited for the remote's verdict): the listener's
// channel open arrived with its verdict, before the dialer's application had made its end, and
// protomux rejected it at once: the echo never came.
test('a channel the listener opens as it accepts pairs with the one the dialer opens right after connectNow, every time', { timeout: 30_000 }, async (t) => {
  const a = await createNode({ manager: { lowWater: 0 } })
  const b = await createNode({ manager: { lowWater: 0 } })
  t.after(async () => { await a.close(); await b.close() })
  b.protocol('echo/1', (conn: NodeConnection) => {
    const ch = conn.mux.createChannel({ protocol: 'echo/1' })
    if (ch === null) return
    const m = ch.addMessage<Buffer>({ encoding: c.raw, onmessage: (x: Buffer) => { m.send(x) } })
    ch.open()
  })
  for (let i = 0; i < 20; i++) {
    const conn = await a.manager.connectNow(b.addresses[0]!) as NodeConnection
    const ch = conn.mux.createChannel({ protocol: 'echo/1' })!
    let resolveEcho!: (b: Buffer) => void
    const echoed = new Promise<Buffer>((resolve) => { resolveEcho = resolve })
    const send = ch.addMessage<Buffer>({ encoding: c.raw, onmessage: (x: Buffer) => { resolveEcho(x) } })
    ch.open()
    send.send(Buffer.from(`ping ${i}`))
    assert.equal((await within(echoed, 5000, `echo ${i}`)).toString(), `ping ${i}`)
    await a.manager.disconnect(b.id)
    await until(() => b.connections().length === 0, 5000, 'B to see the close')
  }
})
