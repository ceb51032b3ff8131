import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { MemoryNetwork, testConnection, type MemoryConnection } from '../../src/testing/index.js'
import { connectionContract, spyManager, type ConnectedPair } from './connection.js'

// The in-memory network (src/testing/memory-network.ts): every property holds. The reason reaches
// the remote as `remoteCloseReason`; `streams` is a field the test sets (no real channels), so the
// streams property is not checked here.

let managers: Array<{ stop: () => Promise<void> }> = []

connectionContract({
  name: 'memory',
  async connect (): Promise<ConnectedPair> {
    const network = new MemoryNetwork()
    const a = network.addNode('dialler')
    const b = network.addNode('listener')
    const ma = createConnectionManager({ dial: a.dial, localPeer: 'dialler', lowWater: 0 })
    const mb = createConnectionManager({ dial: b.dial, localPeer: 'listener', lowWater: 0 })
    managers = [ma, mb]
    a.bind(ma)
    b.bind(mb)
    const diallerManager = spyManager(ma)
    const listenerManager = spyManager(mb)
    const outbound = await ma.connectNow(b.address)
    const [inbound] = b.connections()
    assert.ok(inbound !== undefined)
    return { outbound, inbound, dialler: 'dialler', listener: 'listener', diallerManager, listenerManager }
  },
  remoteReason: (pair, end) => ((end === 'outbound' ? pair.inbound : pair.outbound) as MemoryConnection).remoteCloseReason,
  async cleanup () {
    await Promise.all(managers.map(async (m) => { await m.stop() }))
    managers = []
  }
})

test('memory: a TestConnection (no remote) closes once and keeps the first reason', () => {
  const c = testConnection('p')
  c.close('trimmed')
  c.close('banned')
  assert.equal(c.closed, true)
  assert.equal(c.closeReason, 'trimmed')
})
