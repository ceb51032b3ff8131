import { readFileSync } from 'node:fs'

/**
 * How long (ms) this process's main thread has waited for a core since it started: Linux's
 * /proc/thread-self/schedstat, second field (run_delay, ns); 0 where it cannot be read.
 *
 * A bound on the wall-clock time of work the test drives itself ("converges within seconds") counts
 * only the time the process could run: subtract what this returns after the work minus before it.
 * On a quiet machine that is ~0 and the bound is the wall clock's; on one loaded by other processes
 * it takes out exactly the time this process sat runnable without a core, which says nothing about
 * the code under test.
 */
export function cpuWaitMs (): number {
  try {
    const fields = readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/)
    const ns = Number(fields[1])
    return Number.isFinite(ns) ? ns / 1e6 : 0
  } catch {
    return 0
  }
}
