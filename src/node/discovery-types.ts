import type { Clock, ConnectionManager, PeerId } from '../manager/types.js'
import type { HintLimits } from './budget-options.js'
import type { NodeConnection } from './connection.js'
import type { RendezvousTable } from './rendezvous.js'
import type { RendezvousPoint, VisitStats } from './rendezvous-visits.js'

/** What discovery sees of its node: identity, manager, rendezvous service, addresses and connections. */
export interface DiscoveryHost {
  readonly localId: PeerId
  readonly manager: ConnectionManager
  /** Our own rendezvous service, when enabled. */
  readonly rendezvous: RendezvousTable | undefined
  addresses(): string[]
  connections(): Iterable<NodeConnection>
  /** The bootstrap peers: the rendezvous points we keep our registrations at, connected or not. */
  points?(): RendezvousPoint[]
  /** A visit to a rendezvous point (see rendezvous-visits.ts): resolves once the point took it. */
  visit?(point: RendezvousPoint, signal: AbortSignal): Promise<void>
}

/** Discovery's timings, quota and budgets (the node fills them from its own options). */
export interface DiscoveryOptions {
  /** How long an announcement lives at a rendezvous point. Default 60_000. */
  ttl: number
  /** How long a rendezvous point keeps what a visit registered. Default 5 minutes. */
  visitTtl?: number
  /** Re-announce and look up again this often. Default 15_000 (sooner while the topic has no peer). */
  refresh: number
  /** How long a lookup waits for answers. Default 2_000. */
  lookupTimeout: number
  /** Quota given to the manager for each joined topic. Default min(3, lowWater). */
  quotaMin: number
  /** The manager's lowWater, for `flushed`. */
  lowWater: number
  /** Shuffles what a lookup found (the manager's injected `random`, else Math.random). */
  random: () => number
  /** Lookup timeouts and refreshes run on it (the manager's injected clock, else the system clock). */
  clock: Clock
  /** Peer-exchange messages (referrals and lookup answers) taken from one connection per minute; the rest are dropped. Default 120. */
  pexPerMinute?: number
  /** The hint budgets (`createNode`'s `hintLimits`, hint-budget.ts). */
  hintLimits?: Partial<HintLimits>
}

/** What discovery counted of what peers sent it, and of its visits to rendezvous points. */
export interface DiscoveryStats extends VisitStats {
  /** Visits other peers paid our rendezvous service. */
  visitsServed: number
  /** Referrals and answers dropped: over a connection's `pexPerMinute`. */
  pexDropped: number
  /** Hinted addresses (referrals, peer exchange, lookup answers, farewells, hellos' listen addresses) dropped over a host's or range's intake budget (`HintBudget`). */
  hintsDropped: number
  /** Lookup answers nobody asked for (not learnt). */
  unsolicitedAnswers: number
  /** Announcements the rendezvous table refused for a budget. */
  announcesRefused: number
  /** Farewells (a connection refused or trimmed for lack of room) whose referrals stopped at `MAX_FAREWELL_TOPICS` topics. */
  farewellsCapped: number
  /** Topic joins and leaves from peers ignored for the flip budget per identity and per source (a burst of 8, then 1 per 4 s; a source twice that). */
  topicFlipsIgnored: number
  /** Registrations withdrawn from our rendezvous table because the connection they came over closed. */
  rendezvousClosedWithdrawals: number
  /** Lookups answered empty for the per-asker budget (512 full answers a minute). */
  lookupAnswersRefused: number
}

/**
 * How the node joins a topic for a service of its own (relay-topic.ts) rather than the
 * application's: `quota` is the manager's topic quota `min` (0: none); `hidden` leaves the topic out
 * of what we declare, so a node that only looks for a service is never handed out as providing it.
 */
export interface JoinService { quota: number; hidden: boolean }

/** A topic we joined, as discovery holds it. */
export interface Joined {
  key: string
  announce: boolean
  lookup: boolean
  /** Left out of the topics we declare (hello, 'topics', visits): a topic the node looks up for itself (see `JoinService`). */
  hidden: boolean
  /** One of the node's own services (`JoinService`): refreshed at the normal pace only, never sooner. */
  service: boolean
  found: Set<PeerId>
  lookedUp: boolean
  timer: unknown
}
