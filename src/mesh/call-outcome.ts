import type { Balancer } from './balancer.js'
import type { Instance } from './instance.js'
import type { InvalidOutliers } from './invalid-outlier.js'
import { OUTLIER_MEMORY } from './invalid-outlier.js'
import type { Command } from './schema.js'

/** How long an instance that refused a call ERR_BUSY comes after the others, ms. */
export const BUSY_MEMORY = 1000

/**
 * What a settled attempt tells the balancer about its instance (`outcome`: 'OK' or the metric code
 * of its error, retry.ts `metricCode`; `fault`: the error is the instance's, retry.ts `instanceFault`).
 * True when it opened or closed a breaker.
 *
 * Rules:
 * - ERR_BUSY: the instance comes after the others for BUSY_MEMORY.
 * - ERR_DRAINING: after the others for good (an honest node drains until it closes), even if it
 *   never said 'drain' (an older peer, or a liar drawing the calls of the "fewest outstanding" rule).
 * - Balanced calls only: the outcome counts on the instance's breaker. ERR_INVALID_ARGUMENT is the
 *   caller's mistake, unless this instance refuses what the others serve (invalid-outlier.ts): then
 *   it counts, with the evidence found before, and the instance comes after the others for OUTLIER_MEMORY.
 */
export function recordOutcome (balancer: Balancer, outliers: InvalidOutliers, instance: Instance, command: Command, balanced: boolean, outcome: string, fault: boolean, now: number): boolean {
  if (outcome === 'ERR_BUSY') instance.busyUntil = now + BUSY_MEMORY
  else if (outcome === 'ERR_DRAINING') instance.busyUntil = Infinity
  if (!balanced) return false
  const outlier = outliers.record(command, instance.peer, outcome === 'OK' ? 'ok' : outcome === 'ERR_INVALID_ARGUMENT' ? 'invalid' : 'other')
  if (outlier > 0) instance.busyUntil = Math.max(instance.busyUntil, now + OUTLIER_MEMORY)
  return balancer.record(instance, outlier > 0 || fault, now, Math.max(0, outlier - 1))
}
