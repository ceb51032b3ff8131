import { priorityRank } from './rank.js'
import type { PeerRecord } from './peer-record.js'
import type { CloseReason, Priority } from './types.js'

/**
 * What `connected()` knows when it decides about a new connection. A closed manager, the deny list and
 * duplicates are settled before (connections.ts): admission sees only connections that got past them.
 */
export interface AdmissionInput {
  priority: Priority
  allowed: boolean
  /** protected, permanent or dialled through connectNow: the application wants it whatever the count. */
  forced: boolean
  count: number
  highWater: number
  /**
   * The peer to evict at the bound (never the newcomer): the lowest-ranked trimmable peer, and for a
   * connection that is neither forced nor allow-listed the lowest-ranked one whose priority is not
   * above the newcomer's; undefined when there is none.
   */
  victim: PeerRecord | undefined
  /** How many peers are trimmable at all (to say why a newcomer is refused). */
  trimmable: number
}

export type Admission =
  | { accept: true; evict?: PeerRecord; reason: string }
  | { accept: false; close: CloseReason; reason: string }

/**
 * The admission rule, in order:
 * 1. a banned peer is refused ('banned');
 * 2. below the bound the connection is accepted (the bound holds from creation, started or not);
 * 3. at the bound, an allow-listed or forced connection is accepted, evicting the lowest-ranked
 *    trimmable peer if there is one (the bound holds whenever something can give way);
 * 4. otherwise the lowest-ranked trimmable peer whose priority is not above the newcomer's is evicted
 *    (a long-term peer ranks after every other, so it gives way only when no other may); when the
 *    newcomer's priority is below every trimmable peer's, or nothing is trimmable, it is refused
 *    ('over-limit').
 */
export function admit (input: AdmissionInput): Admission {
  if (input.priority === 'banned') return BANNED
  if (input.count < input.highWater) return BELOW_BOUND
  const { victim } = input
  if (input.allowed || input.forced) {
    const why = input.allowed ? 'allow-listed' : 'forced by the application'
    return victim !== undefined
      ? { accept: true, evict: victim, reason: `${why}; at highWater ${input.highWater}, evicts the lowest-ranked peer` }
      : { accept: true, reason: `${why}; over highWater ${input.highWater} with nothing trimmable` }
  }
  if (victim === undefined && input.trimmable === 0) return overLimit(input.highWater, undefined)
  if (victim === undefined || priorityRank(input.priority) < priorityRank(victim.priority)) return overLimit(input.highWater, input.priority)
  return { accept: true, evict: victim, reason: evictionReason(input.highWater) }
}

/** The reason of an admission below the bound: the newcomer's place under highWater. */
export function belowBoundReason (count: number, highWater: number): string {
  return `${count + 1} of highWater ${highWater}`
}

/**
 * The usual admission, below the bound: one shared object. Its reason in a peer's log is the
 * newcomer's place under highWater (`belowBoundReason(count, highWater)`, written when someone reads
 * it: accept-decision.ts), so a churn of connections below the bound formats nothing and allocates
 * no admission. One object, not one per call: the class of an object made per call and never kept
 * is freed with the last of them at a full collection, and the code that knew it is thrown away
 * with it (measured: the accepting path deoptimised after every such collection).
 */
export const BELOW_BOUND: Admission = Object.freeze({ accept: true, reason: 'below highWater' })

/** The usual reason at the bound, one string per highWater (a flood of newcomers formats nothing). */
let eviction = { highWater: -1, reason: '' }
function evictionReason (highWater: number): string {
  if (eviction.highWater !== highWater) eviction = { highWater, reason: `at highWater ${highWater}, evicts the lowest-ranked trimmable peer` }
  return eviction.reason
}

const BANNED: Admission = Object.freeze({ accept: false, close: 'banned', reason: 'peer is banned' })

/**
 * The refusals at the bound, one shared frozen answer per highWater and newcomer's priority (a flood
 * of newcomers at a full node formats nothing and allocates no admission): `priority` undefined when
 * nothing is trimmable.
 */
let refusals = { highWater: -1, answers: new Map<Priority | undefined, Admission>() }
function overLimit (highWater: number, priority: Priority | undefined): Admission {
  if (refusals.highWater !== highWater) refusals = { highWater, answers: new Map() }
  let answer = refusals.answers.get(priority)
  if (answer === undefined) {
    const reason = priority === undefined
      ? `at highWater ${highWater} and no connection is trimmable (all protected, allow-listed or in grace)`
      : `at highWater ${highWater}; priority ${priority} is below every trimmable peer's (or the ones it outranks keep a topic at its quota)`
    answer = Object.freeze({ accept: false, close: 'over-limit', reason })
    refusals.answers.set(priority, answer)
  }
  return answer
}
