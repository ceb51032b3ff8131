import type { Command } from './schema.js'

/**
 * Which instance answering ERR_INVALID_ARGUMENT is at fault. That code is the caller's mistake when
 * every instance would refuse the call (a handler validating its input, Moleculer's 4xx), so it is
 * not a failure for the breakers (retry.ts `instanceFault`) — unless one instance refuses what the
 * others serve.
 *
 * Rules, per command (the schema's: a bounded table):
 * - An instance refusing a call ERR_INVALID_ARGUMENT becomes the command's suspect, its streak 1;
 *   its next refusals add to the streak; the other instances' successes add to `served`.
 * - Any other instance refusing a call as invalid voids the evidence (that refusal's instance is
 *   the new suspect, streak 1, served 0): the calls may just be invalid. The suspect serving a call
 *   clears it.
 * - The suspect is an outlier once it refused `OUTLIER_STREAK` calls in a row while the others
 *   served at least as many and refused none. Its refusal then counts on its breaker; the first time,
 *   with the earlier refusals of its streak (`failures`: streak, then 1 a refusal). An honest
 *   instance gets there only if the invalid calls fall on it alone, `OUTLIER_STREAK` times in a row.
 */

/** Refusals in a row, while the others serve as many, that make the suspect an outlier. */
export const OUTLIER_STREAK = 5

/** How long an outlier comes after the other instances in the balancer's order, ms (from its latest refusal). */
export const OUTLIER_MEMORY = 10_000

interface Evidence { suspect: string; streak: number; served: number; outlier: boolean }

/** The evidence per command (rules at the top of this file). */
export class InvalidOutliers {
  private readonly byCommand = new Map<Command, Evidence>()
  /** Times an instance was found an outlier (`mesh.stats().invalidArgumentOutliers`). */
  found = 0

  /**
   * A balanced call of `command` to `peer` ended: `'ok'`, `'invalid'` (ERR_INVALID_ARGUMENT) or
   * `'other'` (ignored). The failures to count on `peer`'s breaker for it: 0 unless it is an outlier.
   */
  record (command: Command, peer: string, outcome: 'ok' | 'invalid' | 'other'): number {
    if (outcome === 'other') return 0
    const e = this.byCommand.get(command)
    if (outcome === 'ok') {
      if (e === undefined) return 0
      if (e.suspect === peer) this.byCommand.delete(command)
      else e.served++
      return 0
    }
    if (e === undefined || e.suspect !== peer) {
      this.byCommand.set(command, { suspect: peer, streak: 1, served: 0, outlier: false })
      return 0
    }
    e.streak++
    if (e.outlier) return 1
    if (e.streak < OUTLIER_STREAK || e.served < OUTLIER_STREAK) return 0
    // Found now: what it refused before counts too.
    e.outlier = true
    this.found++
    return e.streak
  }
}
