/**
 * Per-peer dial backoff, as data plus a pure function. Nothing here holds a timer: the dialer keeps
 * one shared timer for the earliest `nextDialAt` of all peers.
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
  /** A peer that dropped the connection is not redialled for this long (±25 %), unless long-term or permanent. */
  afterDisconnect: number
  /** A peer we trimmed (or closed for initial sync) is not redialled for this long (±25 %). */
  afterTrim: number
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
  const scale = 1 - policy.jitter + 2 * policy.jitter * random()
  return Math.round(raw * scale)
}

/** True once a peer has failed often enough in a row to sink to the end of the dial order. */
export function sunk (failures: number, policy: Readonly<BackoffPolicy> = DEFAULT_BACKOFF): boolean {
  return failures >= policy.sinkAfter
}
