import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { requireOptional } from '../optional-dependency.js'
import type { Clock, PeerStore, StoredPeer } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { busyDelay, isBusy, isCorrupt, missingBindings } from './sqlite-errors.js'
import { decodeRow } from './stored-row.js'

type Database = import('better-sqlite3').Database

export interface SqliteStoreOptions {
  /** Default: the system clock. Retries of a busy database wait on it. */
  clock?: Clock
  /**
   * Default 2. How long one attempt waits for another connection's lock, in ms. better-sqlite3 waits
   * synchronously (its `timeout`), blocking the event loop: keep it tiny and let the retries wait.
   */
  lockWait?: number
  /** Default 25. The first wait before retrying a busy database; it doubles on each retry up to `retryMax`. */
  retryDelay?: number
  /** Default 1_000. The longest wait between two retries of a busy database. */
  retryMax?: number
  /**
   * Default 10_000. How long `load`, `flush` and `close` wait for a locked database before failing with
   * `ERR_STORE_BUSY`. A failed flush keeps its batch: the store goes on retrying it until it is written
   * or the store is closed.
   */
  busyTimeout?: number
  /**
   * Problems that fail no call, each a PeerwardenError: `ERR_STORE_CORRUPT` (the file was moved aside
   * and a fresh one started) and `ERR_STORE_ROWS` (rows that cannot be read were skipped by `load`).
   * Default: `process.emitWarning`.
   */
  onError?: (error: PeerwardenError) => void
}

const OPTIONS = ['clock', 'lockWait', 'retryDelay', 'retryMax', 'busyTimeout', 'onError']
/** How many skipped rows an ERR_STORE_ROWS message names. */
const NAMED_ROWS = 10

/**
 * The embedded on-disk PeerStore: SQLite through better-sqlite3, loaded only when this is called.
 *
 * Rules:
 * - One table, one row per peer (key → JSON), in WAL mode with `synchronous = NORMAL`: a flushed
 *   batch survives the process being killed (SIGKILL) at any moment; after a power loss the last
 *   batches may be lost but the file is never corrupt.
 * - `save`/`delete` only queue (the latest value of a key wins); `flush` writes the queue in one
 *   transaction, so a batch is applied whole or not at all. The queue is emptied only once the
 *   transaction committed: a failed write keeps it for the next one.
 * - A database locked by another connection never blocks the event loop longer than `lockWait` per
 *   attempt: the write is retried with backoff on `clock` (`retryDelay` doubling to `retryMax`), and
 *   `flush` resolves once it landed, or rejects with `ERR_STORE_BUSY` after `busyTimeout` while the
 *   retries go on.
 * - A file that is not a database, or fails SQLite's `quick_check`, is renamed to
 *   `<path>.corrupt-<time>` (kept for inspection) and a fresh store started, reported as
 *   `ERR_STORE_CORRUPT` through `onError`: the store is a cache of what was learnt from the network,
 *   and a node that refuses to start over a cache would need a human to delete it.
 * - `load` returns only rows that decode (`stored-row.ts`); the others are skipped and reported once
 *   per load as `ERR_STORE_ROWS`, naming their keys. They stay in the file until the peer is saved again.
 * - `close` flushes (waiting at most `busyTimeout`) and closes the database; the store is unusable afterwards.
 * - Without better-sqlite3 (an optional peer dependency, loaded when this is called) or its native
 *   binding, this throws `ERR_MISSING_DEPENDENCY` at once, naming the package and how to install it;
 *   nothing is made on disk. (It was reported later, as a 'store:error' of the manager's first load.)
 */
