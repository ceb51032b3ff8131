import { constants, PerformanceObserver } from 'node:perf_hooks'

/**
 * Counts this process's major GCs (Mark-Compacts) from now on, for the bulk children's figures: a
 * child that runs one every few dozen MB sent sits in V8's incremental-marking band (heap-ballast.ts).
 * The count is read as the observer has delivered it (entries arrive in batches, a little late).
 */
export function countMajorGcs (): () => number {
  let n = 0
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) n++
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return () => n
}
