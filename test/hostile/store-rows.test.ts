/**
 * A hostile or damaged peers.db at start: src/store/stored-row.ts (the row decoder) and
 * src/store/sqlite-store.ts.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { createConnectionManager, PeerwardenError, sqliteStore } from '../../src/index.js'
import type { StoredPeer } from '../../src/index.js'
import { MAX_STORED_ADDRESSES } from '../../src/store/stored-row.js'
import { collect } from '../helpers/events.js'

// A row's arrays were read whatever their length, and the manager restores a peer's addresses in
// time quadratic in their count: one row of 20,000 addresses held `ready()` for seconds (200,000:
// over 5 minutes, at every start — a crash-looping supervisor never got the node up). Now a row
// whose arrays or strings are past what the node ever stores is skipped and reported
// (ERR_STORE_ROWS, naming its key and field), like any row that does not decode.

type Database = import('better-sqlite3').Database
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3')

const dir = mkdtempSync(join(tmpdir(), 'peerwarden-hostile-store-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })
let n = 0
const fresh = (): string => { const d = join(dir, `case-${n++}`); mkdirSync(d); return d }

const peer = (key: string, more: Partial<StoredPeer> = {}): StoredPeer => ({
  key, id: key, addresses: [`tcp://10.0.0.${key.length}:4001`], priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 1, failures: 0, ...more
})

function writeRows (path: string, rows: StoredPeer[]): void {
  const db: Database = new BetterSqlite3(path)
  try {
    db.exec('CREATE TABLE peers (key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID')
    const put = db.prepare('INSERT INTO peers (key, data) VALUES (?, ?)')
    for (const p of rows) put.run(p.key, JSON.stringify(p))
  } finally {
    db.close()
  }
}

const many = (count: number, make: (i: number) => string): string[] => Array.from({ length: count }, (_, i) => make(i))

test('rows with 20,000 addresses, 100,000 topics, 10,000 tags or a 1 MB address are skipped and reported by key and field; the honest rows load and the manager is ready', { timeout: 60_000 }, async () => {
  const path = join(fresh(), 'peers.db')
  const hostile = [
    peer('addresses', { addresses: many(20_000, (i) => `tcp://10.1.${(i >> 8) & 255}.${i & 255}:${4000 + (i % 1000)}`) }),
    peer('topics', { topics: many(100_000, (i) => `t${i}`) }),
    peer('tags', { tags: Object.fromEntries(many(10_000, (i) => `tag${i}`).map((t) => [t, 1])) }),
    peer('long', { addresses: [`tcp://10.0.0.9:${'9'.repeat(1_000_000)}`] })
  ]
  const honest = [peer('a', { addresses: many(MAX_STORED_ADDRESSES, (i) => `tcp://10.2.0.${i}:4001`) }), peer('b')]
  writeRows(path, [...hostile, ...honest])
  const reported: PeerwardenError[] = []
  const started = Date.now()
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials here') }, store: sqliteStore(path, { onError: (err) => { reported.push(err) } }) })
  try {
    await m.ready()
    console.log(`ready in ${Date.now() - started} ms; known ${m.stats().known}; reported ${reported.map((e) => e.code).join(', ')}`)
    assert.deepEqual(m.listPeers().map((p) => p.id).sort(), ['a', 'b'])
    assert.equal(m.getPeer('a')?.addresses.length, MAX_STORED_ADDRESSES, 'an honest peer at the bound keeps every address')
    assert.equal(reported.length, 1)
    assert.equal(reported[0]!.code, 'ERR_STORE_ROWS')
    for (const key of ['addresses', 'topics', 'tags', 'long']) assert.ok(reported[0]!.message.includes(key), reported[0]!.message)
  } finally {
    await m.close()
  }
})

test('a peers.db cut in half (a copy interrupted) is moved aside and reported; the manager starts on a fresh file and persists again', { timeout: 30_000 }, async () => {
  const d = fresh()
  const whole = join(d, 'whole.db')
  const first = sqliteStore(whole)
  first.save(many(3000, (i) => `p${i}`).map((k) => peer(k)))
  await first.flush()
  await first.close()
  const path = join(d, 'peers.db')
  copyFileSync(whole, path)
  truncateSync(path, Math.floor(statSync(whole).size / 2))
  const reported: PeerwardenError[] = []
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials here') }, store: sqliteStore(path, { onError: (err) => { reported.push(err) } }), storeFlushInterval: 10 })
  await m.ready()
  assert.deepEqual(reported.map((e) => e.code), ['ERR_STORE_CORRUPT'])
  m.addPeers([{ id: 'after', address: 'tcp://10.3.0.1:4001' }])
  await m.close()
  const again = sqliteStore(path)
  assert.deepEqual((await again.load()).map((p) => p.key), ['after'])
  await again.close()
})

test('a peers.db path that is a directory: the manager starts without its store and reports a PeerwardenError naming the path (no crash loop)', async () => {
  const path = join(fresh(), 'peers.db')
  mkdirSync(path)
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials here') }, store: sqliteStore(path, { onError: () => {} }) })
  const errors = collect<{ error: Error }>(m.events, 'store:error')
  try {
    await m.ready()
    assert.equal(errors.length, 1)
    const err = errors[0]!.error
    assert.ok(err instanceof PeerwardenError && err.code === 'ERR_STORE' && err.message.includes(path), String(err))
    m.addPeers([{ id: 'x', address: 'tcp://10.3.0.2:4001' }])
    assert.equal(m.stats().known, 1, 'the manager works on')
  } finally {
    await m.close()
  }
})