export function sqliteStore (path: string, options: SqliteStoreOptions = {}): PeerStore {
  if (typeof path !== 'string' || path.length === 0) throw PeerwardenError.invalid('path must be a non-empty string')
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  for (const name of Object.keys(options)) if (!OPTIONS.includes(name)) throw PeerwardenError.invalid(`unknown sqliteStore option ${JSON.stringify(name)} (valid: ${OPTIONS.join(', ')})`)
  const clock = options.clock ?? systemClock
  const lockWait = check.duration('lockWait', options.lockWait ?? 2)
  const retryDelay = check.duration('retryDelay', options.retryDelay ?? 25, 1)
  const retryMax = check.duration('retryMax', options.retryMax ?? 1_000, 1)
  const busyTimeout = check.duration('busyTimeout', options.busyTimeout ?? 10_000)
  const report = options.onError === undefined
    ? (err: PeerwardenError) => { process.emitWarning(err) }
    : check.fn<(err: PeerwardenError) => void>('onError', options.onError)
  const Sqlite = loadSqlite()

  let db: Database | undefined
  let closed = false
  let closing: Promise<void> | undefined
  // Serialised when queued: the caller may change its objects afterwards.
  const pending = new Map<string, string | null>()
  // The retries of a write that found the database locked; its next attempt writes all that is pending.
  let writer: Promise<void> | undefined
  let sleeping: { handle: unknown; wake: () => void } | undefined

  const tell = (err: PeerwardenError): void => {
    try { report(err) } catch { /* a failing reporter must not fail the store */ }
  }

  const connect = (Sqlite: typeof import('better-sqlite3')): Database => {
    const d = new Sqlite(path, { timeout: lockWait })
    try {
      d.pragma('journal_mode = WAL')
      d.pragma('synchronous = NORMAL')
      const health = d.pragma('quick_check', { simple: true })
      if (health !== 'ok') throw Object.assign(new Error(`quick_check: ${String(health)}`), { code: 'SQLITE_CORRUPT' })
      d.exec('CREATE TABLE IF NOT EXISTS peers (key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID')
      return d
    } catch (err) {
      d.close()
      throw err
    }
  }

  /** Renames the corrupt file (and its WAL) out of the way; returns the new name. */
  const moveAside = (): string => {
    const stamp = new Date(clock.now()).toISOString().replace(/[:.]/g, '-')
    let aside = `${path}.corrupt-${stamp}`
    for (let i = 1; existsSync(aside); i++) aside = `${path}.corrupt-${stamp}-${i}`
    renameSync(path, aside)
    if (existsSync(`${path}-wal`)) renameSync(`${path}-wal`, `${aside}-wal`)
    rmSync(`${path}-shm`, { force: true })
    return aside
  }

  /** The open database. Throws SQLite's own error when it is busy (the callers retry). */
  const open = (): Database => {
    if (closed) throw PeerwardenError.closed('the sqlite store')
    if (db !== undefined) return db
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    try {
      db = connect(Sqlite)
    } catch (err) {
      const missing = missingBindings(err)
      if (missing !== undefined) throw missing
      if (isBusy(err)) throw err
      if (!isCorrupt(err) || path === ':memory:') throw failure('cannot open', err)
      let aside: string
      try {
        aside = moveAside()
        db = connect(Sqlite)
      } catch (again) {
        throw failure('cannot replace the corrupt', again)
      }
      tell(new PeerwardenError('ERR_STORE_CORRUPT', `the peer store at ${path} is corrupt (${(err as Error).message}): moved it to ${aside} and started an empty one; the peers it held will be learnt again`, { cause: err }))
    }
    return db
  }

  const failure = (what: string, err: unknown): PeerwardenError => err instanceof PeerwardenError
    ? err
    : new PeerwardenError('ERR_STORE', `${what} the peer store at ${path}: ${(err as Error).message}`, { cause: err })

  /** Writes everything pending in one transaction; empties the queue only once it committed. */
  const write = (): void => {
    if (pending.size === 0) return
    const d = open()
    const put = d.prepare('INSERT INTO peers (key, data) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data')
    const del = d.prepare('DELETE FROM peers WHERE key = ?')
    // IMMEDIATE: take the write lock first, so a locked database fails here, before any work.
    d.transaction(() => {
      for (const [key, peer] of pending) {
        if (peer === null) del.run(key)
        else put.run(key, peer)
      }
    }).immediate()
    pending.clear()
  }

  const sleep = async (ms: number): Promise<void> => {
    await new Promise<void>((resolve) => {
      const handle = clock.setTimeout(() => { sleeping = undefined; resolve() }, ms)
      sleeping = { handle, wake: resolve }
    })
  }

  /** Runs `fn`, retrying it with backoff while the database is busy, until `deadline` (clock time). */
  const retry = async <T>(fn: () => T, deadline: number, what: string, sleepFirst = false): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      if (sleepFirst || attempt > 0) {
        const left = deadline - clock.now()
        if (left <= 0) throw busy(what)
        await sleep(Math.min(left, busyDelay(attempt, retryDelay, retryMax)))
        if (closed) throw PeerwardenError.closed('the sqlite store')
      }
      try {
        return fn()
      } catch (err) {
        if (!isBusy(err)) throw failure(`cannot ${what}`, err)
      }
    }
  }

  const busy = (what: string): PeerwardenError => new PeerwardenError('ERR_STORE_BUSY',
    `cannot ${what} the peer store at ${path}: another connection has held its lock for ${busyTimeout} ms` +
    (pending.size > 0 ? `; ${pending.size} peers wait to be written, still retrying` : ''))

  /** Writes what is pending now: at once, or through the retries of a locked database. */
  const writeSoon = (): Promise<void> => {
    // A write is being retried: its next attempt writes this too.
    if (writer !== undefined) return writer
    try {
      write()
      return Promise.resolve()
    } catch (err) {
      if (!isBusy(err)) return Promise.reject(failure('cannot write', err))
    }
    const w = retry(() => { write(); writer = undefined }, Infinity, 'write', true)
    writer = w
    w.catch(() => { if (writer === w) writer = undefined })
    return w
  }

  /** `p`, or ERR_STORE_BUSY after `busyTimeout` of the clock (what `p` does goes on). */
  const bounded = async (p: Promise<void>, what: string): Promise<void> => {
    let handle: unknown
    const timeout = new Promise<never>((_resolve, reject) => { handle = clock.setTimeout(() => { reject(busy(what)) }, busyTimeout) })
    try {
      await Promise.race([p, timeout])
    } finally {
      clock.clearTimeout(handle)
    }
  }

  return {
    async load () {
      if (closed) throw PeerwardenError.closed('the sqlite store')
      const rows = await retry(() => open().prepare('SELECT key, data FROM peers').all() as Array<{ key: string; data: string }>, clock.now() + busyTimeout, 'load')
      const out: StoredPeer[] = []
      const skipped: string[] = []
      for (const row of rows) {
        const res = decodeRow(row.key, row.data)
        if ('peer' in res) out.push(res.peer)
        else skipped.push(`${JSON.stringify(String(row.key).slice(0, 80))} (${res.reason})`)
      }
      if (skipped.length > 0) {
        const named = skipped.slice(0, NAMED_ROWS).join(', ') + (skipped.length > NAMED_ROWS ? ` and ${skipped.length - NAMED_ROWS} more` : '')
        tell(new PeerwardenError('ERR_STORE_ROWS', `the peer store at ${path} holds ${skipped.length} rows that cannot be read; skipped: ${named}`))
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
      await bounded(writeSoon(), 'write')
    },
    async close () {
      if (closing !== undefined) { await closing.catch(() => {}); return }
      closing = (async () => {
        try {
          await bounded(writeSoon(), 'write')
        } finally {
          closed = true
          if (sleeping !== undefined) { clock.clearTimeout(sleeping.handle); sleeping.wake() }
          db?.close()
          db = undefined
        }
      })()
      await closing
    }
  }
}

/**
 * better-sqlite3, checked usable: its module resolves (else `ERR_MISSING_DEPENDENCY` naming it and
 * the install command) and its native binding loads (a database in memory opens; else the
 * `missingBindings` error saying how to rebuild it).
 */
function loadSqlite (): typeof import('better-sqlite3') {
  const Sqlite = requireOptional<typeof import('better-sqlite3')>('better-sqlite3', 'sqliteStore')
  try {
    new Sqlite(':memory:').close()
  } catch (err) {
    throw missingBindings(err) ?? err
  }
  return Sqlite
}
