import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PeerwardenError } from '../errors.js'
import { requireOptional } from '../optional-dependency.js'

type Database = import('better-sqlite3').Database

/** The lock file in a dataDir, and the file naming its holder (for messages only). */
export const LOCK_FILE = 'peerwarden.lock'
export const OWNER_FILE = 'peerwarden.lock.owner'

// Every lock held: the database object must stay reachable, or the garbage collector
// closes it and the OS lock goes with it (an application may drop its node and keep it serving).
const held = new Set<Database>()

/** A dataDir held by this process until `release()`. */
export interface DataDirLock {
  readonly dir: string
  /** Lets the dataDir go; idempotent. */
  release(): void
}

/**
 * One process, one node per dataDir: two nodes sharing a dataDir would share an identity and write
 * one peer store from two places.
 *
 * Rules:
 * - `lockDataDir(dir)` takes the lock at once or throws `ERR_DATA_DIR_LOCKED` naming the directory
 *   (and the holder's pid when known); it never waits. A second node in the same process is refused
 *   like another process.
 * - The lock is an OS advisory lock (fcntl, through SQLite's exclusive transaction on
 *   `<dir>/peerwarden.lock`), not a pid in a file: the kernel drops it when the holder dies, however
 *   it dies, so a crash never leaves a lock behind and there is no pid to misjudge (a pid reused after
 *   a reboot, pid namespaces of containers sharing a volume, two processes racing to take over the
 *   same stale lock). Like a pid file, it does not hold across hosts on a network filesystem.
 * - `<dir>/peerwarden.lock.owner` says who holds it (pid, since when), for the error message only.
 * - So the lock needs better-sqlite3, an optional peer dependency (`ERR_MISSING_DEPENDENCY` naming it
 *   when missing), as the dataDir's default peer store does anyway; a node without a dataDir never
 *   loads it. An exclusive pid file would not need it, at the price of the stale locks above.
 */
export function lockDataDir (dir: string): DataDirLock {
  const path = resolve(dir)
  // The package first: without it, no empty directory is left behind.
  const Sqlite = requireOptional<typeof import('better-sqlite3')>('better-sqlite3', 'a dataDir (its lock and its peer store)')
  mkdirSync(path, { recursive: true, mode: 0o700 })
  const db = take(Sqlite, path)
  held.add(db)
  const owner = join(path, OWNER_FILE)
  const stamp = `${process.pid} ${new Date().toISOString()}\n`
  try { writeFileSync(owner, stamp) } catch { /* informational only */ }
  let released = false
  return {
    dir: path,
    release () {
      if (released) return
      released = true
      held.delete(db)
      try { if (readFileSync(owner, 'utf8') === stamp) rmSync(owner, { force: true }) } catch { /* gone already */ }
      try { db.exec('ROLLBACK') } finally { db.close() }
    }
  }
}

function take (Sqlite: typeof import('better-sqlite3'), dir: string): Database {
  const file = join(dir, LOCK_FILE)
  for (let attempt = 0; ; attempt++) {
    // timeout 0: a held lock fails at once, it is not waited for.
    const db = new Sqlite(file, { timeout: 0 })
    try {
      db.exec('BEGIN EXCLUSIVE')
      return db
    } catch (err) {
      db.close()
      const code = String((err as { code?: unknown }).code)
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
        throw new PeerwardenError('ERR_DATA_DIR_LOCKED', `the dataDir ${dir} is in use by ${holder(dir)}: one node per dataDir (close the other node, or give this one its own dataDir)`, { cause: err })
      }
      // Not a database (something else wrote the file): nobody can hold a lock on it, replace it once.
      if (attempt === 0 && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'))) {
        rmSync(file, { force: true })
        continue
      }
      throw new PeerwardenError('ERR_DATA_DIR_LOCKED', `cannot lock the dataDir ${dir}: ${(err as Error).message}`, { cause: err })
    }
  }
}

function holder (dir: string): string {
  try {
    const [pid] = readFileSync(join(dir, OWNER_FILE), 'utf8').trim().split(' ')
    if (/^\d+$/.test(pid)) return Number(pid) === process.pid ? 'another node in this process' : `another process (pid ${pid})`
  } catch { /* no owner file: say less */ }
  return 'another process or node'
}
