import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { createConnectionManager, memoryStore, sqliteStore } from '../../src/index.js'
import type { Connection, PeerStore, StoredPeer } from '../../src/index.js'
import { ManualClock, testConnection } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'
import { noDial } from '../helpers/manager.js'

// The embedded on-disk store (better-sqlite3, WAL), alone and under a manager. Every database lives
// in one temporary directory, removed when the file is done. Virtual time only (ManualClock).

type Database = import('better-sqlite3').Database
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3')

const dir = mkdtempSync(join(tmpdir(), 'peerwarden-sqlite-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })

let n = 0
/** A fresh database path in the temp dir. */
const dbPath = (): string => join(dir, `peers-${n++}.db`)

/** Reads the table with a connection of our own, bypassing the store. */
function rawRows (path: string): Array<{ key: string; data: string }> {
  const db: Database = new BetterSqlite3(path, { readonly: true })
  try {
    const exists = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'peers'").get()
    if (exists === undefined) return []
    return db.prepare('SELECT key, data FROM peers ORDER BY key').all() as Array<{ key: string; data: string }>
  } finally {
    db.close()
  }
}

const byKey = (peers: StoredPeer[]): StoredPeer[] => [...peers].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

/** A peer with every field of StoredPeer set to something other than its default. */
const full: StoredPeer = {
  key: 'QmFull',
  id: 'QmFull',
  addresses: ['/ip4/10.0.0.1/tcp/4001', 'tcp://[2001:db8::1]:4001'],
  priority: 'high',
  topics: ['blocks', 'tx'],
  longTerm: true,
  permanent: true,
  bootstrap: true,
  tags: { kad: 5, 'app/score': -2.5 },
  lastConnected: 1_700_000_000_123,
  successes: 42,
  failures: 3,
  nextDialAt: 1_700_000_060_000,
  firstSeen: 1_600_000_000_000
}
/** A peer known by address only: no id, no history, empty collections. */
const addressOnly: StoredPeer = {
  key: '@tcp://192.168.1.7:4001',
  addresses: ['tcp://192.168.1.7:4001'],
  priority: 'banned',
  topics: [],
  longTerm: false,
  permanent: false,
  bootstrap: false,
  tags: {},
  successes: 0,
  failures: 0
}

const peer = (key: string, extra: Partial<StoredPeer> = {}): StoredPeer => ({
  key, id: key, addresses: [`tcp://${key}.example:4001`], priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 0, failures: 0, ...extra
})

// ── the store alone ─────────────────────────────────────────────────────────

test('a saved and flushed peer comes back from load with every field intact, in a new store on the same file', async () => {
  const path = dbPath()
  const s1 = sqliteStore(path)
  s1.save([full, addressOnly])
  await s1.flush()
  assert.deepEqual(byKey(await s1.load()), byKey([full, addressOnly]))
  await s1.close()

  const s2 = sqliteStore(path)
  assert.deepEqual(byKey(await s2.load()), byKey([full, addressOnly]))
  await s2.close()
})

test('the store copies what it is given: changing the object after save changes nothing stored', async () => {
  const s = sqliteStore(dbPath())
  const p = peer('QmCopy', { tags: { a: 1 } })
  s.save([p])
  p.priority = 'low'
  p.tags.a = 99
  p.addresses.push('tcp://changed:1')
  await s.flush()
  assert.deepEqual(await s.load(), [peer('QmCopy', { tags: { a: 1 } })])
  await s.close()
})

test('save only queues: another reader sees nothing before flush and the whole batch after it', async () => {
  const path = dbPath()
  const s = sqliteStore(path)
  await s.load() // opens the file and creates the table
  s.save([peer('QmA'), peer('QmB')])
  assert.deepEqual(rawRows(path), [])
  await s.flush()
  assert.deepEqual(rawRows(path).map((r) => r.key), ['QmA', 'QmB'])
  await s.close()
})

test('delete removes a flushed peer and leaves the others', async () => {
  const s = sqliteStore(dbPath())
  s.save([peer('QmA'), peer('QmB'), peer('QmC')])
  await s.flush()
  s.delete(['QmB'])
  await s.flush()
  assert.deepEqual(byKey(await s.load()), [peer('QmA'), peer('QmC')])
  // Deleting a key that is not stored is harmless.
  s.delete(['QmNobody'])
  await s.flush()
  assert.equal((await s.load()).length, 2)
  await s.close()
})

test('the latest call on a key wins, within one batch and across batches', async () => {
  const s = sqliteStore(dbPath())
  s.save([peer('QmA', { priority: 'low' })])
  s.save([peer('QmA', { priority: 'high', successes: 2 })])
  s.save([peer('QmB')])
  s.delete(['QmB']) // saved then deleted in the same batch: gone
  s.delete(['QmC'])
  s.save([peer('QmC', { failures: 4 })]) // deleted then saved: there
  await s.flush()
  assert.deepEqual(byKey(await s.load()), [peer('QmA', { priority: 'high', successes: 2 }), peer('QmC', { failures: 4 })])

  s.save([peer('QmA', { priority: 'banned' })])
  await s.flush()
  s.save([peer('QmA', { priority: 'medium', tags: { x: 1 } })])
  await s.flush()
  assert.deepEqual(byKey(await s.load()), [peer('QmA', { tags: { x: 1 } }), peer('QmC', { failures: 4 })])
  await s.close()
})

test('close writes what was saved but not flushed', async () => {
  const path = dbPath()
  const s1 = sqliteStore(path)
  s1.save([peer('QmA'), full])
  s1.delete(['QmA'])
  s1.save([peer('QmB')])
  await s1.close()
  const s2 = sqliteStore(path)
  assert.deepEqual(byKey(await s2.load()), byKey([peer('QmB'), full]))
  await s2.close()
})

test('save, delete and load after close fail with ERR_CLOSED, and a second close does nothing', async () => {
  const s = sqliteStore(dbPath())
  s.save([peer('QmA')])
  await s.close()
  assert.throws(() => { s.save([peer('QmB')]) }, hasCode('ERR_CLOSED'))
  assert.throws(() => { s.delete(['QmA']) }, hasCode('ERR_CLOSED'))
  await assert.rejects(s.load(), hasCode('ERR_CLOSED'))
  await s.close()
})

test('flush after close fails with ERR_CLOSED rather than pretending to have written', async () => {
  const s = sqliteStore(dbPath())
  s.save([peer('QmA')])
  await s.close()
  await assert.rejects(s.flush(), hasCode('ERR_CLOSED'))
})

test('the database file is in WAL mode, with a -wal file beside it while the store is open', async () => {
  const path = dbPath()
  const s = sqliteStore(path)
  s.save([peer('QmA')])
  await s.flush()
  assert.ok(existsSync(`${path}-wal`), 'no -wal file while the store is open')
  await s.close()
  // WAL mode is a property of the file: a fresh connection reads it back.
  const db: Database = new BetterSqlite3(path)
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
  } finally {
    db.close()
  }
})

test('sqliteStore creates the missing directories of its path and refuses an empty path', async () => {
  const path = join(dir, 'nested', 'deeper', 'peers.db')
  const s = sqliteStore(path)
  s.save([peer('QmA')])
  await s.close()
  assert.ok(existsSync(path))
  assert.throws(() => sqliteStore(''), hasCode('ERR_INVALID_ARGUMENT'))
})

// ── under a manager ─────────────────────────────────────────────────────────

test('a manager persists peers, priorities, tags and connection history to sqlite, and a new manager on the same file restores them', async () => {
  const path = dbPath()
  const clock = new ManualClock(1_000)
  const m1 = createConnectionManager({ dial: noDial, clock, store: sqliteStore(path) })
  m1.addPeers([
    { id: 'QmBoot', address: 'tcp://boot.example:4001', bootstrap: true },
    { id: 'QmHigh', addresses: ['tcp://10.0.0.1:4001', '/ip4/10.0.0.1/tcp/4002'], topics: ['blocks'], longTerm: true },
    { id: 'QmTagged', address: 'tcp://10.0.0.2:4001' },
    { address: 'tcp://10.0.0.3:4001' } // no id yet
  ])
  m1.setPriority([{ peer: 'QmHigh', priority: 'high' }, { peer: 'QmLow', priority: 'low' }])
  m1.tagPeer('QmTagged', 'kad', 5)
  m1.tagPeer('QmTagged', 'app', 2)
  await clock.advance(500)
  const conn = testConnection('QmFriend', { direction: 'inbound', address: 'tcp://10.0.0.9:5555' })
  assert.equal(m1.connected(conn), true)
  await clock.advance(500)
  await m1.close()

  const m2 = createConnectionManager({ dial: noDial, clock, store: sqliteStore(path) })
  await m2.ready()
  assert.equal(m2.stats().known, 6)
  const high = m2.getPeer('QmHigh')
  assert.ok(high !== undefined)
  assert.equal(high.priority, 'high')
  assert.equal(high.longTerm, true)
  assert.deepEqual(high.topics, ['blocks'])
  assert.deepEqual([...high.addresses].sort(), ['/ip4/10.0.0.1/tcp/4002', 'tcp://10.0.0.1:4001'])
  assert.equal(m2.getPeer('QmLow')?.priority, 'low')
  assert.equal(m2.getPeer('QmBoot')?.bootstrap, true)
  assert.equal(m2.getPeer('QmTagged')?.value, 7)
  assert.deepEqual(m2.getTagInfo('QmTagged')?.tags, { kad: 5, app: 2 })
  assert.equal(m2.getTagInfo('QmTagged')?.firstSeen, 1_000)
  const friend = m2.getPeer('QmFriend')
  assert.ok(friend !== undefined)
  assert.equal(friend.lastConnected, 1_500)
  assert.equal(friend.connected, false)
  const anon = m2.getPeer('tcp://10.0.0.3:4001')
  assert.ok(anon !== undefined)
  assert.equal(anon.id, undefined)
  await m2.close()
})

test('after a restart the peer connected most recently is dialled first, and the bootstrap peer last', async () => {
  const path = dbPath()
  const clock = new ManualClock()
  const addr = (id: string): string => `tcp://${id}.example:4001`
  // Ids chosen so that neither key order nor insertion order puts the friend first.
  const m1 = createConnectionManager({ dial: noDial, clock, store: sqliteStore(path) })
  m1.addPeers(['a1', 'a2', 'a3', 'zz-friend'].map((id) => ({ id, address: addr(id) })))
  m1.addPeers([{ id: 'boot', address: addr('boot'), bootstrap: true }])
  await clock.advance(100)
  const older = testConnection('a2', { direction: 'inbound' })
  m1.connected(older)
  await clock.advance(100)
  m1.disconnected(older)
  await clock.advance(800)
  m1.connected(testConnection('zz-friend', { direction: 'inbound' }))
  await clock.advance(500)
  await m1.close()
  await clock.advance(60_000) // past any redial delay the disconnections set

  const dialled: string[] = []
  const dial = async (address: string): Promise<Connection> => {
    dialled.push(address)
    return testConnection(address.slice('tcp://'.length, -'.example:4001'.length), { direction: 'outbound', address })
  }
  const m2 = createConnectionManager({ dial, clock, store: sqliteStore(path), lowWater: 5, highWater: 10, maxParallelDials: 1 })
  // The application knows only its bootstrap peer; the rest comes from the store.
  m2.addPeers([{ id: 'boot', address: addr('boot'), bootstrap: true }])
  m2.start()
  await m2.ready()
  for (let i = 0; i < 10 && dialled.length < 4; i++) await clock.advance(10)
  assert.equal(dialled.length, 4, `the remembered peers first: ${dialled.join(', ')}`)
  // The bootstrap peer is a last resort: dialled only after bootstrapQuiet (2 s) without progress.
  for (let i = 0; i < 30 && dialled.length < 5; i++) await clock.advance(100)
  assert.equal(dialled.length, 5, `dialled ${dialled.join(', ')}`)
  assert.deepEqual(dialled.slice(0, 2), [addr('zz-friend'), addr('a2')])
  assert.deepEqual(dialled.slice(2, 4).sort(), [addr('a1'), addr('a3')])
  assert.equal(dialled[4], addr('boot'))
  await m2.close()
})

// ── batching ────────────────────────────────────────────────────────────────

/** A memoryStore that counts the calls the manager makes. */
function countingStore (): { store: PeerStore; saves: StoredPeer[][]; flushes: number[] } {
  const inner = memoryStore()
  const saves: StoredPeer[][] = []
  const flushes: number[] = []
  const store: PeerStore = {
    load: async () => await inner.load(),
    save (peers) { saves.push(peers); inner.save(peers) },
    delete (keys) { inner.delete(keys) },
    async flush () { flushes.push(flushes.length); await inner.flush() },
    close: async () => { await inner.close() }
  }
  return { store, saves, flushes }
}

test('1000 connect, disconnect and tag events within one storeFlushInterval are written as exactly one save batch', async () => {
  const clock = new ManualClock()
  const { store, saves, flushes } = countingStore()
  const m = createConnectionManager({ dial: noDial, clock, store, lowWater: 0, highWater: 1000, storeFlushInterval: 1000 })
  m.start()
  await m.ready()
  let events = 0
  const burst = (count: number): void => {
    for (let i = 0; i < count; i++, events++) {
      const peer = `p${Math.floor(events / 3) % 100}`
      const c = testConnection(peer, { id: `c-${peer}` })
      if (events % 3 === 0) m.connected(c)
      else if (events % 3 === 1) m.tagPeer(peer, 'score', events)
      else m.disconnected(c)
    }
  }
  // 1000 events spread over 900 ms of virtual time.
  for (let slice = 0; slice < 10; slice++) {
    burst(100)
    if (slice < 9) await clock.advance(100)
  }
  assert.equal(events, 1000)
  assert.equal(clock.now(), 900)
  assert.equal(saves.length, 0, 'a save happened before the flush interval ended')
  await clock.advance(100)
  assert.equal(saves.length, 1)
  assert.equal(flushes.length, 1)
  // One row per peer, however many times it changed.
  assert.equal(saves[0].length, 100)
  assert.equal(new Set(saves[0].map((p) => p.key)).size, 100)
  const p0 = saves[0].find((p) => p.key === 'p0')
  assert.ok(p0 !== undefined)
  assert.equal(p0.successes, 4) // connected at events 0, 300, 600 and 900
  // Nothing changed since: no more writes, however long we wait.
  await clock.advance(10_000)
  assert.equal(saves.length, 1)
  assert.equal(flushes.length, 1)
  // The next burst is the next batch.
  burst(300)
  await clock.advance(1000)
  assert.equal(saves.length, 2)
  await m.close()
})

test('stop() writes the changes of the current interval at once, without waiting for the timer', async () => {
  const clock = new ManualClock()
  const { store, saves, flushes } = countingStore()
  const m = createConnectionManager({ dial: noDial, clock, store, storeFlushInterval: 60_000 })
  m.start()
  await m.ready()
  m.tagPeer('QmA', 'kad', 1)
  m.addPeers([{ id: 'QmB', address: 'tcp://b.example:1' }])
  await clock.advance(10)
  assert.equal(saves.length, 0)
  await m.stop()
  assert.equal(saves.length, 1)
  assert.deepEqual(saves[0].map((p) => p.key).sort(), ['QmA', 'QmB'])
  assert.equal(flushes.length, 1)
  await m.close()
  // The stopped and closed manager leaves no timer behind that would write again.
  await clock.advance(120_000)
  assert.equal(saves.length, 1)
})

test('a deny entry added at run time survives a restart from the SQLite file as a row of its own, and undeny deletes the row', async () => {
  const path = dbPath()
  const make = (): ReturnType<typeof createConnectionManager> => createConnectionManager({ dial: noDial, clock: new ManualClock(0), store: sqliteStore(path) })
  const first = make()
  first.deny('10.0.0.0/8')
  await first.close()
  assert.deepEqual(rawRows(path).map((r) => r.key), ['!deny:10.0.0.0/8'])
  const second = make()
  await second.ready()
  assert.equal(second.connected(testConnection('a', { address: 'tcp://10.1.2.3:4001' })), false, 'refused after the restart')
  assert.deepEqual(second.listPeers(), [], 'the row is no peer')
  assert.equal(second.undeny('10.0.0.0/8'), true)
  await second.close()
  assert.deepEqual(rawRows(path), [])
})

test('an allow entry added at run time survives a restart from the SQLite file as a row of its own, and unallow deletes the row', async () => {
  const path = dbPath()
  const make = (): ReturnType<typeof createConnectionManager> => createConnectionManager({ dial: noDial, clock: new ManualClock(0), store: sqliteStore(path) })
  const first = make()
  first.allow('10.0.0.0/8')
  await first.close()
  assert.deepEqual(rawRows(path).map((r) => r.key), ['!allow:10.0.0.0/8'])
  const second = make()
  await second.ready()
  assert.equal(second.isAllowed(undefined, 'tcp://10.1.2.3:4001'), true, 'allowed after the restart')
  assert.deepEqual(second.listPeers(), [], 'the row is no peer')
  assert.equal(second.unallow('10.0.0.0/8'), true)
  await second.close()
  assert.deepEqual(rawRows(path), [])
})
