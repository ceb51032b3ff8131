/**
 * How SQLite failures are told apart (better-sqlite3 puts SQLite's extended result code on `code`),
 * and the backoff of a busy database as a pure function.
 */
import { PeerwardenError } from '../errors.js'

/** Another connection holds the lock: retry later, the data is fine. */
export function isBusy (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
}

/** The file is not a database, or a damaged one. */
export function isCorrupt (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
}

/** The wait before busy retry number `attempt` (0-based): `initial`, doubling, at most `max`. */
export function busyDelay (attempt: number, initial: number, max: number): number {
  return Math.min(max, initial * 2 ** Math.min(attempt, 30))
}

/**
 * better-sqlite3 is installed but its native binding is not there (its install script never ran: a
 * package manager that skips install scripts, no prebuilt binary and no compiler) or was built for
 * another Node (`ERR_DLOPEN_FAILED`): `ERR_MISSING_DEPENDENCY` saying how to fix it, with `err` as
 * the cause; undefined for any other error.
 */
export function missingBindings (err: unknown): PeerwardenError | undefined {
  const message = String((err as { message?: unknown } | null)?.message ?? '')
  const code = (err as { code?: unknown } | null)?.code
  if (code !== 'ERR_DLOPEN_FAILED' && !message.includes('Could not locate the bindings file')) return undefined
  const why = code === 'ERR_DLOPEN_FAILED' ? 'was built for another Node or platform' : 'is missing (its install script did not run)'
  return new PeerwardenError('ERR_MISSING_DEPENDENCY', `better-sqlite3 is installed but its native binding ${why}, so sqliteStore cannot open a database: run \`npm rebuild better-sqlite3\` with the Node that runs the application (it fetches a prebuilt binary, or compiles one with python3, make and a C++ compiler); a package manager that skips install scripts must allow better-sqlite3's`, { cause: err })
}
