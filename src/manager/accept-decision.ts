import { belowBoundReason } from './admission.js'
import { reasonCode } from './decision-log.js'

/** The reason an accepted connection's decision gives: its direction, then the admission's reason. */
export function acceptedReason (direction: 'inbound' | 'outbound', admission: string): string {
  return `${direction} connection accepted: ${admission}`
}

/**
 * The reason code of a connection admitted below the bound (the usual admission, `BELOW_BOUND`):
 * the decision keeps the count before the connection came (`a`), the bound then (`b`) and whether it
 * came inbound (`c` = 1), and its text is written only when someone reads it (`explain()`, the
 * dashboard). A churn of connections accepts one after another; formatting each reason (the count
 * and the bound to text, four concatenations) made a string almost no one reads.
 *
 * Rules:
 * - The text is exactly what an eager decision says: `acceptedReason(direction,
 *   belowBoundReason(count, highWater))`.
 */
export const ACCEPTED_BELOW_BOUND = reasonCode((count, highWater, inbound) =>
  acceptedReason(inbound === 1 ? 'inbound' : 'outbound', belowBoundReason(count, highWater)))
