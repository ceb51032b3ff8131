import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { createNode } from '../../src/node/index.js'

// A node's dial to a listener that takes each socket and closes it at once, as a node over its
// per-IP budgets does (127.0.0.1 is exempt from those, so a plain server plays the refusing node).

test('a node dialling a listener that refuses early tries the same dial again before it reports a failure', { timeout: 20_000 }, async () => {
  let accepted = 0
  const server = net.createServer((s) => { accepted++; s.destroy() })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  const id = 'ab'.repeat(32)
  const node = await createNode({ listen: ['tcp://127.0.0.1:0'], bootstrap: [`tcp://127.0.0.1:${port}#${id}`] })
  try {
    const failure = await new Promise<{ error?: Error }>((resolve) => {
      node.manager.events.addEventListener('dial:failed', (e) => { resolve((e as CustomEvent<{ error?: Error }>).detail) }, { once: true })
    })
    assert.equal(accepted, 3, 'one dial and two retries reached the listener before the manager saw the failure')
    assert.equal((failure.error as { code?: string } | undefined)?.code, 'ERR_DIAL_FAILED')
    assert.equal(node.stats().dials, 1)
  } finally {
    await node.close()
    server.close()
  }
})
