import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createRegistry } from '../src/mesh/index.js'
import { createNode } from '../src/node/index.js'
import { hasCode } from './helpers/errors.js'

// The mistakes a newcomer makes first, against the public API, each answered by a PeerwardenError
// that names what was wrong (found by trying the README's examples with slips in them).

test('a networkKey that is neither a string nor bytes is refused by name (it threw a TypeError from Buffer.from)', async () => {
  await assert.rejects(createNode({ networkKey: 123 } as never), hasCode('ERR_INVALID_ARGUMENT', /^networkKey must be a string or a Uint8Array, got 123$/))
  await assert.rejects(createRegistry({ schema: { A: {} }, networkKey: { key: 'k' } } as never), hasCode('ERR_INVALID_ARGUMENT', /^networkKey must be a string or a Uint8Array/))
})

test("join() after close() says the node is closed (it said 'the connection manager is closed')", async () => {
  const node = await createNode({ listen: ['tcp://127.0.0.1:0'] })
  await node.close()
  await assert.rejects(node.join('chat'), hasCode('ERR_CLOSED', /^the node is closed$/))
})
