import { belowBoundReason } from './admission.js'
import type { Decision } from './types.js'

/** The reason an accepted connection's decision gives: its direction, then the admission's reason. */
export function acceptedReason (direction: 'inbound' | 'outbound', admission: string): string {
  return `${direction} connection accepted: ${admission}`
}

/**
 * The decision a connection admitted below the bound (the usual admission, `BELOW_BOUND`) leaves in
 * its peer's log, whose reason is written only when someone reads it (`explain()`, the dashboard), as
 * a trim's are (explain.ts): a churn of connections accepts one after another, and each reason was
 * formatted (the count and the bound to text, four concatenations) and held in the log as a chain
 * of strings that almost no one reads.
 *
 * Rules:
 * - The text is exactly what the eager decision said: `acceptedReason(direction,
 *   belowBoundReason(count, highWater))`; written once, then kept.
 * - It holds the two numbers, not the admission (a plain value; nothing else stays reachable).
 * - `explain()` copies `at`, `action` and `reason` into a plain object (a spread would miss the getter).
 */
export class AcceptDecision implements Decision {
  readonly action = 'accept' as const
  private text: string | undefined = undefined

  constructor (
    readonly at: number,
    private readonly direction: 'inbound' | 'outbound',
    /** The count before the connection came, and the bound then. */
    private readonly count: number,
    private readonly highWater: number
  ) {}

  get reason (): string {
    this.text ??= acceptedReason(this.direction, belowBoundReason(this.count, this.highWater))
    return this.text
  }
}
