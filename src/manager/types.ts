import type { ManagerEvents, TypedEventTarget } from './events.js'
/**
 * Public types of the connection manager, with the rules they obey.
 * The rules of each are in the doc comments and in docs/concepts.md; the names are stable.
 */

export type PeerId = string

/** A peer's standing. Trimming takes `low` before `medium` before `high`; `banned` peers are never connected. */
export type Priority = 'high' | 'medium' | 'low' | 'banned'
/** The priorities by name: `Priority.BANNED` is `'banned'`. */
export const Priority = { HIGH: 'high', MEDIUM: 'medium', LOW: 'low', BANNED: 'banned' } as const

/** What a transport hands the manager: one live connection. */
export interface Connection {
  /** Unique per connection. */
  readonly id: string
  /** The remote peer (known once the handshake is done). */
  readonly peer: PeerId
  readonly direction: 'inbound' | 'outbound'
  /** Remote address, e.g. 'tcp://127.0.0.1:4001', '/ip4/127.0.0.1/tcp/4001' or '127.0.0.1'. */
  readonly address?: string
  /** Open streams right now; 0 = idle. Read when ranking; `undefined` counts as idle. */
  readonly streams?: number
  /**
   * A connection with limits of its own (relayed: a duration and a byte budget). A connection that
   * is not limited always wins the duplicate rule against one that is.
   */
  readonly limited?: boolean
  /** Closes the connection; the manager passes one of {@link CloseReason}. */
  close(reason?: string): void | Promise<void>
}

/** Reason codes the manager gives to `Connection.close(reason)`. */
export type CloseReason = 'trimmed' | 'banned' | 'denied' | 'duplicate' | 'lifetime' | 'stopped' | 'over-limit' | 'initial-sync'
  /** A connection that arrived after its dial timed out or was called off. */
  | 'abandoned'
  /** The peer sent a message its decoder refused (or whose handling failed): the connection is closed, never the process. */
  | 'protocol'
  /** A dead connection: nothing was heard from the peer within the transport's dead timeout. */
  | 'timeout'

/** Injected everywhere; nothing in the core reads `Date.now` or `setTimeout` directly. */
export interface Clock {
  /** The current time in milliseconds. */
  now(): number
  /** Runs `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown
  /** Cancels a timer `setTimeout` returned; a handle already fired or cleared is ignored. */
  clearTimeout(handle: unknown): void
}

/** Opens an outbound connection. Must honour `signal`. */
export type DialFn = (address: string, opts: { peer?: PeerId; signal: AbortSignal }) => Promise<Connection>

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
   * Default true. Bootstrap peers are for getting started: a connection to one does not count toward
   * `lowWater` (the others are dialled to lowWater without it, whoever opened it), and once the others
   * reach lowWater the manager closes it ('trimmed'), unless it is inbound, protected, permanent,
   * long-term, allow-listed, or a topic quota needs it. With false, bootstrap connections count and stay.
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
}

/** A peer as the application (or a transport's discovery) tells the manager about it: `addPeers([...])`. */
export interface PeerInput {
  /** Unknown until the first handshake is fine: the address stands in. */
  id?: PeerId
  address?: string
  addresses?: string[]
  /** Default 'medium'. */
  priority?: Priority
  topics?: string[]
  longTerm?: boolean
  /** Bootstrap peers are dialled only when nothing better is known. */
  bootstrap?: boolean
  /**
   * Default false. True for what a third party told us (peer exchange, a DHT or rendezvous lookup):
   * a claim, not a fact, until the peer proves it by a handshake. Rules:
   * - a hint never takes an address that another known peer holds, and never removes or replaces an
   *   address (a peer we reached directly keeps the addresses its handshake proved);
   * - a hint never gives a peer known by address only an id (no merge);
   * - a hint adds at most 8 addresses per peer and adds topics (never removes them);
   * - a hint may not carry `priority`, `longTerm` or `bootstrap` (refused: those are the application's);
   * - a hint whose id is unknown and whose addresses all belong to other peers creates nothing;
   * - an address learnt from a hint whose dial failed is not dialled again before its backoff ends,
   *   whichever id claims it next (the bookkeeping keys on the address string as given: normalise
   *   spellings before `addPeers`);
   * - a peer known only from hints counts toward `maxPeers`, is the first evicted, and is not
   *   written to the store until it connects or the application names it.
   */
  hint?: boolean
}

/** What the manager knows of a peer: `getPeer`, `listPeers`, the `prioritise` hook. */
export interface PeerInfo {
  id?: PeerId
  addresses: string[]
  priority: Priority
  topics: string[]
  longTerm: boolean
  bootstrap: boolean
  connected: boolean
  protected: boolean
  /** Sum of the peer's tag values, decaying tags included. */
  value: number
  lastConnected?: number
  failures: number
  nextDialAt?: number
}

/** A connection the manager holds, as `listConnections()` lists it. */
export interface ConnectionInfo {
  id: string
  peer: PeerId
  direction: 'inbound' | 'outbound'
  address?: string
  openedAt: number
  value: number
  protected: boolean
}

