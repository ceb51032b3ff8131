/**
 * How SQLite failures are told apart (better-sqlite3 puts SQLite's extended result code on `code`),
 * and the backoff of a busy database as a pure function.
 */

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
