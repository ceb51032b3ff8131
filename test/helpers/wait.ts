import { cpuWaitMs } from './cpu-wait.js'

/**
 * Polls `predicate` every `everyMs` (20 by default); throws when it has not held within `timeoutMs`.
 * `what` names the awaited condition in the error, or computes that name when the wait times out.
 */
export async function until (predicate: () => boolean, timeoutMs: number, what: string | (() => string) = 'condition', everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (predicate()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/**
 * `until` with a deadline on the time this process could run: the time it sat runnable waiting for a
 * core (cpu-wait.ts) does not count, so a machine loaded by other processes does not fail the wait;
 * the test's own timeout still bounds it. For the waits on work the test drives itself (handshakes,
 * trims, closes), in place of a fixed sleep.
 */
export async function untilRunnable (predicate: () => boolean, timeoutMs: number, what: string | (() => string) = 'condition', everyMs = 20): Promise<void> {
  const started = Date.now()
  const waitedBefore = cpuWaitMs()
  for (;;) {
    if (predicate()) return
    const ran = Date.now() - started - (cpuWaitMs() - waitedBefore)
    if (ran > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms of runnable time (${Date.now() - started} ms wall) waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Rejects if `p` has not settled within `ms`: a hang is a failure, not a test timeout. */
export async function within<V> (p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what} did not settle within ${ms} ms`)) }, ms) })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves after `ms` of real time. */
export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
