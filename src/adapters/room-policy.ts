/**
 * The rule shared by the adapters that make room for late joiners (`peerwarden/hyperswarm`'s
 * hyperswarm/room.ts, `peerwarden/ssb`'s ssb/room.ts): when a full node may let one connection give
 * way for a peer the bound refused, and which one. Each adapter's room says how it then releases it.
 *
 * Rules:
 * - When (`shouldRelease`): only above lowWater (and only when lowWater < highWater), at most once
 *   per `interval`, never for a peer we released ourselves within `memory`, and a stranger gets
 *   none within `memory` of the last release a stranger got (strangers together).
 * - Which (`chooseRoomVictim`): never a protected or long-term connection, nor the newcomer's own.
 *   A peer the room let in as a stranger goes first (oldest first), whoever the newcomer is. Then a
 *   connection that has not proven itself (open less than `tenure`, of medium or low priority,
 *   untagged: value <= 0), oldest first, for any newcomer. A connection that has proven itself
 *   gives way only for a known newcomer with standing (`RoomLedger.hasStanding`: found on a topic,
 *   long-term, bootstrap, of high priority or tagged; not a peer known only from a connection of its
 *   own), and for those together at most once per `memory` (`provenTaken`), the oldest first.
 *   Identities are free: with the oldest connection as a stranger's victim, fresh keys every
 *   `memory` replaced every honest connection of a full node given time (3 of 3 in 90 s); and an
 *   identity that got in while the node was below highWater came back as known and took the oldest
 *   place once a second (regression: a sybil set replaced every tenured connection, one a second).
 *   Now what has held its place for `tenure` goes at most once per `memory`, for a peer with standing only.
 * - Who is a stranger (`RoomLedger.isStranger`): a peer the manager does not know, or one the room
 *   let in as a stranger (remembered, at most `maxStrangers`, the least recently let in forgotten
 *   first): an identity that got in once as a stranger no longer comes back as a known peer.
 * - Time is the clock the ledger is given (the adapters pass their manager's `clock`, wall time by default).
 */
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager, Priority } from '../manager/types.js'

/** How often a full node makes room for a refused peer, and for whom. */
export interface RoomPolicy {
  /** Minimum time between two releases (ms). */
  interval: number
  /** How long a peer we released does not get a release for itself; the shared spacing of strangers' releases and of proven places taken (ms). */
  memory: number
  /** A connection open this long has proven itself: never gives way for a stranger, for known peers at most once per `memory` (ms). */
  tenure: number
  /** Peers let in as strangers that the room remembers as strangers. */
  maxStrangers: number
}

/** At most one release a second; a released peer gets none within 30 s; tenure after 60 s; 1024 strangers remembered. */
export const DEFAULT_ROOM: Readonly<RoomPolicy> = { interval: 1_000, memory: 30_000, tenure: 60_000, maxStrangers: 1024 }

/**
 * `DEFAULT_ROOM` with `given`'s fields: each a number ≥ 0 (`maxStrangers` an integer, `Infinity`
 * allowed for `tenure`), else `ERR_INVALID_ARGUMENT` naming `field`.`name`.
 */
export function roomPolicy (given: unknown, field = 'room'): Readonly<RoomPolicy> {
  if (given === undefined) return DEFAULT_ROOM
  if (given === null || typeof given !== 'object') throw PeerwardenError.invalid(`${field} must be an object of ${Object.keys(DEFAULT_ROOM).join(', ')}`)
  const policy: RoomPolicy = { ...DEFAULT_ROOM }
  for (const [name, value] of Object.entries(given)) {
    if (!(name in DEFAULT_ROOM)) throw PeerwardenError.invalid(`${field}.${name} is not a room option (${Object.keys(DEFAULT_ROOM).join(', ')})`)
    if (value === undefined) continue
    const ok = typeof value === 'number' && value >= 0 && (name === 'maxStrangers' ? Number.isInteger(value) : name === 'tenure' || Number.isFinite(value))
    if (!ok) throw PeerwardenError.invalid(`${field}.${name} must be ${name === 'maxStrangers' ? 'an integer' : 'a number of ms'} >= 0, got ${String(value)}`)
    policy[name as keyof RoomPolicy] = value
  }
  return policy
}