/** A peer's tags and connections, as `getTagInfo(peer)` gives them (go-libp2p's `TagInfo`). */
export interface TagInfo {
  /** When the manager first heard of the peer (a tag, an add or a connection). */
  firstSeen: number
  value: number
  tags: Record<string, number>
  /** Connection id -> opened at. */
  conns: Record<string, number>
}

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
 * evicted the lowest-ranked peer).
 */
export type TrimReason = 'watermark' | 'explicit' | 'limit lowered' | 'start' | 'admission'

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
  /**
   * Each topic quota: its `min` (and `max`) as set, `effectiveMin` = min(min, highWater) — the bound
   * wins over a quota — and the connected peers that serve the topic now.
   */
  topics: Array<{ topic: string; min: number; max?: number; effectiveMin: number; connected: number }>
}

/** What a decaying tag's functions see of one peer's tag. `lastVisit` is the time of the last bump (or of the first one). */
export interface DecayValue { value: number; added: number; lastVisit: number }

/**
 * Runs every `interval` of the injected clock for each peer holding the tag. `now` is the clock's time
 * at the tick. Returning `remove: true` deletes the tag from the peer.
 */
export type DecayFn = (value: DecayValue, now: number) => { value: number; remove: boolean }
/** Computes the new value of a tag when it is bumped by `delta`. */
export type BumpFn = (value: DecayValue, delta: number) => number

/** A decaying tag's `decay` runs every `interval` of the injected clock, exactly (no hidden resolution). */
export interface DecayingTag {
  readonly name: string
  readonly interval: number
  /** Bumps the peer's value by `delta` (through the tag's BumpFn). Throws `ERR_CLOSED` after `close()`. */
  bump(peer: PeerId, delta: number): void
  /** Removes the tag from the peer. Throws `ERR_CLOSED` after `close()`. */
  remove(peer: PeerId): void
  /** Stops decaying; the current values stay on the peers. Idempotent. */
  close(): void
}

/** A peer as the store keeps it. `key` is the id, or '@' + address while the id is unknown. */
export interface StoredPeer {
  key: string
  id?: PeerId
  addresses: string[]
  priority: Priority
  topics: string[]
  longTerm: boolean
  permanent: boolean
  bootstrap: boolean
  tags: Record<string, number>
  lastConnected?: number
  successes: number
  failures: number
  nextDialAt?: number
  firstSeen?: number
}

/**
 * Where peers persist. The manager batches: it calls `save`/`delete` with everything that changed
 * since the last flush, then `flush()`, at most once per `storeFlushInterval` and on `close()`.
 * Rules for implementations: `save` and `delete` only queue; `flush` makes every earlier call durable
 * (atomically: after a crash the store holds each flushed batch whole or, for the one in progress,
 * not at all); `load` returns what the store holds; `close` flushes and releases the store.
 */
export interface PeerStore {
  /** Every stored peer. */
  load(): Promise<StoredPeer[]>
  /** Queues these peers to be written (inserted or replaced by `key`). */
  save(peers: StoredPeer[]): void
  /** Queues these peers to be removed. */
  delete(keys: string[]): void
  /** Makes every earlier `save` and `delete` durable, as one batch. */
  flush(): Promise<void>
  /** Flushes, then releases the store. */
  close(): Promise<void>
}

/** The connection manager `createConnectionManager` returns. Its rules are in docs/concepts.md. */
export interface ConnectionManager {
  /**
   * The manager is OFF until start(): it dials nothing and runs no background trim. The bound holds
   * from creation, though: connections are accounted and gated (banned, denied, duplicates, and
   * admission at highWater, which may evict or refuse), and a lowered limit or `trim()` trims at once.
   */
  readonly running: boolean
  /** Starts dialing, trimming and rotating (see `running`). */
  start(): void
  /** Stops dialing and closes every managed connection (reason 'stopped'); start() may follow. */
  stop(): Promise<void>
  /**
   * stop() + releases every timer and the store; idempotent; the manager is unusable afterwards:
   * what would add state or act (addPeers, tagPeer, upsertTag, protect, setPriority, setWatermarks,
   * setLifetime, setTopicQuota with a quota, trim, connectNow, start…) throws ERR_CLOSED; what only
   * releases (disconnected, unprotect, untagPeer, setTopicQuota(topic, undefined), disconnect,
   * forgetPeer) is a quiet no-op, so teardown code in any order never throws; reads keep answering.
   */
  close(): Promise<void>
  /** Resolves once the peers of `store` are loaded (dialing waits for them); at once without a store. */
  ready(): Promise<void>

