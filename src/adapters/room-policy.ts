/**
 * The rule shared by the adapters that make room for late joiners (`peerwarden/hyperswarm`'s
 * hyperswarm/room.ts, `peerwarden/ssb`'s ssb/room.ts): when a full node may let one connection give
 * way for a peer the bound refused. Each adapter's room says what it then releases and how.
 */

/** How often a full node makes room for a refused peer. */
export interface RoomPolicy {
  /** Minimum time between two releases (ms). */
  interval: number
  /** How long a peer we released does not get a release for itself (ms). */
  memory: number
}

/** At most one release a second; a released peer gets none within 30 s. */
export const DEFAULT_ROOM: Readonly<RoomPolicy> = { interval: 1_000, memory: 30_000 }

/**
 * Pure: should one connection give way for the refused peer now? Only above lowWater (and only when
 * lowWater < highWater), at most once per `interval`, and never for a peer we released ourselves
 * within `memory` (`releasedAt`: a released peer that comes straight back would only push another
 * one out). A `stranger` (a peer the manager does not know) gets none within `memory` of the last
 * release a stranger got (`lastStranger`), strangers together: identities are free, and fresh keys
 * every `interval` would replace a full node's connections one by one, oldest first. Without
 * `stranger` the peer is treated as known.
 */
export function shouldRelease (s: { connections: number; lowWater: number; highWater: number; now: number; lastRelease: number; releasedAt: number | undefined; stranger?: boolean; lastStranger?: number }, policy: Readonly<RoomPolicy> = DEFAULT_ROOM): boolean {
  if (s.connections <= s.lowWater || s.highWater <= s.lowWater) return false
  if (s.now - s.lastRelease < policy.interval) return false
  if (s.stranger === true && s.lastStranger !== undefined && s.now - s.lastStranger < policy.memory) return false
  return s.releasedAt === undefined || s.now - s.releasedAt >= policy.memory
}
