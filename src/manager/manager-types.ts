import type { ManagerEvents, TypedEventTarget } from './events.js'
import type { Connection, PeerId, Priority } from './connection-types.js'
import type { ConnectionInfo, PeerInfo, PeerInput, TagInfo } from './peer-types.js'
import type { Decision, DialFailure, ManagerStats } from './report-types.js'
import type { BumpFn, DecayFn, DecayingTag } from './tag-types.js'

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
   * A bare IPv4/IPv6 address or a CIDR (`10.0.0.7`, `10.0.0.0/8`) is that IP or range, not a peer:
   * `'banned'` adds it to the deny list (`deny`), any other priority lifts that entry (`undeny`).
   */
  setPriority(updates: Array<{ peer: PeerId | string; priority: Priority }>): void
  /**
   * Adds a peer id, an IPv4/IPv6 address or a CIDR to the deny list, as the `deny` option would:
   * live connections it matches close at once (`'denied'`), later ones are refused, the peers it
   * denies are never dialled (`connectNow`: `ERR_DENIED`). Kept in the `store` with the peers, so it
   * holds after a restart. False when the entry was listed already. Rules: deny-control.ts.
   */
  deny(entry: string): boolean
  /** Lifts a deny entry (added by `deny`, a ban by IP or range, or the `deny` option), in any spelling of the range; false when it was not listed. */
  undeny(entry: string): boolean
  /**
   * Adds a peer id, an IPv4/IPv6 address or a CIDR to the allow list, as the `allow` option would:
   * later connections it matches are never refused for the bound nor trimmed, and the live ones it
   * matches stop being trimmable at once (the deny list still wins). Kept in the `store` with the
   * peers, so it holds after a restart. False when the entry was listed already. Rules: allow-control.ts.
   */
  allow(entry: string): boolean
  /** Lifts an allow entry (added by `allow` or the `allow` option), in any spelling of the range; the connections it matched become trimmable again. False when it was not listed. */
  unallow(entry: string): boolean
  /** Whether the allow list (the `allow` option, `allow()`) matches `peer` by id or `address` by its IP. */
  isAllowed(peer: PeerId | undefined, address?: string): boolean
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
  /**
   * Whether the deny list (the `deny` option, `deny()`, bans by IP or range) matches `peer` by id or
   * `address` by its IP: such a connection is refused `'denied'` whatever the bound says. For
   * transports that tell a refusal by the bound (which may make room) from one for good.
   */
  isDenied(peer: PeerId | undefined, address?: string): boolean
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
