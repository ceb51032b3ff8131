import assert from 'node:assert/strict'
import { test } from 'node:test'
import { manageSwarm } from '../src/adapters/hyperswarm.js'
import { peerwarden } from '../src/adapters/libp2p.js'
import { serveDashboard } from '../src/dashboard/index.js'
import { createConnectionManager } from '../src/index.js'
import { createMeshNode, createRegistry } from '../src/mesh/index.js'
import { createNode } from '../src/node/index.js'

// Bug: misspelt option names (highwater, maxParalelDials, bootstrapp, lisen) were ignored at run time.
// Every options object refuses a name it does not know, naming it and the closest valid one.

const refusedWith = (name: string, near: string) => (err: unknown): boolean => {
  const e = err as { code?: string; message?: string }
  assert.equal(e.code, 'ERR_INVALID_ARGUMENT')
  assert.match(e.message ?? '', new RegExp(`"${name}".*did you mean "${near}"`))
  return true
}

test('createNode refuses an unknown option with the closest valid name (lisen → listen, bootstrapp → bootstrap)', async () => {
  await assert.rejects(createNode({ lisen: ['tcp://127.0.0.1:0'] } as never), refusedWith('lisen', 'listen'))
  await assert.rejects(createNode({ bootstrapp: [] } as never), refusedWith('bootstrapp', 'bootstrap'))
  await assert.rejects(createNode({ manager: { highwater: 4 } } as never), refusedWith('highwater', 'highWater'))
})

test('serveDashboard and the libp2p service refuse unknown options with the closest valid name', async () => {
  const m = createConnectionManager({ dial: async () => { throw new Error('no') } })
  await assert.rejects(serveDashboard(m, { lsten: '127.0.0.1:0' } as never), refusedWith('lsten', 'listen'))
  await m.close()
  assert.throws(() => peerwarden({ maxParalelDials: 3 } as never), refusedWith('maxParalelDials', 'maxParallelDials'))
  assert.throws(() => peerwarden({ bootstap: [] } as never), refusedWith('bootstap', 'bootstrap'))
})

test('createMeshNode, createRegistry and manageSwarm refuse unknown options with the closest valid name', async () => {
  const schema = { A: {} }
  await assert.rejects(createRegistry({ schema, open: true, netwrkKey: 'k' } as never), refusedWith('netwrkKey', 'networkKey'))
  await assert.rejects(createMeshNode({ schema, role: 'A', registry: 'tcp://127.0.0.1:1#' + 'a'.repeat(64), handler: {} } as never), refusedWith('handler', 'handlers'))
  assert.throws(() => manageSwarm({} as never, { topicQuotas: { min: 1 } } as never), refusedWith('topicQuotas', 'topicQuota'))
})

// A newcomer's first guesses: a manager option at the top of createNode (the README puts them under
// `manager`), and js-libp2p's or ssb-conn's name for a watermark.
test('createNode tells where a manager option given at its top level belongs', async () => {
  await assert.rejects(createNode({ highWater: 4 } as never), (err: unknown) => {
    assert.match((err as Error).message, /^createNode options: unknown option "highWater"; it belongs in manager: \{ highWater \}/)
    return true
  })
  await assert.rejects(createNode({ maxConnections: 4 } as never), /unknown option "maxConnections"; it belongs in manager: \{ highWater \}/)
})

test('maxConnections and minConnections, the names other connection managers use, are answered with highWater and lowWater', () => {
  const dial = async (): Promise<never> => { throw new Error('no') }
  assert.throws(() => createConnectionManager({ dial, maxConnections: 8 } as never), refusedWith('maxConnections', 'highWater'))
  assert.throws(() => createConnectionManager({ dial, minConnections: 2 } as never), refusedWith('minConnections', 'lowWater'))
  assert.throws(() => peerwarden({ maxConnections: 8 } as never), refusedWith('maxConnections', 'highWater'))
})