/** What the room's figures say (an adapter's `roomStats()`). */
export interface RoomStats {
  /** Connections released for a refused peer. */
  releases: number
  /** Of those, for a stranger. */
  strangerReleases: number
  /** Of those, of a connection that had proven itself (held its place for `tenure`, high priority or tagged). */
  provenReleases: number
  /** Strangers the room gave no place (their spacing, or no connection they may displace). */
  strangersRefused: number
  /** Peers remembered as let in as strangers (at most `maxStrangers`). */
  strangersRemembered: number
}

/** What the rule reads of one connection. */
export interface RoomConnection {
  peer: string
  openedAt: number
  protected: boolean
  longTerm: boolean
  priority: Priority
  /** The sum of the peer's tag values. */
  value: number
}

/** Pure: should one connection give way for the refused peer now? (the module's first rule). Without `stranger` the peer is treated as known. */
export function shouldRelease (s: { connections: number; lowWater: number; highWater: number; now: number; lastRelease: number; releasedAt: number | undefined; stranger?: boolean; lastStranger?: number }, policy: Readonly<RoomPolicy> = DEFAULT_ROOM): boolean {
  if (s.connections <= s.lowWater || s.highWater <= s.lowWater) return false
  if (s.now - s.lastRelease < policy.interval) return false
  if (s.stranger === true && s.lastStranger !== undefined && s.now - s.lastStranger < policy.memory) return false
  return s.releasedAt === undefined || s.now - s.releasedAt >= policy.memory
}

/**
 * Pure: the connection that gives way for `newcomer`, or undefined when none may (the module's
 * second rule). `standing`: whether a known newcomer may take a proven place at all (default true);
 * `provenTaken`: when one last did (default never).
 */
export function chooseRoomVictim (conns: readonly RoomConnection[], s: { newcomer: string; stranger: boolean; now: number; strangers: ReadonlySet<string>; standing?: boolean; provenTaken?: number }, policy: Readonly<RoomPolicy> = DEFAULT_ROOM): RoomConnection | undefined {
  let strangerVictim: RoomConnection | undefined
  let unproven: RoomConnection | undefined
  let proven: RoomConnection | undefined
  for (const c of conns) {
    if (c.protected || c.longTerm || c.peer === s.newcomer) continue
    if (s.strangers.has(c.peer)) {
      if (strangerVictim === undefined || c.openedAt < strangerVictim.openedAt) strangerVictim = c
    } else if (hasProven(c, s.now, policy)) {
      if (proven === undefined || c.openedAt < proven.openedAt) proven = c
    } else if (unproven === undefined || c.openedAt < unproven.openedAt) {
      unproven = c
    }
  }
  // 1. A room stranger first: newcomers churn among themselves before an honest place is touched.
  if (strangerVictim !== undefined) return strangerVictim
  // 2. Then what has not proven itself yet, oldest first: the late joiners' way into a young room.
  if (unproven !== undefined) return unproven
  // 3. What has proven itself: for a known newcomer with standing only, once per memory for all of them together.
  if (s.stranger || s.standing === false) return undefined
  return s.now - (s.provenTaken ?? -Infinity) >= policy.memory ? proven : undefined
}

/** Held its place for `tenure`, ranked above medium, or tagged by the application. */
function hasProven (c: RoomConnection, now: number, policy: Readonly<RoomPolicy>): boolean {
  return now - c.openedAt >= policy.tenure || c.priority === 'high' || c.value > 0
}

/**
 * The state of one node's room (the adapters' rooms hold one): the last releases, the peers released
 * lately, the strangers let in, and the figures.
 */
