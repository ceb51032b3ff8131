import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/manager/manager.js'
import { ADDRESS_SCHEME, type AddressScheme } from '../../src/manager/peer-book.js'
import { memoryStore } from '../../src/store/memory-store.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

test('compact peers: a store without SAVE_ROWS is given the full StoredPeer of a compact peer, once, however often the peer is told of', async () => {
  const ids = ['n0', 'n1', 'n2']
  const lists = ids.map((id) => [`mem://${id}`])
  const scheme: AddressScheme = {
    idOf: (a) => ids.find((id) => `mem://${id}` === a),
    list: (a) => lists[ids.findIndex((id) => `mem://${id}` === a)] ?? [a],
    indexOf: (id) => ids.indexOf(id),
    idAt: (i) => ids[i],
    listAt: (i) => lists[i]
  }
  const store = memoryStore()
  let saves = 0
  const save = store.save.bind(store)
  store.save = (peers) => { saves += peers.length; save(peers) }
  const clock = new ManualClock(5000)
  const m = createConnectionManager({
    dial: async () => { throw new Error('no dials here') },
    localPeer: 'n0',
    clock,
    store,
    lowWater: 0,
    [ADDRESS_SCHEME]: scheme
  } as Parameters<typeof createConnectionManager>[0])
  m.start()
  m.addPeers([{ id: 'n1', address: 'mem://n1' }])
  await clock.advance(2000) // past storeFlushInterval: n1's row is written
  m.addPeers([{ id: 'n1', address: 'mem://n1' }, { id: 'n2', addresses: ['mem://n2'] }])
  await m.close()
  const rows = await store.load()
  assert.deepEqual(rows.map((r) => r.key), ['n1', 'n2'])
  assert.deepEqual(rows[0], {
    key: 'n1', id: 'n1', addresses: ['mem://n1'], priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false,
    tags: {}, lastConnected: undefined, successes: 0, failures: 0, nextDialAt: undefined, firstSeen: 5000
  })
  assert.equal(rows[1].firstSeen, 7000)
  assert.equal(saves, 2, 'n1 is written once: told of again, its row is the same')
})
