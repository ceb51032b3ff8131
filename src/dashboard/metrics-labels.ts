/**
 * The label values of the metrics: every close reason, trim reason and error code, so that each
 * series exists (at 0) from the first scrape — a rate over a series that appears late misses its
 * first increase.
 *
 * Rules:
 * - The lists are checked against their unions at compile time: a reason or a code added to
 *   `CloseReason`, `TrimReason` or `ErrorCode` and not here fails the build.
 * - A value outside the list (an adapter's own reason, an error without a peerwarden code) is counted
 *   under a fallback (`'other'`, `'ERR_UNKNOWN'`), never as a new series: label sets stay bounded
 *   whatever a peer or a transport reports.
 */
import type { ErrorCode } from '../errors.js'
import type { CloseReason, TrimReason } from '../manager/types.js'

/** Every `CloseReason`: the `reason` of `connections_closed_total` and `connections_refused_total`. */
export const CLOSE_REASONS = ['trimmed', 'banned', 'denied', 'duplicate', 'lifetime', 'stopped', 'over-limit', 'initial-sync', 'abandoned', 'protocol', 'timeout', 'over-budget'] as const satisfies readonly CloseReason[]

/** Every `TrimReason`: the `reason` of `trims_total`. */
export const TRIM_REASONS = ['watermark', 'explicit', 'limit lowered', 'start', 'admission', 'bootstrap', 'explore'] as const satisfies readonly TrimReason[]

/** Every `ErrorCode`: the `code` of `dials_failed_total` and `handshakes_failed_total`. */
export const ERROR_CODES = [
  'ERR_INVALID_ARGUMENT', 'ERR_CLOSED', 'ERR_ABORTED', 'ERR_TIMEOUT', 'ERR_MISSING_DEPENDENCY',
  'ERR_NOT_RUNNING', 'ERR_DIAL_FAILED', 'ERR_DIAL_TIMEOUT', 'ERR_NO_ADDRESS', 'ERR_BANNED', 'ERR_DENIED', 'ERR_DUPLICATE_TAG',
  'ERR_STORE', 'ERR_STORE_ROWS', 'ERR_STORE_CORRUPT', 'ERR_STORE_BUSY',
  'ERR_LISTEN', 'ERR_IDENTITY', 'ERR_DATA_DIR_LOCKED', 'ERR_SELF_DIAL', 'ERR_PEER_MISMATCH', 'ERR_HANDSHAKE', 'ERR_HANDSHAKE_TIMEOUT',
  'ERR_HANDSHAKE_EVICTED', 'ERR_NETWORK_KEY', 'ERR_NOT_OPEN', 'ERR_MESSAGE_TOO_LARGE', 'ERR_PROTOCOL', 'ERR_CONNECTION_CLOSED', 'ERR_REFUSED',
  'ERR_CERTIFICATE', 'ERR_NOT_ALLOWED', 'ERR_UNKNOWN_COMMAND', 'ERR_NO_INSTANCE', 'ERR_REMOTE', 'ERR_BUSY', 'ERR_DRAINING', 'ERR_QUEUE', 'ERR_QUEUE_GROUP_LOST', 'ERR_QUEUE_TRIMMED', 'ERR_QUEUE_REDIS_VERSION', 'ERR_QUEUE_DEAD_LETTER', 'ERR_LAB',
  'ERR_UNKNOWN'
] as const satisfies readonly ErrorCode[]

// Compile-time completeness: each line fails to type-check, naming what is missing, when a union grows.
type Missing<Union, List extends readonly unknown[]> = [Exclude<Union, List[number]>] extends [never] ? true : Exclude<Union, List[number]>
complete<Missing<CloseReason, typeof CLOSE_REASONS>>()
complete<Missing<TrimReason, typeof TRIM_REASONS>>()
complete<Missing<ErrorCode, typeof ERROR_CODES>>()
function complete<_ extends true> (): void {}

const closeReasons = new Set<string>(CLOSE_REASONS)
const trimReasons = new Set<string>(TRIM_REASONS)
const errorCodes = new Set<string>(ERROR_CODES)

/** A close reason as a label: one of `CLOSE_REASONS`, else `'other'`. */
export function closeReasonLabel (reason: unknown): string {
  return typeof reason === 'string' && closeReasons.has(reason) ? reason : 'other'
}

/** A trim reason as a label: one of `TRIM_REASONS`, else `'other'`. */
export function trimReasonLabel (reason: unknown): string {
  return typeof reason === 'string' && trimReasons.has(reason) ? reason : 'other'
}

/** An error's code as a label: one of `ERROR_CODES`, else `'ERR_UNKNOWN'` (a socket's own code, no code at all). */
export function errorCodeLabel (error: unknown): ErrorCode {
  const code = (error as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' && errorCodes.has(code) ? code as ErrorCode : 'ERR_UNKNOWN'
}
