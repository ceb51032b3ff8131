import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createNode, discoveryKey } from '../../src/node/index.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// join() and flushed() keep their word: join resolves once the topic was announced and looked up
// where it can be, flushed() turns true once the peers found were tried. Real sockets, 127.0.0.1.

const T = { timeout: 20_000 }
const KEY = discoveryKey('t')

const node = testNode

// Bug: join() resolved and flushed() was true 2-4 ms after createNode, with no connection at all: the
// bootstrap dial was still in flight, so there was nobody to announce to or look up with.
test('join() right after createNode waits for the first connection, then announces and looks up through it; flushed() is false until the peers found were tried', T, async (t) => {
  const r = await node(t)
  const a = await node(t, { bootstrap: [`${r.addresses[0]}#${r.id}`] })
  await until(() => r.connections().some((c) => c.peer === a.id), 5000, 'A to reach R')
  await a.join('t')
  const n = await node(t, { bootstrap: [`${r.addresses[0]}#${r.id}`], manager: { lowWater: 4, highWater: 8 } })
  const flushedBefore = n.flushed('t')
  await n.join('t')
  assert.equal(flushedBefore, false, 'not flushed before the join')
  assert.ok(n.connections().length >= 1, 'join resolved with a connection to look up through')
  assert.equal(n.manager.getPeer(a.id)?.topics.includes(KEY), true, 'the lookup through R found A')
  await until(() => n.flushed('t'), 5000, 'flushed once A was tried')
  assert.ok(n.connections().some((c) => c.peer === a.id), 'A was tried, and reached')
})

test('join() on a node that dials nobody resolves at once, and flushed() is true (nothing left to try)', T, async (t) => {
  const n = await node(t)
  const started = Date.now()
  await n.join('t')
  assert.ok(Date.now() - started < 1000)
  assert.equal(n.flushed('t'), true)
})

test('join() while the only bootstrap peer is unreachable resolves once its dial failed, without waiting for the lookup timeout', T, async (t) => {
  const gone = await createNode()
  const address = `${gone.addresses[0]}#${gone.id}`
  await gone.close()
  const n = await node(t, { bootstrap: [address] })
  const started = Date.now()
  await n.join('t')
  assert.ok(Date.now() - started < 1900, `took ${Date.now() - started} ms`)
  assert.equal(n.connections().length, 0)
})