export class RoomLedger {
  private lastRelease = -Infinity
  /** When a stranger last got a release. */
  private lastStranger = -Infinity
  /** When a known newcomer last took the place of a connection that had proven itself. */
  private provenTaken = -Infinity
  /** The last `pick` that found a victim: `record` learns from it whether a proven place was taken. */
  private picked: { newcomer: string; victim: string; proven: boolean } | undefined
  /** Peer -> when we released it; entries older than `memory` are dropped (bounded by the connections we held). */
  private readonly released = new Map<string, number>()
  /** Peers let in as strangers, least recently let in first (at most `maxStrangers`). */
  private readonly strangers = new Set<string>()
  private readonly figures = { releases: 0, strangerReleases: 0, strangersRefused: 0, provenReleases: 0 }

  constructor (private readonly manager: ConnectionManager, private readonly now: () => number, readonly policy: Readonly<RoomPolicy> = DEFAULT_ROOM) {}

  /** A peer the manager does not know, or one the room let in as a stranger. */
  isStranger (peer: string): boolean {
    return this.strangers.has(peer) || this.manager.getPeer(peer) === undefined
  }

  /**
   * A peer the manager knows for more than a connection of its own: found on a topic, long-term,
   * bootstrap, of high priority or tagged (regression: an identity that got in while the node was
   * below highWater came back "known" and took a tenured place once a second).
   */
  hasStanding (peer: string): boolean {
    const p = this.manager.getPeer(peer)
    return p !== undefined && (p.topics.length > 0 || p.longTerm || p.bootstrap || p.priority === 'high' || p.value > 0)
  }

  /**
   * Whether a release for `newcomer` is due now (`ignoreInterval`: whether only the interval stands
   * in the way), and the connection that would give way.
   */
  pick (newcomer: string, ignoreInterval = false): { victim: RoomConnection; stranger: boolean } | undefined {
    const { manager, policy } = this
    const now = this.now()
    for (const [peer, at] of this.released) if (now - at >= policy.memory) this.released.delete(peer)
    const { connections, lowWater, highWater } = manager.stats()
    const stranger = this.isStranger(newcomer)
    const state = { connections, lowWater, highWater, now, lastRelease: ignoreInterval ? -Infinity : this.lastRelease, releasedAt: this.released.get(newcomer), stranger, lastStranger: this.lastStranger }
    if (!shouldRelease(state, policy)) {
      if (stranger && !ignoreInterval) this.figures.strangersRefused++
      return undefined
    }
    const conns = manager.listConnections().map((c): RoomConnection => {
      const p = manager.getPeer(c.peer)
      return { peer: c.peer, openedAt: c.openedAt, protected: c.protected, longTerm: p?.longTerm === true, priority: p?.priority ?? 'medium', value: c.value }
    })
    const victim = chooseRoomVictim(conns, { newcomer, stranger, now, strangers: this.strangers, standing: !stranger && this.hasStanding(newcomer), provenTaken: this.provenTaken }, policy)
    if (victim === undefined) {
      if (stranger && !ignoreInterval) this.figures.strangersRefused++
      return undefined
    }
    this.picked = { newcomer, victim: victim.peer, proven: !this.strangers.has(victim.peer) && hasProven(victim, now, policy) }
    return { victim, stranger }
  }

  /** A release for `newcomer` happened: `freed` are the peers whose connections went. */
  record (newcomer: string, stranger: boolean, freed: readonly string[]): void {
    const now = this.now()
    this.lastRelease = now
    this.figures.releases++
    const picked = this.picked
    this.picked = undefined
    if (picked !== undefined && picked.newcomer === newcomer && picked.proven && freed.includes(picked.victim)) {
      this.provenTaken = now
      this.figures.provenReleases++
    }
    // A released stranger stays remembered: it comes back a stranger.
    for (const p of freed) this.released.set(p, now)
    if (!stranger) return
    this.lastStranger = now
    this.figures.strangerReleases++
    this.strangers.delete(newcomer)
    this.strangers.add(newcomer)
    if (this.strangers.size > this.policy.maxStrangers) this.strangers.delete(this.strangers.values().next().value!)
  }

  /** Milliseconds until the interval since the last release is over (0 when it is). */
  nextReleaseIn (): number {
    return Math.max(0, this.lastRelease + this.policy.interval - this.now())
  }

  /** The room's figures. */
  stats (): RoomStats {
    return { ...this.figures, strangersRemembered: this.strangers.size }
  }
}
