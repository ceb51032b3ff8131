import type { CloseReason } from './connection-types.js'

/**
 * A count per close reason, since creation: `stats().refused` (connections `connected()` turned
 * away) and `stats().closed` (accounted connections the manager closed).
 *
 * Rules:
 * - Only reasons that happened have a key; `snapshot()` is a copy (the caller may keep or change it).
 * - `add` is a property increment: it runs on every refusal and every close, trims included.
 */
export class CloseCounts {
  private readonly counts: Partial<Record<CloseReason, number>> = {}

  add (reason: CloseReason): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1
  }

  snapshot (): Partial<Record<CloseReason, number>> {
    return { ...this.counts }
  }
}
