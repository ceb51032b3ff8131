import { belowBoundReason } from './admission.js'
import { reasonCode } from './decision-log.js'
import type { CloseReason } from './types.js'

// The reasons of the decisions made when a connection comes: accepted (below the bound: kept as
// numbers) or refused (kept as the close reason's number and the shared text).

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

/**
 * The reason code of a connection the transport reported closed (`disconnected()`): the decision
 * keeps no text of its own — a churn of connections wrote one text slot per close and freed it
 * when the decision left the log.
 */
export const DROPPED = reasonCode(() => 'the transport reported the connection closed')

/** The close reasons refusals have named, by number (a refusal keeps the number: `REFUSED`). */
const REFUSAL_REASONS: CloseReason[] = []
/** The number a refusal keeps for its close reason (`REFUSED`'s `a`). */
export function refusalIndex (reason: CloseReason): number {
  const i = REFUSAL_REASONS.indexOf(reason)
  return i !== -1 ? i : REFUSAL_REASONS.push(reason) - 1
}
/** A refusal's reason: `${close reason}: ${why}`, written when `explain()` reads it. */
export const REFUSED = reasonCode((index, _b, _c, why) => `${REFUSAL_REASONS[index]}: ${why ?? ''}`)
