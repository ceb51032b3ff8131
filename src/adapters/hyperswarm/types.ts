/**
 * The part of Hyperswarm v4 that `manageSwarm` drives: its public API plus the few internals named
 * (read from hyperswarm 4.17 `index.js`; each internal is marked so). Public types of
 * `peerwarden/hyperswarm`, re-exported by the adapter module (`adapters/hyperswarm`).
 */
import type { ConnectionManager, ConnectionManagerOptions } from '../../manager/types.js'
import type { RoomPolicy, RoomStats } from '../room-policy.js'

/** The part of a Hyperswarm connection (a `@hyperswarm/secret-stream` NoiseSecretStream) used here. */
export interface HyperswarmConnection {
  readonly remotePublicKey: Uint8Array
  readonly isInitiator: boolean
  destroy(err?: Error): void
  on(event: 'close', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  once?(event: 'close', listener: () => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
}

/** What Hyperswarm passes with a connection (its PeerInfo); the fields after `ban` are internal. */
export interface HyperswarmPeerInfo {
  readonly publicKey: Uint8Array
  readonly topics?: Uint8Array[]
  banned?: boolean
  attempts?: number
  disconnectedTime?: number
  ban?(value: boolean): void
  /** Joined with `swarm.joinPeer` (Hyperswarm dials it itself). */
  explicit?: boolean
  /** Internal: in Hyperswarm's dial queue. */
  queued?: boolean
  /** Internal: in Hyperswarm's retry timer. */
  waiting?: boolean
  /** Internal: which `flush()` calls wait for this peer. */
  _flushTick?: number
}

/** Hyperswarm's dial queue (a shuffled-priority-queue), as the swarm uses it. */
export interface HyperswarmQueue {
  readonly length: number
  add(info: HyperswarmPeerInfo): unknown
  shift(): HyperswarmPeerInfo | undefined
}

/** The part of a Hyperswarm v4 instance the adapter drives (public API plus the internals named). */
export interface HyperswarmLike {
  readonly keyPair: { publicKey: Uint8Array }
  readonly connections: Set<unknown>
  readonly peers: Map<string, HyperswarmPeerInfo>
  maxPeers: number
  maxClientConnections: number
  maxParallel?: number
  destroyed?: boolean
  suspended?: boolean
  joinPeer(publicKey: Uint8Array): void
  leavePeer(publicKey: Uint8Array): void
  join(topic: Uint8Array, opts?: Record<string, unknown>): unknown
  leave(topic: Uint8Array): Promise<void>
  /** Leaves every topic (destroys each discovery without calling `leave`). */
  clear?(): Promise<unknown>
  suspend?(opts?: unknown): Promise<void>
  resume?(opts?: unknown): Promise<void>
  destroy?(opts?: unknown): Promise<void>
  on(event: 'connection', listener: (conn: HyperswarmConnection, info: HyperswarmPeerInfo) => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
  /** Internal (v4): the user's firewall, consulted by `_handleFirewall`. */
  _firewall?: (remotePublicKey: Uint8Array, payload: unknown) => boolean
  /** Internal (v4): called for each peer a topic lookup finds. */
  _handlePeer?: (peer: { publicKey: Uint8Array }, topic: Uint8Array) => void
  /** Internal (v4): drains the dial queue and the explicit peers. */
  _attemptClientConnections?: () => void
  /** Internal (v4): the joined topics, by hex. */
  _discovery?: Map<string, unknown>
  /** Internal (v4): the dial queue; reassigned by `suspend()`. */
  _queue?: HyperswarmQueue
  /** Internal (v4): dials one peer (firewall, relaying, stats, retry timer on close). */
  _connect?: (info: HyperswarmPeerInfo, queued: boolean) => void
  /** Internal (v4): the PeerInfo for a key, created when missing (null for our own key). */
  _upsertPeer?: (publicKey: Uint8Array, relayAddresses: unknown) => HyperswarmPeerInfo | null
  /** Internal (v4): drops a PeerInfo nothing holds any more (no connection, not queued, waiting, explicit or banned). */
  _maybeDeletePeer?: (info: HyperswarmPeerInfo) => void
  /** Internal (v4): every connection, pending dials included, by remote key. */
  _allConnections?: { has(key: Uint8Array): boolean; get(key: Uint8Array): HyperswarmConnection | undefined }
  /** Internal (v4): the current flush generation. */
  _flushTick?: number
}

/**
 * The options of `manageSwarm`: the manager's, but `dial`, plus `topicQuota`. `localPeer`, when
 * given, must be the swarm's key; `allow` and `deny` list keys in hex; an option of `new Hyperswarm()`
 * is refused with where it belongs (hyperswarm/checks.ts).
 */
export interface ManageSwarmOptions extends Partial<Omit<ConnectionManagerOptions, 'dial'>> {
  /** Set as the manager's topic quota for every topic the swarm joins. Default: none. */
  topicQuota?: { min: number; max?: number }
  /**
   * The room a full swarm makes for a peer the bound refuses (adapters/room-policy.ts): `interval`
   * (1 s), `memory` (30 s), `tenure` (60 s: a connection open this long never gives way for a
   * stranger, for a peer found on a topic once per `memory` in all), `maxStrangers` (1024 peers let
   * in as strangers remembered). Default: `DEFAULT_ROOM`. Paced on `clock`.
   */
  room?: Partial<RoomPolicy>
}

/** What `manageSwarm` returns. */
export interface ManagedSwarm {
  /** Its methods are bound: they may be destructured (`const { manager, close } = manageSwarm(swarm)`). */
  readonly manager: ConnectionManager
  /** The figures of the room the swarm makes for refused peers (releases, strangers refused and remembered). */
  roomStats(): RoomStats
  /** Closes the manager (destroying the connections it holds) and restores the swarm's limits, queue, firewall and hooks; the swarm itself is not destroyed. */
  close(): Promise<void>
}
