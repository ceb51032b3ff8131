import type { CloseReason, PeerId } from './connection-types.js'

/** A failed dial of one address: what `errors()` yields and `dial:failed` carries. */
export interface DialFailure { peer?: PeerId; address: string; error: Error; at: number }

/**
 * What a decision in `explain(peer)` did:
 * - `accept` / `refuse`: a connection was admitted or refused (the reason starts with the close reason);
 * - `trim`: the manager closed the peer's connection to keep the bound ('trimmed'); `close`: it closed
 *   it for another reason (banned, duplicate, lifetime, stopped, initial-sync…); `disconnected`: the
 *   transport reported it closed;
 * - `evict`: the peer was forgotten at `maxPeers`;
 * - `dial`: a dial started (and why); `dial-failed`: one address failed; `backoff`: the next dial waits
 *   (or, reset by the application, no longer does);
 * - `merge`: the record known by address only became the peer's own;
 * - `priority` / `ban`: the priority changed; `hook-error`: the `prioritise` hook failed;
 * - `protect` / `unprotect`: a protection tag was added or removed.
 */
export type DecisionAction =
  | 'accept' | 'refuse' | 'trim' | 'close' | 'disconnected' | 'evict'
  | 'dial' | 'dial-failed' | 'backoff' | 'merge' | 'priority' | 'ban' | 'hook-error' | 'protect' | 'unprotect'

/** One decision about a peer, e.g. `{ action: 'trim', reason: 'lowest value (3) among 12 candidates above highWater' }`. */
export interface Decision { at: number; action: DecisionAction; reason: string }

/**
 * Which rule ran a trim (the 'trim' event's `reason`): `watermark` (the background trim above
 * highWater), `explicit` (`trim()`), `limit lowered` (`setWatermarks`/`setMaxConnections` below the
 * count), `start` (`start()` found the count above highWater), `admission` (a newcomer at the bound
 * evicted the lowest-ranked peer), `bootstrap` (a bootstrap connection released once the others reached
 * lowWater), `explore` (a neighbour let go for the stranger exploration reached).
 */
export type TrimReason = 'watermark' | 'explicit' | 'limit lowered' | 'start' | 'admission' | 'bootstrap' | 'explore'

/** The manager's figures now: `stats()`. */
export interface ManagerStats {
  known: number
  connections: number
  inbound: number
  outbound: number
  dialing: number
  /** Known peers protected under at least one tag, or permanent (as `isProtected(peer)` says). */
  protected: number
  /** Known peers whose priority is 'banned'. */
  banned: number
  /** Entries of the deny list (peer ids and IP ranges): the `deny` option's and those added by `deny()` or a ban by IP or range. */
  denyEntries: number
  /** Entries of the allow list (peer ids and IP ranges): the `allow` option's and those added by `allow()`. */
  allowEntries: number
  /** Connections `connected()` refused since creation, by close reason (only the reasons that happened). */
  refused: Partial<Record<CloseReason, number>>
  /** Accounted connections the manager closed since creation, by close reason (`trimmed`: trims, evictions at the bound, released bootstrap connections; only the reasons that happened). */
  closed: Partial<Record<CloseReason, number>>
  /** The watermarks in force (after `setWatermarks` / `setMaxConnections`). */
  lowWater: number
  highWater: number
  /** The cap on known peers (`maxPeers`). */
  maxPeers: number
  /** Peers forgotten because the book was at `maxPeers`, since creation. */
  evicted: number
  /** Addresses learnt from hints whose failed dials are remembered for their backoff (a table fed by peers: at most `maxPeers` entries, the oldest dropped first). */
  addressWaits: number
  /** Errors of the application's hooks ('hook:error'), since creation. */
  hookErrors: number
  /** Connections refused because their IP or address range held `connectionLimits` connections already, since creation. */
  connectionLimitRefusals: number
  /**
   * Decisions `explain()` can show about known peers, kept now: at most `explainDepth` per peer, and
   * in all at most `maxPeers × explainDepth` (fixed at creation, and never above 524,287); past
   * that, the oldest kept decisions give their place to new ones, whichever peer they were about.
   */
  decisions: number
  /**
   * Each topic quota: its `min` (and `max`) as set, `effectiveMin` = min(min, highWater) — the bound
   * wins over a quota — and the connected peers that serve the topic now.
   */
  topics: Array<{ topic: string; min: number; max?: number; effectiveMin: number; connected: number }>
}
