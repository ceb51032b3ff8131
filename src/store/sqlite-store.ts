import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { PeerwardenError } from '../errors.js'
import type { PeerStore, StoredPeer } from '../manager/types.js'

type Database = import('better-sqlite3').Database

/**
 * The embedded on-disk PeerStore: SQLite through better-sqlite3, loaded only when this is called.
 *
 * Rules:
 * - One table, one row per peer (key → JSON), in WAL mode with `synchronous = NORMAL`: a flushed
 *   batch survives the process being killed (SIGKILL) at any moment; after a power loss the last
 *   batches may be lost but the file is never corrupt.
 * - `save`/`delete` only queue (the latest value of a key wins); `flush` writes the queue in one
 *   transaction, so a batch is applied whole or not at all.
 * - `close` flushes and closes the database; the store is unusable afterwards.
 */
export function sqliteStore (path: string): PeerStore {
  if (typeof path !== 'string' || path.length === 0) throw PeerwardenError.invalid('path must be a non-empty string')
  let db: Database | undefined
  let closed = false
  // Serialised when queued: the caller may change its objects afterwards.
  const pending = new Map<string, string | null>()

  const open = (): Database => {
    if (closed) throw PeerwardenError.closed('the sqlite store')
    if (db !== undefined) return db
    let BetterSqlite3: typeof import('better-sqlite3')
    try {
      BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3')
    } catch (err) {
      throw new PeerwardenError('ERR_STORE', 'sqliteStore needs the better-sqlite3 package (npm install better-sqlite3)', { cause: err })
    }
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    try {
      db = new BetterSqlite3(path)
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      db.exec('CREATE TABLE IF NOT EXISTS peers (key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID')
    } catch (err) {
      throw new PeerwardenError('ERR_STORE', `cannot open the peer store at ${path}: ${(err as Error).message}`, { cause: err })
    }
    return db
  }

  const write = (): void => {
    if (pending.size === 0) return
    const d = open()
    const put = d.prepare('INSERT INTO peers (key, data) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data')
    const del = d.prepare('DELETE FROM peers WHERE key = ?')
    const batch = [...pending]
    pending.clear()
    d.transaction(() => {
      for (const [key, peer] of batch) {
        if (peer === null) del.run(key)
        else put.run(key, peer)
      }
    })()
  }

  return {
    async load () {
      const rows = open().prepare('SELECT data FROM peers').all() as Array<{ data: string }>
      const out: StoredPeer[] = []
      for (const row of rows) {
        try { out.push(JSON.parse(row.data) as StoredPeer) } catch { /* a row we cannot read is skipped, not fatal */ }
      }
      return out
    },
    save (peers) {
      if (closed) throw PeerwardenError.closed('the sqlite store')
      for (const p of peers) pending.set(p.key, JSON.stringify(p))
    },
    delete (keys) {
      if (closed) throw PeerwardenError.closed('the sqlite store')
      for (const k of keys) pending.set(k, null)
    },
    async flush () {
      if (closed) throw PeerwardenError.closed('the sqlite store')
      write()
    },
    async close () {
      if (closed) return
      try { write() } finally {
        closed = true
        db?.close()
        db = undefined
      }
    }
  }
}
