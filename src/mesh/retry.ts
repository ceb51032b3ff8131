import { PeerwardenError, type ErrorCode } from '../errors.js'

/**
 * Retries of balanced calls: the policy as data, what a failure means, and the delay before the next
 * attempt — pure functions; caller.ts runs them.
 *
 * Rules:
 * - A refusal (the instance answered ERR_BUSY or ERR_DRAINING: the handler did not run) is failed
 *   over to another instance at once, for every balanced call: nothing ran twice.
 * - A lost attempt (the connection closed during the call, or the attempt's own deadline,
 *   `perAttempt`, passed) is retried on another instance after `nextDelay`, only for an idempotent
 *   command or call: its handler may have run.
 * - Anything else (a handler's throw, the caller's abort, an argument that does not encode) is final.
 * - Every attempt goes to an instance this call has not tried yet; with none left, or no time left
 *   before the call's deadline for the delay, the call fails with the last attempt's error.
 */
export interface RetryOptions {
  /** Retries after the first attempt, for idempotent calls. Default 3. */
  retries?: number
  /** The first delay, ms. Default 50. */
  delay?: number
  /** The longest delay, ms. Default 1000. */
  maxDelay?: number
  /** Each delay is the previous one times this. Default 2. */
  factor?: number
  /** Deadline of one attempt, ms (a slow instance is given up for another one). Default: none, the call's. */
  perAttempt?: number
}

/** What a failed attempt means for the next one. */
export type FailureKind = 'refused' | 'lost' | 'final'

/** The most attempts of one call (the wire's bound on `attempt` too). */
export const MAX_ATTEMPTS = 32

/** The policy with its defaults, checked (ERR_INVALID_ARGUMENT naming the field). */
export function retryOptions (o: RetryOptions, where: string): Required<Omit<RetryOptions, 'perAttempt'>> & { perAttempt: number | undefined } {
  if (o == null || typeof o !== 'object') throw PeerwardenError.invalid(`${where} must be an object`)
  for (const k of Object.keys(o)) {
    if (!['retries', 'delay', 'maxDelay', 'factor', 'perAttempt'].includes(k)) throw PeerwardenError.invalid(`${where}: unknown field ${JSON.stringify(k)}`)
  }
  const out = { retries: o.retries ?? 3, delay: o.delay ?? 50, maxDelay: o.maxDelay ?? 1000, factor: o.factor ?? 2, perAttempt: o.perAttempt }
  if (!Number.isInteger(out.retries) || out.retries < 0 || out.retries >= MAX_ATTEMPTS) throw PeerwardenError.invalid(`${where}.retries must be an integer from 0 to ${MAX_ATTEMPTS - 1}`)
  if (typeof out.delay !== 'number' || !(out.delay >= 0)) throw PeerwardenError.invalid(`${where}.delay must be a number of ms >= 0`)
  if (typeof out.maxDelay !== 'number' || !(out.maxDelay >= out.delay)) throw PeerwardenError.invalid(`${where}.maxDelay must be a number of ms >= delay`)
  if (typeof out.factor !== 'number' || !(out.factor >= 1)) throw PeerwardenError.invalid(`${where}.factor must be a number >= 1`)
  if (out.perAttempt !== undefined && (typeof out.perAttempt !== 'number' || !(out.perAttempt > 0))) throw PeerwardenError.invalid(`${where}.perAttempt must be a positive number of ms`)
  return out
}

/** The delay before attempt `attempt + 1` (attempt >= 1): exponential, capped, with jitter in [50 %, 100 %] from `random` in [0, 1). */
export function nextDelay (attempt: number, policy: { delay: number; maxDelay: number; factor: number }, random: number): number {
  const base = Math.min(policy.maxDelay, policy.delay * policy.factor ** (attempt - 1))
  return base * (0.5 + random / 2)
}

/** The code a remote refusal carried (ERR_BUSY, ERR_DRAINING, …), if `err` is an ERR_REMOTE with one. */
function remoteCode (err: unknown): unknown {
  if (!(err instanceof PeerwardenError) || err.code !== 'ERR_REMOTE') return undefined
  return (err.cause as { code?: unknown } | undefined)?.code
}

/** What a failed attempt means (rules at the top of this file). */
export function classify (err: unknown): FailureKind {
  if (!(err instanceof PeerwardenError)) return 'final'
  if (err.code === 'ERR_CONNECTION_CLOSED' || err.code === 'ERR_TIMEOUT') return 'lost'
  const remote = remoteCode(err)
  return remote === 'ERR_BUSY' || remote === 'ERR_DRAINING' ? 'refused' : 'final'
}

/**
 * The instance's fault (a breaker counts it): a timeout, a lost connection, a full bulkhead, or a
 * handler's throw — not the caller's own doing (abort, bad arguments) nor a drain.
 *
 * An instance answering ERR_NOT_ALLOWED or ERR_UNKNOWN_COMMAND is at fault: our own schema allowed
 * the call before it left (caller.ts), so the instance disagrees with the schema (an older version,
 * a handler missing, or a lie). Were they not counted, a worker answering every call with one of
 * them at once — never a call outstanding, so the balancer's first choice — would fail its share of
 * the calls for good without ever opening its breaker.
 */
export function instanceFault (err: unknown): boolean {
  if (!(err instanceof PeerwardenError)) return false
  if (err.code === 'ERR_CONNECTION_CLOSED' || err.code === 'ERR_TIMEOUT') return true
  if (err.code !== 'ERR_REMOTE') return false
  const remote = remoteCode(err)
  return remote !== 'ERR_DRAINING' && remote !== 'ERR_INVALID_ARGUMENT'
}

const REMOTE_LABELS = new Set<unknown>(['ERR_BUSY', 'ERR_DRAINING', 'ERR_INVALID_ARGUMENT', 'ERR_NOT_ALLOWED', 'ERR_UNKNOWN_COMMAND'])

/**
 * The code a failed call is counted under in the metrics: our own code, or for ERR_REMOTE the mesh's
 * refusal code it carries. A handler's own codes (any string a peer sends) are never a label: they
 * would make the series unbounded.
 */
export function metricCode (err: unknown): ErrorCode | 'ERR_UNKNOWN' {
  if (!(err instanceof PeerwardenError)) return 'ERR_UNKNOWN'
  const remote = remoteCode(err)
  return REMOTE_LABELS.has(remote) ? remote as ErrorCode : err.code
}
