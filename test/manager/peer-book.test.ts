import assert from 'node:assert/strict'
import { test } from 'node:test'
import { addressesCopied } from '../../src/manager/peer-book.js'
import { memoryStore } from '../../src/store/memory-store.js'
import type { StoredPeer } from '../../src/index.js'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// Regression: a peer's addresses were added one at a time, each copying the peer's whole list, so
// restoring (or adding, or merging) a peer with n addresses wrote n²/2 elements: 10,000 addresses
// given through addPeers took ~0.4 s to restore. These tests count the elements the books write into
// address lists (an operation counter, not a clock): at 4n addresses the work is about 4 times that
// at n, never 16.

const addressesOf = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => `tcp://10.${tag}.${i >> 8}.${i & 255}:4001`)

/** The address elements written while `work` ran. */
async function copiesDuring (work: () => Promise<void> | void): Promise<number> {
  const before = addressesCopied()
  await work()
  return addressesCopied() - before
}

function storedPeer (id: string, addresses: string[]): StoredPeer {
  return { key: id, id, addresses, priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 0, failures: 0 }
}

async function restoreCopies (n: number): Promise<number> {
  const addresses = addressesOf(n, String(n & 255))
  const { m } = manager({ store: memoryStore([storedPeer('many', addresses)]) })
  const copies = await copiesDuring(async () => { await m.ready() })
  assert.deepEqual(m.getPeer('many')?.addresses, addresses, 'every address restored, in order')
  await m.close()
  return copies
}

test('restoring a peer with many addresses builds its list once: the work grows linearly with the addresses, not with their square', async () => {
  const small = await restoreCopies(1000)
  const large = await restoreCopies(4000)
  assert.ok(small <= 2 * 1000, `restoring 1,000 addresses wrote ${small} elements`)
  assert.ok(large <= 5 * small, `4x the addresses wrote ${(large / small).toFixed(1)}x the elements (${small} → ${large}): quadratic again`)
})

test('addPeers with many addresses for one peer builds its list once; duplicates are skipped, addresses move from their holders', async () => {
  const work = async (n: number): Promise<number> => {
    const { m } = manager()
    const addresses = addressesOf(n, '7')
    m.addPeers([{ id: 'holder', addresses: [addresses[1], 'tcp://192.0.2.2:4001'] }, { id: 'hinted', address: addresses[2], hint: true }])
    const copies = await copiesDuring(() => { m.addPeers([{ id: 'many', addresses: [...addresses, ...addresses.slice(0, 10)] }]) })
    m.addPeers([{ id: 'many', addresses: addresses.slice(0, 5) }])
    assert.deepEqual(m.getPeer('many')?.addresses, addresses)
    assert.deepEqual(m.getPeer('holder')?.addresses, ['tcp://192.0.2.2:4001'], 'an address moves from the record that held it')
    assert.equal(m.getPeer('hinted'), undefined, 'a peer known only from a hint that lost its only address is forgotten')
    await m.close()
    return copies
  }
  const small = await work(1000)
  const large = await work(4000)
  assert.ok(large <= 5 * small, `4x the addresses wrote ${(large / small).toFixed(1)}x the elements (${small} → ${large})`)
})

test('a peer known by many addresses merged into the record of its id moves them in one list', async () => {
  const work = async (n: number): Promise<number> => {
    const { m } = manager()
    const addresses = addressesOf(n, '9')
    m.addPeers([{ id: 'bob', address: 'tcp://192.0.2.1:4001' }])
    m.addPeers([{ addresses }]) // one record known by address only
    const copies = await copiesDuring(() => { assert.equal(m.connected(testConnection('bob', { address: addresses[0] })), true) })
    assert.deepEqual(m.getPeer('bob')?.addresses, ['tcp://192.0.2.1:4001', ...addresses])
    assert.equal(m.getPeer(addresses[5])?.id, 'bob', 'every address now names bob')
    await m.close()
    return copies
  }
  const small = await work(1000)
  const large = await work(4000)
  assert.ok(large <= 5 * small, `4x the addresses wrote ${(large / small).toFixed(1)}x the elements (${small} → ${large})`)
})