  /** Adds peers or merges what is said of known ones (by id, else by address). */
  addPeers(peers: PeerInput[]): void
  /**
   * `peer` is a peer id or an address. A string that names a known peer (by id or address) is that
   * peer; otherwise it is an address when it starts with a scheme and a colon (`tcp://…`,
   * `net:host:port~shs:…`), with `/` (a multiaddr) or `[`, or is an IP or `host:port` — and a peer id in
   * every other case, SSB ids (`@…/…=.ed25519`) included (rule: `isAddress` in peer-knowledge.ts).
   */
  setPriority(updates: Array<{ peer: PeerId | string; priority: Priority }>): void
  /** Long-term peers are redialled whenever lost, never rotated, and trimmed last among the unprotected. */
  setLongTerm(peer: PeerId, longTerm: boolean): void
  /** Forgets a peer that is not connected: its record, tags and history (in the store too). */
  forgetPeer(peer: PeerId): void
  /** What is known of a peer, by id or address; undefined when nothing is. */
  getPeer(peer: PeerId): PeerInfo | undefined
  /** Every known peer. */
  listPeers(): PeerInfo[]
  /** Calls `listener` at once with the current list, then after every change (coalesced per tick). Returns unsubscribe. */
  observePeers(listener: (peers: readonly PeerInfo[]) => void): () => void

  /** false = refused (banned, denied, duplicate loser, over the cap, closed manager); the manager has closed it. */
  connected(conn: Connection): boolean
  /**
   * A cheap gate for transports, before any handshake: false when a connection from `address` would
   * be refused whoever it turns out to be (the address is deny-listed, or the manager is closed).
   */
  accepts(address: string): boolean
  /**
   * Whether `connected()` would accept a connection from `peer` (at `address`) right now — for gates
   * that know the peer before the connection is complete (a libp2p connection gater after Noise).
   * Changes nothing; `connected()` still decides. The `prioritise` hook is not consulted (it may
   * have side effects): the peer's priority as known now is used.
   */
  admits(peer: PeerId | string, address?: string): boolean
  /** The transport reports that a connection closed, whoever closed it. */
  disconnected(conn: Connection): void
  /**
   * The transport reports that the connection's `streams` changed (a stream opened or closed). A
   * connection reported once is trusted to report every later change: the manager keeps its rank up
   * to date on each report instead of reading `streams` of every connection before a trim, so a trim
   * of k peers costs O(k log n) rather than O(n). Connections never reported are read as before.
   * Unknown connections are ignored.
   */
  streamsChanged(conn: Connection): void
  /** The connections held now. */
  listConnections(): ConnectionInfo[]
  /** Dials at once, outside the queue and the watermarks; `permanent: true` makes the peer permanent (redialled after every loss, never trimmed). */
  connectNow(peer: PeerId | string, opts?: { permanent?: boolean; signal?: AbortSignal }): Promise<Connection>
  /** Closes the peer's connection; the peer then rests (the trim backoff) before the dialer dials it again. */
  disconnect(peer: PeerId): Promise<void>
  /**
   * Forgets the backoff of `peer`, or of every bootstrap peer when none is given, so the dialer may
   * dial it at once (say, when the application just joined a topic and holds no connection).
   */
  resetBackoff(peer?: PeerId | string): void

  /** Sets highWater (and lowWater = min(lowWater, max)). */
  setMaxConnections(max: number): void
  /** New watermarks; a lowered `high` holds at once. */
  setWatermarks(low: number, high: number): void
  /** Connections that are not long-term, permanent or protected are closed at this age (undefined: never). */
  setLifetime(ms: number | undefined): void

  /** Sets a tag's value on a peer (a peer's value is the sum of its tags; higher is trimmed later). */
  tagPeer(peer: PeerId, tag: string, value: number): void
  /** Removes a tag from a peer. */
  untagPeer(peer: PeerId, tag: string): void
  /** Sets a tag to `upsert(current value, 0 when absent)`. */
  upsertTag(peer: PeerId, tag: string, upsert: (current: number) => number): void
  /** A peer's tags and connections; undefined for a peer never seen. */
  getTagInfo(peer: PeerId): TagInfo | undefined
  /** Idempotent, not reference-counted. */
  protect(peer: PeerId, tag: string): void
  /** true = still protected under another tag. */
  unprotect(peer: PeerId, tag: string): boolean
  /** No tag = protected under any tag. */
  isProtected(peer: PeerId, tag?: string): boolean
  /** A tag whose value decays every `interval` ms by `decay` and grows by `bump` (`decay` and `bump` hold presets). */
  registerDecayingTag(name: string, interval: number, decay: DecayFn, bump: BumpFn): DecayingTag
  /** Trims now, down to lowWater. */
  trim(): Promise<void>

  /** Keeps at least `min` peers of the topic connected and offers those over `max` to trimming first; undefined removes the quota. */
  setTopicQuota(topic: string, quota: { min: number; max?: number } | undefined): void

  readonly initialSync: { start(peer?: PeerId | string): void; stop(): void; readonly active: boolean }

  /** Every failed dial, in order, until `close()`. */
  errors(): AsyncIterable<DialFailure>
  /** Typed CustomEvents (ManagerEvents): `events.addEventListener('peer:connected', (e) => e.detail.peer)`. */
  readonly events: TypedEventTarget<ManagerEvents>
  /** The last decisions about a peer (accept, refuse, trim, dial…), oldest first, each with its reason. */
  explain(peer: PeerId): Decision[]
  /** The figures now. */
  stats(): ManagerStats
}
