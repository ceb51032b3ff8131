import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { PeerwardenError, sqliteStore } from '../../src/index.js'
import type { StoredPeer } from '../../src/index.js'
import { createNode } from '../../src/node/index.js'

// Hostile conditions: a corrupt peers.db silently turned persistence off; a row holding
// `null` made createNode reject with a raw TypeError and left an unhandled rejection behind.

type Database = import('better-sqlite3').Database
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3')

const dir = mkdtempSync(join(tmpdir(), 'peerwarden-corrupt-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })
let n = 0
const fresh = (): string => { const d = join(dir, `case-${n++}`); mkdirSync(d); return d }

const peer = (key: string): StoredPeer => ({
  key, id: key, addresses: [`tcp://${key}.example:4001`], priority: 'high', topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 1, failures: 0
})

/** A peers.db written by hand: one table as the store makes it, with these rows. */
function writeRows (path: string, rows: Array<[string, string]>): void {
  const db: Database = new BetterSqlite3(path)
  try {
    db.exec('CREATE TABLE peers (key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID')
    const put = db.prepare('INSERT INTO peers (key, data) VALUES (?, ?)')
    for (const [k, d] of rows) put.run(k, d)
  } finally {
    db.close()
  }
}

const GARBAGE = Buffer.from('this is not an SQLite database, it was overwritten by something else\n'.repeat(200))

test('a peers.db that is not a database is moved aside with a report naming both files, and the store goes on with a fresh file', async () => {
  const d = fresh()
  const path = join(d, 'peers.db')
  writeFileSync(path, GARBAGE)
  const reported: Error[] = []
  const store = sqliteStore(path, { onError: (err) => { reported.push(err) } })
  assert.deepEqual(await store.load(), [])
  assert.equal(reported.length, 1)
  const err = reported[0]
  assert.ok(err instanceof PeerwardenError)
  assert.equal(err.code, 'ERR_STORE_CORRUPT')
  const aside = readdirSync(d).filter((f) => f.startsWith('peers.db.corrupt-') && !f.endsWith('-wal') && !f.endsWith('-shm'))
  assert.equal(aside.length, 1, `moved aside: ${readdirSync(d).join(', ')}`)
  assert.ok(err.message.includes(path) && err.message.includes(join(d, aside[0])), err.message)
  assert.deepEqual(readFileSync(join(d, aside[0])), GARBAGE, 'the bad file is kept, byte for byte')
  // Persistence is on again: a batch is written and read back.
  store.save([peer('a')])
  await store.flush()
  await store.close()
  const again = sqliteStore(path)
  assert.deepEqual((await again.load()).map((p) => p.key), ['a'])
  await again.close()
})

test('rows holding null, broken JSON or fields of the wrong type are skipped and reported once with their keys; the good rows load', async () => {
  const path = join(fresh(), 'peers.db')
  writeRows(path, [
    ['good', JSON.stringify(peer('good'))],
    ['null', 'null'],
    ['torn', '{"key":"torn","addre'],
    ['typed', JSON.stringify({ ...peer('typed'), addresses: 'tcp://x:1' })],
    ['nullAddresses', JSON.stringify({ ...peer('nullAddresses'), addresses: null })],
    ['otherKey', JSON.stringify(peer('someoneElse'))],
    ['good2', JSON.stringify({ ...peer('good2'), lastConnected: null })]
  ])
  const reported: Error[] = []
  const store = sqliteStore(path, { onError: (err) => { reported.push(err) } })
  const loaded = await store.load()
  await store.close()
  assert.deepEqual(loaded.map((p) => p.key).sort(), ['good', 'good2'])
  assert.equal(loaded.find((p) => p.key === 'good2')!.lastConnected, undefined, 'a null optional number reads as absent')
  assert.equal(reported.length, 1, 'one report for the whole load')
  const err = reported[0] as PeerwardenError
  assert.equal(err.code, 'ERR_STORE_ROWS')
  for (const k of ['null', 'torn', 'typed', 'nullAddresses', 'otherKey']) assert.ok(err.message.includes(k), `${k} named in: ${err.message}`)
})

test('without onError a problem of the store is a process warning, not silence', async () => {
  const path = join(fresh(), 'peers.db')
  writeRows(path, [['null', 'null']])
  const warned = new Promise<Error>((resolve) => { process.once('warning', resolve) })
  const store = sqliteStore(path)
  assert.deepEqual(await store.load(), [])
  await store.close()
  const w = await warned
  assert.equal((w as PeerwardenError).code, 'ERR_STORE_ROWS')
})

test('createNode on a dataDir whose peers.db holds a null row starts, restores the good peers and warns (nobody listens to store:error yet)', { timeout: 10_000 }, async () => {
  const d = fresh()
  writeRows(join(d, 'peers.db'), [['null', 'null'], ['cafe', JSON.stringify(peer('cafe'))]])
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  const warnings: Error[] = []
  const onWarning = (w: Error): void => { warnings.push(w) }
  process.on('unhandledRejection', onUnhandled)
  process.on('warning', onWarning)
  try {
    const node = await createNode({ dataDir: d, manager: { lowWater: 0, highWater: 4 } })
    try {
      assert.equal(node.manager.getPeer('cafe')?.priority, 'high', 'the good row was restored')
    } finally {
      await node.close()
    }
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(unhandled, [])
    assert.deepEqual(warnings.map((w) => (w as PeerwardenError).code), ['ERR_STORE_ROWS'])
  } finally {
    process.off('unhandledRejection', onUnhandled)
    process.off('warning', onWarning)
  }
})

test('createNode on a dataDir whose peers.db is garbage starts with a fresh store and keeps the bad file beside it', { timeout: 10_000 }, async () => {
  const d = fresh()
  writeFileSync(join(d, 'peers.db'), GARBAGE)
  const node = await createNode({ dataDir: d, manager: { lowWater: 0, highWater: 4 } })
  try {
    node.manager.addPeers([{ id: 'beef', address: 'tcp://10.0.0.9:4001', priority: 'high' }])
  } finally {
    await node.close()
  }
  assert.ok(readdirSync(d).some((f) => f.startsWith('peers.db.corrupt-')), readdirSync(d).join(', '))
  const store = sqliteStore(join(d, 'peers.db'))
  assert.deepEqual((await store.load()).map((p) => p.key), ['beef'], 'persistence works again')
  await store.close()
  assert.ok(existsSync(join(d, 'identity.json')))
})
