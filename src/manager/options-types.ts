import type { Clock, Connection, DialFn, PeerId, Priority } from './connection-types.js'
import type { ConnectionLimits } from './connection-limit-types.js'
import type { PeerInfo } from './peer-types.js'
import type { PeerStore } from './store-types.js'

export type { ConnectionLimits } from './connection-limit-types.js'

/** The options of `createConnectionManager`; only `dial` is required. */
export interface ConnectionManagerOptions {
  /** Opens an outbound connection. Must honour `signal`. */
  dial: DialFn
  /** Our own id: never dialled, used for the duplicate tie-break. */
  localPeer?: PeerId
  /** Default 32. Proactive dialing aims here; trimming goes down to here. */
  lowWater?: number
  /** Default 96. The connection count never stays above this (see the README for the exceptions the application forces). */
  highWater?: number
  /** Default 20_000. A new connection is not trimmed before this age. */
  gracePeriod?: number
  /** Default 10_000. At most one background trim per period. */
  silencePeriod?: number
  /** Default undefined. When set, connections that are not long-term, permanent or protected are rotated out after this age. */
  lifetime?: number
  /** Default 8. */
  maxParallelDials?: number
  /** Default 10_000, per address. */
  dialTimeout?: number
  /**
   * Default: never. A dial in flight for this long (ms) no longer counts toward `lowWater`: the
   * scheduler dials the next candidate meanwhile (still at most `maxParallelDials` at once), and the
   * stalled dial goes on until it settles or `dialTimeout`. For transports whose refusals are silent
   * (a firewalled Hyperswarm handshake gets no answer; its dialer gives up after ~4 s): `manageSwarm`
   * sets 1,000.
   */
  stalledDialAfter?: number
  /** Peer ids or IP CIDRs that are never refused nor trimmed. */
  allow?: string[]
  /** Peer ids or IP CIDRs that are refused and never dialled. */
  deny?: string[]
  /** A hook consulted when a peer is added and when it connects; `undefined` keeps the priority as is. */
  prioritise?: (peer: PeerInfo) => Priority | undefined
  /**
   * Called once for every connection the manager accepts (from `connected()`, or a dial of its own),
   * before the 'peer:connected' event; `replaced` is true for a connection that replaced a duplicate
   * (no 'peer:connected' then: 'connection:replaced' follows). For the transport that owns the
   * connections (the node sets up its channels here). A throw is reported as 'hook:error' and counted
   * in `stats().hookErrors`; the connection stays accepted.
   */
  accepted?: (connection: Connection, replaced: boolean) => void
  /** Default: in memory. Where peers, priorities and history persist. */
  store?: PeerStore
  /** Default: the system clock. */
  clock?: Clock
  /** Default: Math.random. Jitter comes from here. */
  random?: () => number
  /** Default 32. How many decisions `explain(peer)` keeps per peer. */
  explainDepth?: number
  /** Default 1_000. How often changed peers are written to `store` (one batch per interval). */
  storeFlushInterval?: number
  /**
   * Default 20_000. The most peers the manager knows at once (`stats().known`). Past it, the least
   * useful peers that never connected are forgotten: hints first, then the ones with the most failed
   * dials, then the oldest learnt. Never evicted: a peer connected now or before, protected,
   * long-term, permanent, banned, bootstrap, of high priority, or tagged. The count stays above the
   * cap only while every known peer is one of those. `stats().evicted` counts the forgotten ones.
   */
  maxPeers?: number
  /**
   * Default true. Bootstrap peers are for getting started: a connection we opened to one does not
   * count toward `lowWater` (the others are dialled to lowWater without it), and once the others
   * reach lowWater the manager closes it ('trimmed'). A bootstrap connection that stays — inbound,
   * protected, permanent, long-term, allow-listed, or needed by a topic quota — counts toward
   * `lowWater` like any other: dials stop at lowWater counting every connection the node keeps.
   * With false, bootstrap connections count and stay.
   */
  releaseBootstrap?: boolean
  /**
   * Default 60_000; 0 turns it off. About this often (jittered to between half and one and a half
   * times it), a node with a topic quota that is content — at least `lowWater` and fewer than
   * `highWater` connections, no dial in flight — dials one known peer of such a topic it is not
   * connected to, at random (never a bootstrap peer), and once connected lets its lowest-ranked
   * trimmable connection go: the count stays, one neighbour is swapped for a stranger. A group of
   * a topic's peers all content with one another (which never dial) thus cannot stay cut off from
   * the rest of the topic for good. Without topic quotas nothing happens.
   */
  exploreInterval?: number
  /**
   * Default `{ perIp: 8, perRange: 32, local: false }`. How many connections one IP (an IPv4 address,
   * an IPv6 /56) and one public address range (an IPv4 /24, an IPv6 /48) may hold, below the bound
   * too: one host with many identities can no longer take every place. 127.0.0.1, ::1 and non-public
   * ranges are exempt unless `local`; allow-listed, protected, permanent and long-term peers and
   * `connectNow` are never refused by it. The rules: `ConnectionLimits`. `stats().connectionLimitRefusals`.
   */
  connectionLimits?: ConnectionLimits
}
