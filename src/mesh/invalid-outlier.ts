import type { Command } from './schema.js'

/**
 * Which instance answering ERR_INVALID_ARGUMENT is at fault. That code is the caller's mistake when
 * every instance would refuse the call (a handler validating its input, Moleculer's 4xx), so it is
 * not a failure for the breakers (retry.ts `instanceFault`) — unless one instance refuses what the
 * others serve, all of the time (a worker refusing everything) or part of it (every third call).
 *
 * Rules, per command (the schema's: a bounded table) and instance:
 * - Each instance's latest OUTLIER_WINDOW balanced outcomes of the command are kept: served, or
 *   refused as invalid (other failures are not evidence either way).
 * - The evidence against an instance is its refusals beyond what the other instances' share of
 *   refusals predicts ("refused here, served elsewhere"): `refused - calls × othersRefused / othersCalls`.
 *   Invalid calls, which every instance refuses, fall on every instance alike (the balancer spreads
 *   the calls) and cancel out.
 * - It is an outlier when the evidence reaches OUTLIER_EVIDENCE and OUTLIER_Z (5) standard deviations of its
 *   refusals were the others' share its own (an honest instance that drew more than its share of
 *   invalid calls stays under that), while the others served at least OUTLIER_EVIDENCE calls. Judged
 *   on each of its own outcomes: it stops being one once the evidence falls under that.
 * - Found (each time it becomes one), its refusals in excess count on its breaker at once
 *   (`failures`), then 1 a refusal while it stays one.
 * - A role with a single instance is never judged: nobody else serves the calls, so there is no
 *   telling a liar from a caller sending invalid calls. Nor are instances whose others have served
 *   fewer than OUTLIER_EVIDENCE calls of the command.
 * - At most OUTLIER_TRACKED instances per command (the ones heard from longest ago go first).
 */

/** The latest balanced outcomes of a command kept per instance. */
export const OUTLIER_WINDOW = 64

/** Refusals beyond the others' share (and calls the others served) that make an instance an outlier. */
export const OUTLIER_EVIDENCE = 5

/** Instances tracked per command (`mesh.stats().invalidArgumentTracked` counts them all). */
export const OUTLIER_TRACKED = 256

/** How long an outlier comes after the other instances in the balancer's order, ms (from its latest refusal). */
export const OUTLIER_MEMORY = 10_000

/** One instance's latest outcomes of a command: a ring of OUTLIER_WINDOW (1: refused), `next` the oldest once full. */
interface Window { ring: Uint8Array; next: number; calls: number; refused: number; outlier: boolean }

/** A command's windows, with their sums (the others' figures are the sums less one instance's). */
interface Evidence { windows: Map<string, Window>; calls: number; refused: number }

/** How many standard deviations of the difference the evidence must reach (a one-sided z-test). */
const OUTLIER_Z = 5

/** The evidence per command (rules at the top of this file). */
export class InvalidOutliers {
  private readonly byCommand = new Map<Command, Evidence>()
  /** Times an instance was found an outlier (`mesh.stats().invalidArgumentOutliers`). */
  found = 0

  /** Instances tracked, over every command (`mesh.stats().invalidArgumentTracked`). */
  get tracked (): number {
    let n = 0
    for (const e of this.byCommand.values()) n += e.windows.size
    return n
  }

  /**
   * A balanced call of `command` to `peer` ended: `'ok'`, `'invalid'` (ERR_INVALID_ARGUMENT) or
   * `'other'` (ignored). The failures to count on `peer`'s breaker for it: 0 unless it is an outlier.
   */
  record (command: Command, peer: string, outcome: 'ok' | 'invalid' | 'other'): number {
    if (outcome === 'other') return 0
    let e = this.byCommand.get(command)
    if (e === undefined) this.byCommand.set(command, e = { windows: new Map(), calls: 0, refused: 0 })
    const w = this.window(e, peer)
    const bit = outcome === 'invalid' ? 1 : 0
    if (w.calls === OUTLIER_WINDOW) {
      const old = w.ring[w.next]
      w.calls--
      e.calls--
      w.refused -= old
      e.refused -= old
    }
    w.ring[w.next] = bit
    w.next = (w.next + 1) % OUTLIER_WINDOW
    w.calls++
    e.calls++
    w.refused += bit
    e.refused += bit
    const excess = evidence(w, e.calls - w.calls, e.refused - w.refused)
    if (excess === 0) { w.outlier = false; return 0 }
    if (bit === 0) return 0
    if (w.outlier) return 1
    // Found now: its refusals beyond the others' share count too.
    w.outlier = true
    this.found++
    return excess
  }

  /** `peer`'s window of `e`, heard from now (the budget's order). */
  private window (e: Evidence, peer: string): Window {
    let w = e.windows.get(peer)
    if (w !== undefined) {
      e.windows.delete(peer)
    } else {
      w = { ring: new Uint8Array(OUTLIER_WINDOW), next: 0, calls: 0, refused: 0, outlier: false }
      if (e.windows.size >= OUTLIER_TRACKED) {
        const [oldest, gone] = e.windows.entries().next().value as [string, Window]
        e.windows.delete(oldest)
        e.calls -= gone.calls
        e.refused -= gone.refused
      }
    }
    e.windows.set(peer, w)
    return w
  }
}

/**
 * The refusals of `w` beyond the others' share, rounded down, when they make it an outlier (rules at
 * the top of this file); else 0.
 */
function evidence (w: Window, othersCalls: number, othersRefused: number): number {
  if (othersCalls - othersRefused < OUTLIER_EVIDENCE) return 0
  // The others' share, one refusal and one success added (no share of exactly 0 or 1 from a few calls).
  const share = (othersRefused + 1) / (othersCalls + 2)
  const excess = w.refused - w.calls * share
  // Both shares are estimates: the variance of the difference counts the others' too.
  const spread = OUTLIER_Z * Math.sqrt(share * (1 - share) * w.calls * (1 + w.calls / othersCalls))
  return excess >= OUTLIER_EVIDENCE && excess >= spread ? Math.floor(excess) : 0
}
