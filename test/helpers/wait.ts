import { cpuWaitMs } from './cpu-wait.js'

/**
 * Polls `predicate` every `everyMs` (20 by default); throws when it has not held within `timeoutMs`
 * of the time this process could run. `what` names the awaited condition in the error, or computes
 * that name when the wait times out.
 *
 * The deadline leaves out the time the process sat runnable waiting for a core (cpu-wait.ts): these
 * waits are hang guards on work the test drives (handshakes, trims, closes), and on a machine loaded
 * by other processes the wall clock measured the machine, not the code — a 5 s wait for a channel
 * to open failed at load 24 with the channel on its way. On a quiet machine it is the wall clock's
 * deadline; the test's own timeout still bounds every wait.
 */
export async function until (predicate: () => boolean, timeoutMs: number, what: string | (() => string) = 'condition', everyMs = 20): Promise<void> {
  const started = Date.now()
  const waitedBefore = cpuWaitMs()
  for (;;) {
    if (predicate()) return
    const wall = Date.now() - started
    // Only read the scheduler's figure once the wall clock says the time is up (a syscall per poll otherwise).
    if (wall > timeoutMs && wall - (cpuWaitMs() - waitedBefore) > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms${wall > timeoutMs * 1.1 ? ` of runnable time (${wall} ms wall)` : ''} waiting for ${typeof what === 'function' ? what() : what}`)
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** `until`, by its older name (its deadline was the first to leave out the time spent waiting for a core). */
export const untilRunnable = until

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
