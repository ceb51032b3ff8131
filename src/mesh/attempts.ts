import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import type { Instance } from './instance.js'
import { classify, MAX_ATTEMPTS, nextDelay, retryOptions } from './retry.js'
import type { CallOptions, Command } from './schema.js'

/**
 * The attempts of a balanced call after its first one failed: retries and failover as retry.ts
 * says, then the fallback. caller.ts sends every attempt and keeps the calls in flight; this file
 * only decides what comes next.
 *
 * Rules:
 * - Nothing here runs for a call whose first attempt succeeds: the policy is read from the command
 *   and the call's options when the first attempt fails (`balancedCall`), and the options are
 *   checked before the first attempt is sent (`checkCallOptions`).
 * - A failure the loop would not retry and the fallback would not answer (`settlesAtOnce`) rejects
 *   the call at once, without a round through the loop.
 * - The fallback answers when every attempt failed, except for the caller's own abort, a closed
 *   node, or arguments that cannot be sent (and anything that is not a PeerwardenError).
 */

/** A balanced call's policy and what its next attempts need. */
export interface BalancedCall {
  command: Command
  args: unknown
  /** The call's deadline (each attempt's may be earlier: `perAttempt`). */
  deadline: number
  signal: AbortSignal | undefined
  trace: string | undefined
  idempotent: boolean
  policy: Command['retries']
  fallback: Command['fallback']
}

/** What the attempt loop takes from the caller side. */
export interface AttemptHost {
  readonly clock: Clock
  /** Jitter of the delays, in [0, 1). */
  readonly random: () => number
  /** The node closed: no further attempt. */
  readonly closed: boolean
  /** The instance for the next attempt, not one of `tried` (undefined: none left). */
  pick: (role: string, tried: ReadonlySet<string>) => Instance | undefined
  /** Sends attempt number `attempt` of `call` to `instance`; settles with its outcome. */
  attempt: (instance: Instance, call: BalancedCall, attempt: number) => Promise<unknown>
}

/** Throws ERR_INVALID_ARGUMENT for a call's `retries` or `fallback` that is not one. */
export function checkCallOptions (opts: CallOptions): void {
  if (opts.retries !== undefined) retryOptions(opts.retries, 'retries')
  if (opts.fallback !== undefined && typeof opts.fallback !== 'function') throw PeerwardenError.invalid('fallback must be a function')
}

/** A balanced call's policy: the command's, overridden by the call's options (checked before). */
export function balancedCall (command: Command, args: unknown, deadline: number, opts: CallOptions | undefined, trace: string | undefined): BalancedCall {
  return {
    command,
    args,
    deadline,
    signal: opts?.signal,
    trace,
    idempotent: opts?.idempotent ?? command.idempotent,
    policy: opts?.retries === undefined ? command.retries : retryOptions(opts.retries, 'retries'),
    fallback: opts?.fallback ?? command.fallback
  }
}

/** One attempt's deadline at `now`: `perAttempt` gives a slow instance up for another (idempotent calls only). */
export function attemptDeadline (deadline: number, idempotent: boolean, perAttempt: number | undefined, now: number): number {
  return idempotent && perAttempt !== undefined ? Math.min(deadline, now + perAttempt) : deadline
}

/** Does the fallback answer a call that failed with `err`? */
function fallbackAnswers (call: BalancedCall, err: unknown): boolean {
  if (call.fallback === undefined || !(err instanceof PeerwardenError)) return false
  return err.code !== 'ERR_ABORTED' && err.code !== 'ERR_CLOSED' && err.code !== 'ERR_MESSAGE_TOO_LARGE'
}

/** A first attempt failed with `err`: is that the call's outcome, with no further attempt and no fallback? */
export function settlesAtOnce (call: BalancedCall, err: unknown): boolean {
  const kind = classify(err)
  return (kind === 'final' || (kind === 'lost' && !call.idempotent)) && !fallbackAnswers(call, err)
}

/** The first attempt (to `first`) failed with `err`: the next attempts, then the fallback. */
export async function recover (host: AttemptHost, call: BalancedCall, first: Instance, err: unknown): Promise<unknown> {
  const tried = new Set<string>([first.peer])
  let last = err
  let lost = 0
  for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
    const kind = classify(last)
    if (kind === 'final' || (kind === 'lost' && !call.idempotent)) break
    if (kind === 'lost') {
      if (lost >= call.policy.retries) break
      const delay = nextDelay(++lost, call.policy, host.random())
      if (host.clock.now() + delay >= call.deadline) break
      await sleep(host.clock, delay, call.signal)
      if (host.closed) { last = PeerwardenError.closed('the mesh node'); break }
    }
    const next = host.pick(call.command.role, tried)
    if (next === undefined) break
    tried.add(next.peer)
    try {
      return await host.attempt(next, call, attempt)
    } catch (e) {
      last = e
    }
  }
  return await failed(call, last)
}

/** The call failed with `err`: its fallback's answer, or `err`. */
export async function failed (call: BalancedCall, err: unknown): Promise<unknown> {
  if (!fallbackAnswers(call, err)) throw err
  return await call.fallback!(call.args, err as PeerwardenError)
}

/** Waits `ms` on the clock, or until `signal` aborts. */
async function sleep (clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clock.clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = clock.setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
