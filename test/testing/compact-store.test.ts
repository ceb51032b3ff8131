import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CompactStore } from '../../src/testing/compact-store.js'
import type { StoredPeer } from '../../src/manager/types.js'
import { CompactRow, SAVE_ROWS, type RowNumbering } from '../../src/manager/compact-row.js'

/** Peers numbered as the simulation numbers them ('n<i>'), n3 at an address of its own. */
const numbering: RowNumbering = {
  idAt: (i) => `n${i}`,
  listAt: (i) => [i === 3 ? 'tcp://127.0.0.1:4001' : `mem://n${i}`]
}

function row (key: string, over: Partial<StoredPeer> = {}): StoredPeer {
  return {
    key,
    id: key,
    addresses: [`mem://${key}`],
    priority: 'medium',
    topics: [],
    longTerm: false,
    permanent: false,
    bootstrap: false,
    tags: {},
    successes: 0,
    failures: 0,
    firstSeen: 1000,
    ...over
  }
}

test('compact store: every field of a row comes back as it was saved, the usual ones and the unusual ones', async () => {
  const store = new CompactStore()
  const rows: StoredPeer[] = [
    row('n1'),
    row('n2', { lastConnected: 0, nextDialAt: Infinity, successes: 3, failures: 2, priority: 'high', longTerm: true, bootstrap: true }),
    row('n3', { priority: 'banned', permanent: true, nextDialAt: -Infinity, lastConnected: 123_456_789 }),
    row('n4', { priority: 'low', topics: ['a', 'b'], tags: { kept: 5, other: -2 } }),
    row('n5', { addresses: [] }),
    row('n6', { addresses: ['mem://n6', 'tcp://127.0.0.1:4001'] }),
    row('@mem://n7', { id: undefined, addresses: ['mem://n7'] }),
    row('n8', { id: 'n9', addresses: ['mem://n9'] })
  ]
  const expected = rows.map((r) => {
    const copy: StoredPeer = { ...r }
    if (copy.id === undefined) delete copy.id
    if (copy.firstSeen === undefined) delete copy.firstSeen
    return copy
  })
  store.save(rows)
  assert.deepEqual(await store.load(), expected)
})

test('compact store: load keeps the order a Map keeps (a re-saved key stays, a deleted and re-saved one goes last), past the first allocation', async () => {
  const store = new CompactStore()
  const keys = Array.from({ length: 200 }, (_, i) => `n${i}`)
  store.save(keys.map((k) => row(k)))
  store.save([row('n5', { failures: 4 })])
  store.delete(['n3', 'n7', 'unknown'])
  store.save([row('n3', { successes: 1 })])
  const loaded = await store.load()
  assert.deepEqual(loaded.map((p) => p.key), [...keys.filter((k) => k !== 'n3' && k !== 'n7'), 'n3'])
  assert.equal(loaded.find((p) => p.key === 'n5')!.failures, 4)
  assert.equal(loaded.find((p) => p.key === 'n3')!.successes, 1)
  // A freed slot is reused: a new key saved after a delete holds its own values, not the old ones.
  store.save([row('x', { addresses: [], topics: ['t'] })])
  const x = (await store.load()).find((p) => p.key === 'x')!
  assert.deepEqual([x.addresses, x.topics, x.successes, x.failures], [[], ['t'], 0, 0])
})

test('compact store: a CompactRow (SAVE_ROWS) is stored as the StoredPeer it stands for, over a full row too, in save order with StoredPeers', async () => {
  const rows: Array<StoredPeer | CompactRow> = [
    new CompactRow(1, 1000, numbering),
    row('n2', { successes: 2, lastConnected: 5 }),
    new CompactRow(3, 1001, numbering)
  ]
  const viaRows = new CompactStore()
  viaRows[SAVE_ROWS](rows)
  // A full row, then the same peer's compact row: the history goes, as a StoredPeer with none would take it.
  viaRows.save([row('n4', { successes: 1, failures: 3, priority: 'high', nextDialAt: 7 })])
  viaRows[SAVE_ROWS]([new CompactRow(4, 1002, numbering)])
  const viaSave = new CompactStore()
  viaSave.save([...rows, new CompactRow(4, 1002, numbering)].map((r) => r instanceof CompactRow ? r.stored() : r))
  const loaded = await viaRows.load()
  assert.deepEqual(loaded, await viaSave.load())
  assert.deepEqual(loaded.map((p) => p.key), ['n1', 'n2', 'n3', 'n4'])
  assert.deepEqual(loaded[2].addresses, ['tcp://127.0.0.1:4001'])
  assert.equal(loaded[3].successes, 0)
  assert.equal(loaded[3].priority, 'medium')
  assert.equal(loaded[3].firstSeen, 1002)
})

test('compact store: a CompactRow of the store\'s own numbering is filed by its number, as the same row by key is, without reading its id or address', async () => {
  const keys = { of: (key: string) => /^n\d+$/.test(key) ? Number(key.slice(1)) : -1, key: (i: number) => `n${i}` }
  let reads = 0
  const counted: RowNumbering = {
    idAt: (i) => { reads++; return `n${i}` },
    listAt: (i) => { reads++; return [`mem://n${i}`] }
  }
  const byNumber = new CompactStore({ ...keys, rows: counted })
  const byKey = new CompactStore(keys)
  for (const store of [byNumber, byKey]) {
    store[SAVE_ROWS]([new CompactRow(5, 1000, counted), row('n2', { successes: 2 }), new CompactRow(7, 1001, counted)])
    // A full row made compact again, and a row saved again: their slots stay.
    store.save([row('n7', { failures: 3, nextDialAt: 9 })])
    store[SAVE_ROWS]([new CompactRow(7, 1003, counted), new CompactRow(5, 1000, counted), new CompactRow(9, 1004, counted)])
  }
  const numbered = reads
  const loaded = await byNumber.load()
  assert.deepEqual(loaded, await byKey.load())
  assert.deepEqual(loaded.map((p) => [p.key, p.firstSeen, p.failures]), [['n5', 1000, 0], ['n2', 1000, 0], ['n7', 1003, 0], ['n9', 1004, 0]])
  assert.ok(numbered > 0, 'the store by key read the ids and addresses')
  reads = 0
  byNumber[SAVE_ROWS]([new CompactRow(11, 1005, counted)])
  assert.equal(reads, 0, 'the store of the same numbering read no id and no address')
})
