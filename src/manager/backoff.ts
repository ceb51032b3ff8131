import type { CloseReason } from './types.js'

/**
 * Every wait before a peer is dialled again, as data (`BackoffPolicy`) plus pure functions: after a
 * failed dial (`nextDelay`) and after a connection ended (`restAfterClose`). Both draw their jitter
 * from one formula (`jittered`). Nothing here holds a timer: the dial scheduler keeps one shared
 * timer for the earliest `nextDialAt` of all peers.
 */
export interface BackoffPolicy {
  /** First retry delay for a peer that has connected before ("proven"). */
  provenBase: number
  /** First retry delay for a peer that never connected. */
  unprovenBase: number
  /** Each further consecutive failure multiplies the delay by this. */
  factor: number
  /** Upper bound for a proven peer's delay. */
  provenMax: number
  /** Upper bound for an unproven peer's delay. */
  unprovenMax: number
  /** Relative jitter: the delay is scaled by a factor drawn uniformly from [1 - jitter, 1 + jitter). */
  jitter: number
  /** After this many consecutive failures a peer sinks to the end of the dial order. */
  sinkAfter: number
  /** A peer that dropped the connection is not redialled for this long (± `restJitter`), unless long-term or permanent. */
  afterDisconnect: number
  /** A peer we trimmed, closed for initial sync, or that the application disconnected is not redialled for this long (± `restJitter`). */
  afterTrim: number
  /** Relative jitter of the rests after a close (`afterDisconnect`, `afterTrim`). */
  restJitter: number
  /**
   * Bootstrap peers are a last resort: while we hold connections, they are dialled only once this long
   * has passed without progress (a new connection or a dial of another peer), so that peers learnt
   * from the previous topology or from peer exchange are tried first.
   */
  bootstrapQuiet: number
}

/**
 * Defaults, close to Hyperswarm's retry table (1 s / 5 s / 15 s, proven peers sooner) and ssb-conn's
 * exponential backoff, but with jitter taken from the injected `random`.
 */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = {
  provenBase: 1_000,
  unprovenBase: 5_000,
  factor: 2,
  provenMax: 5 * 60_000,
  unprovenMax: 30 * 60_000,
  jitter: 0.2,
  sinkAfter: 3,
  afterDisconnect: 10_000,
  afterTrim: 60_000,
  restJitter: 0.25,
  bootstrapQuiet: 2_000
}

/**
 * The delay before the next dial of a peer that has just failed its `failures`-th consecutive time
 * (1 = first failure). A proven peer (one that has connected before) is retried sooner.
 * `random` must return a number in [0, 1).
 */
export function nextDelay (failures: number, proven: boolean, random: () => number, policy: Readonly<BackoffPolicy> = DEFAULT_BACKOFF): number {
  const base = proven ? policy.provenBase : policy.unprovenBase
  const max = proven ? policy.provenMax : policy.unprovenMax
  const raw = Math.min(max, base * policy.factor ** Math.max(0, failures - 1))
  return jittered(raw, policy.jitter, random)
}

/** `ms` scaled by a factor drawn uniformly from [1 - spread, 1 + spread), rounded: the one jitter formula. */
export function jittered (ms: number, spread: number, random: () => number): number {
  return Math.round(ms * (1 - spread + 2 * spread * random()))
}

/**
 * How a connection ended, as the rest table reads it: the reason the manager closed it with, or
 * `disconnect` (the application called `disconnect(peer)`; the connection closes with 'stopped') or
 * `dropped` (the transport reported it closed: the peer or the network ended it).
 */
export type RestCause = CloseReason | 'disconnect' | 'dropped'

/**
 * How long a peer rests after its connection ended before the dialer would dial it again (ms from
 * now), or undefined when the ending sets no rest (its `nextDialAt` stays as it was). The table:
 * - `trimmed`, `initial-sync`, `disconnect`: `afterTrim` ± `restJitter` — we (or the application)
 *   closed it, so redialling at once would only loop;
 * - `lifetime`: one `lifetime` (no jitter) — rotated out for diversity, so others get their turn;
 * - `dropped`: `afterDisconnect` ± `restJitter`, except for long-term and permanent peers (redialled
 *   at once) — a peer that dropped us may be full, and a redial would make it evict someone else;
 * - anything else (banned, denied, duplicate, stopped, over-limit…): no rest.
 * `random` is drawn only when the rest is jittered.
 */
export function restAfterClose (
  cause: RestCause,
  peer: { longTerm: boolean; permanent: boolean },
  lifetime: number | undefined,
  random: () => number,
  policy: Readonly<BackoffPolicy> = DEFAULT_BACKOFF
): number | undefined {
  switch (cause) {
    case 'trimmed':
    case 'initial-sync':
    case 'disconnect':
      return jittered(policy.afterTrim, policy.restJitter, random)
    case 'lifetime':
      return lifetime ?? 0
    case 'dropped':
      return peer.longTerm || peer.permanent ? undefined : jittered(policy.afterDisconnect, policy.restJitter, random)
    default:
      return undefined
  }
}

/** True once a peer has failed often enough in a row to sink to the end of the dial order. */
export function sunk (failures: number, policy: Readonly<BackoffPolicy> = DEFAULT_BACKOFF): boolean {
  return failures >= policy.sinkAfter
}
