/**
 * `peerwarden/hyperswarm`: a Hyperswarm (v4) instance under a peerwarden connection manager.
 * Guide: docs/hyperswarm.md. What differs from a plain swarm, deliberately, is listed there;
 * everything else behaves as without the manager.
 *
 * Rules:
 * - Counting: every swarm 'connection' (both directions) is reported to `manager.connected()`, its
 *   'close' to `manager.disconnected()`. A connection the manager refuses or trims is destroyed.
 *   Hyperswarm's deduplication stays as it is; connection ids keep a replaced connection's late
 *   close from dropping the new one.
 * - Dialing: the manager decides whom to dial (its `lowWater`, priorities, quotas); Hyperswarm
 *   decides when a topic peer is due. Hyperswarm's dial queue is replaced by one that hands each
 *   due peer to the manager (`addPeers` with its topics, then `resetBackoff`): a peer found by a
 *   lookup, or whose retry timer fired — so the swarm's `backoffs` and `jitter` (and its rule that a
 *   topic peer is dropped after four failed attempts until a lookup finds it again) time the
 *   manager's redials. A manager dial is Hyperswarm's own `_connect` (./hyperswarm/dialer.ts), at
 *   most `swarm.maxParallel` at once unless `maxParallelDials` is given; a dial in flight for 1 s
 *   no longer counts toward lowWater (`stalledDialAfter`: a swarm that refuses a handshake sends no
 *   answer, and the dialer waits ~4 s; plain Hyperswarm keeps its attempts in flight whatever its
 *   count, and so does the manager meanwhile). A peer the manager closed
 *   itself (trim, ban, lifetime…) keeps the manager's backoff.
 *   Peers joined with `swarm.joinPeer` are dialled by Hyperswarm as usual (counted and bounded like
 *   any other connection).
 * - Releasing: when Hyperswarm drops a PeerInfo (`_maybeDeletePeer`: after `leavePeer`, after a
 *   last failed attempt, after an inbound peer left), the manager forgets that peer too, unless the
 *   application gave it standing (long-term, bootstrap, a priority other than 'medium') or the
 *   manager knew it before the swarm did.
 * - The firewall (./hyperswarm/firewall.ts): the manager's refusals first (banned, denied, over the
 *   bound with no room made: that handshake only), then the user's firewall. An inbound peer over the
 *   bound may be given room (./hyperswarm/room.ts): a connection gives way and its handshake is let in.
 *   When a connection we held closes and takes us just below lowWater, the client topics are looked
 *   up again (./hyperswarm/lookups.ts).
 * - Bans are shared (./hyperswarm/bans.ts): a Hyperswarm ban (`peerInfo.ban(true)`, the user's
 *   firewall) is a manager ban too, and a manager ban a Hyperswarm ban; each is lifted where it was made.
 * - `suspend()` stops the manager (no dials, no trims) before Hyperswarm closes everything;
 *   `resume()` starts it again and redials at once the peers held before, back to lowWater.
 *   `destroy()` closes the manager too.
 * - An 'error' listener is added to every connection once the 'connection' listeners have run (so
 *   they see the connection as Hyperswarm emits it), so that a reset peer never crashes the process.
 * - `options.topicQuota`, when given, is set for every topic the swarm joins (removed on leave and
 *   clear: ./hyperswarm/topic-quotas.ts).
 *
 * Peer ids are Hyperswarm public keys in lowercase hex; addresses are `hyperswarm:<hex key>` (./hyperswarm/keys.ts).
 * `close()` closes the manager (destroying the connections it holds) and restores the swarm's
 * limits, queue, firewall and hooks; it does not destroy the swarm.
 */
import { createConnectionManager } from '../manager/manager.js'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Connection, ConnectionManager, ConnectionManagerOptions } from '../manager/types.js'
import { SharedBans } from './hyperswarm/bans.js'
import { checkSwarmOptions, claimSwarm, releaseSwarm, swarmAccessEntry } from './hyperswarm/checks.js'
import { ACCESS_ENTRY } from '../manager/access-list.js'
import { SwarmDialer } from './hyperswarm/dialer.js'
import { swarmFirewall } from './hyperswarm/firewall.js'
import { hex, PREFIX } from './hyperswarm/keys.js'
import { RoomLookups } from './hyperswarm/lookups.js'
import { DueQueue, SwarmPatches } from './hyperswarm/patches.js'
import { SwarmReleases } from './hyperswarm/releases.js'
import { Room } from './hyperswarm/room.js'
import { installTopicQuotas } from './hyperswarm/topic-quotas.js'
import type { HyperswarmConnection, HyperswarmLike, HyperswarmPeerInfo, ManagedSwarm, ManageSwarmOptions } from './hyperswarm/types.js'

export type { HyperswarmConnection, HyperswarmLike, HyperswarmPeerInfo, HyperswarmQueue, ManagedSwarm, ManageSwarmOptions } from './hyperswarm/types.js'
export { DEFAULT_ROOM, chooseRoomVictim, shouldRelease, type RoomConnection, type RoomPolicy, type RoomStats } from './room-policy.js'
import { roomPolicy, type RoomStats } from './room-policy.js'

let nextId = 0

const noop = (): void => {}

/**
 * `stalledDialAfter` under manageSwarm: HyperDHT drops a firewalled handshake without a reply and
 * the dialer gives up after ~4 s; past 1 s the manager dials the next candidate meanwhile.
 */
const SWARM_STALLED_DIAL_MS = 1_000

/** Puts `swarm` under a new connection manager; see the module comment for what changes. */
export function manageSwarm (swarm: HyperswarmLike, options: ManageSwarmOptions = {}): ManagedSwarm {
  checkSwarmOptions(options)
  claimSwarm(swarm, options)
  try {
    return new SwarmAdapter(swarm, options)
  } catch (err) {
    releaseSwarm(swarm)
    throw err
  }
}

class SwarmAdapter implements ManagedSwarm {
  readonly manager: ConnectionManager
  private readonly localPeer: string
  /** hex key -> the live connection Hyperswarm holds for it (at most one: its dedup). */
  private readonly live = new Map<string, Connection>()
  /** The manager's dials through the swarm (./hyperswarm/dialer.ts). */
  private readonly dialer: SwarmDialer
  /** Which peers the manager forgets when Hyperswarm lets them go (./hyperswarm/releases.ts). */
  private readonly releases: SwarmReleases
  /** Bans shared with Hyperswarm (./hyperswarm/bans.ts). */
  private readonly bans: SharedBans
  private heldAtSuspend: string[] = []
  private suspending = false
  private closed = false
  private readonly room: Room
  /** Lookups for room after a loss (./hyperswarm/lookups.ts). */
  private readonly lookups: RoomLookups
  private readonly queue = new DueQueue((info) => { this.due(info) })
  /** What we changed on the swarm, undone by `close()`. */
  private readonly patches: SwarmPatches
  private readonly topicQuota: { min: number; max?: number } | undefined

  constructor (readonly swarm: HyperswarmLike, options: ManageSwarmOptions) {
    // Checked (./hyperswarm/checks.ts): localPeer is the swarm's key, allow and deny list keys.
    const { topicQuota, room, localPeer: _localPeer, allow, deny, ...given } = options
    const policy = roomPolicy(room, 'room')
    // A name given as undefined (`firewall: undefined`, spread from elsewhere) says nothing: not passed on.
    const managerOptions = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined))
    this.topicQuota = topicQuota
    // The manager's clock (wall time unless `options.clock`): the room's pacing and the lookups' spacing.
    const clock = options.clock ?? systemClock
    this.localPeer = hex(swarm.keyPair.publicKey)
    const maxParallel = swarm.maxParallel
    this.manager = createConnectionManager({
      ...(typeof maxParallel === 'number' && Number.isInteger(maxParallel) && maxParallel >= 1 ? { maxParallelDials: maxParallel } : {}),
      stalledDialAfter: SWARM_STALLED_DIAL_MS,
      ...managerOptions,
      // Peer ids are keys in lowercase hex: a key given in capitals matches too.
      ...(allow !== undefined ? { allow: allow.map((a) => a.toLowerCase()) } : {}),
      ...(deny !== undefined ? { deny: deny.map((d) => d.toLowerCase()) } : {}),
      localPeer: this.localPeer,
      dial: async (address, opts) => await this.dialer.dial(address, opts),
      // Run-time entries (deny, allow, a ban by IP) are keys, as the options are.
      [ACCESS_ENTRY]: swarmAccessEntry
    } as ConnectionManagerOptions)
    this.releases = new SwarmReleases({
      manager: this.manager,
      swarm,
      stopped: () => this.closed || this.suspending,
      holds: (peer) => this.live.has(peer),
      dialing: (peer) => this.dialer.waiting.has(peer)
    })
    this.bans = new SharedBans({
      manager: this.manager,
      closed: () => this.closed,
      holds: (peer) => this.live.has(peer),
      refuses: (peer) => this.refusedByManager(peer)
    }, (info) => hex(info.publicKey))
    this.dialer = new SwarmDialer({ swarm, bans: this.bans, closed: () => this.closed, live: (peer) => this.live.get(peer) })
    this.patches = new SwarmPatches(swarm)
    this.room = new Room(this.manager, clock, (peer) => {
      // Deferred: the timer's caller may be a firewall still running.
      setImmediate(() => {
        if (this.closed || this.swarm.suspended === true || this.swarm.destroyed === true || this.live.has(peer)) return
        try { this.dialer.connect(peer, Buffer.from(peer, 'hex')) } catch {}
      })
    }, policy)
    this.lookups = new RoomLookups(swarm, this.manager, clock, () => this.closed || this.suspending)
    this.install()
    this.manager.start()
    // Connections the swarm already holds are counted too (and trimmed like any other).
    for (const conn of [...swarm.connections]) {
      const c = conn as HyperswarmConnection
      if (c?.remotePublicKey instanceof Uint8Array) this.onConnection(c, swarm.peers.get(hex(c.remotePublicKey)))
    }
    // Keys Hyperswarm banned before: manager bans too (after counting, so an open connection stays open).
    for (const [id, info] of swarm.peers) if (info.banned === true) this.bans.foundBanned(id)
  }

  // The manager's deny list, not a copy of the option: a key denied at run time (`manager.deny`) is
  // a Hyperswarm ban too, not a refusal by the bound lifted at the next microtask.
  private readonly refusedByManager = (peer: string): boolean =>
    this.closed || this.manager.isDenied(peer) || this.manager.getPeer(peer)?.priority === 'banned'

  private install (): void {
    const { swarm, patches } = this
    patches.set('maxPeers', Infinity) // the manager holds the bound
    for (const info of swarm.peers.values()) this.bans.wrap(info)
    patches.onRestore(() => { this.bans.unwrapAll(swarm.peers.values()) })
    patches.patch('_upsertPeer', (original) => (key, relayAddresses) => {
      const info = original(key, relayAddresses)
      if (info != null && !this.closed) this.bans.wrap(info)
      return info
    })
    const firewall = swarmFirewall({
      swarm,
      manager: this.manager,
      bans: this.bans,
      room: this.room,
      closed: () => this.closed,
      refuses: (peer) => this.refusedByManager(peer),
      dialingNow: () => this.dialer.dialingNow
    }, swarm._firewall)
    patches.set('_firewall', firewall)
    patches.holdQueue(this.queue)
    patches.patch('_handlePeer', (original) => (peer, topic) => {
      original(peer, topic)
      // A connected peer is not queued again, but its new topic counts.
      try { this.offer(peer.publicKey, [topic]) } catch {}
    })
    patches.patch('_maybeDeletePeer', (original) => (info) => {
      original(info)
      this.releases.released(hex(info.publicKey))
    })
    patches.patch('suspend', (original) => async (opts) => { await this.suspend(original, opts) })
    patches.patch('resume', (original) => async (opts) => { await this.resume(original, opts) })
    patches.patch('destroy', (original) => async (opts) => {
      try { await original(opts) } finally { await this.close() }
    })
    if (this.topicQuota !== undefined) installTopicQuotas(swarm, patches, this.manager, this.topicQuota, () => this.closed)
    swarm.on('connection', this.onConnection)
    patches.onRestore(() => { swarm.removeListener('connection', this.onConnection) })
    for (const info of swarm.peers.values()) this.offer(info.publicKey, info.topics)
  }

  // ── discovery and release ─────────────────────────────────────────────
  private offer (key: Uint8Array, topics: readonly Uint8Array[] | undefined): void {
    if (this.closed) return
    const id = hex(key)
    if (id === this.localPeer) return
    // Banned in Hyperswarm alone (a PeerInfo the adapter could not wrap): the manager does not learn it from here.
    if (this.swarm.peers.get(id)?.banned === true && !this.bans.shares(id)) return
    if (this.manager.getPeer(id) === undefined) this.releases.fromSwarm.add(id)
    this.manager.addPeers([{ id, address: PREFIX + id, topics: (topics ?? []).map(hex) }])
  }

  /** Hyperswarm found the peer, or its retry timer fired: the manager may dial it now. */
  private due (info: HyperswarmPeerInfo): void {
    if (this.closed || this.swarm.suspended === true || this.swarm.destroyed === true) return
    if (info.explicit === true) return // the application's joinPeer: Hyperswarm dials it itself
    const id = hex(info.publicKey)
    if (id === this.localPeer) return
    this.offer(info.publicKey, info.topics)
    if (!this.releases.closedByManager.has(id)) this.manager.resetBackoff(id)
  }

  // ── suspend / resume ──────────────────────────────────────────────────
  private async suspend (original: (opts?: unknown) => Promise<void>, opts: unknown): Promise<void> {
    if (this.closed || this.swarm.suspended === true) { await original(opts); return }
    this.suspending = true
    this.heldAtSuspend = [...this.live.keys()]
    const done = original(opts) // closes every connection (synchronously started)
    await this.manager.stop()
    await done
  }

  private async resume (original: (opts?: unknown) => Promise<void>, opts: unknown): Promise<void> {
    const wasSuspended = this.swarm.suspended === true
    await original(opts)
    if (this.closed || !wasSuspended) return
    this.suspending = false
    this.manager.start()
    for (const peer of this.heldAtSuspend) if (this.manager.getPeer(peer) !== undefined) this.manager.resetBackoff(peer)
    this.heldAtSuspend = []
  }

  // ── connections ───────────────────────────────────────────────────────
  /** Whether the manager counts `c` (after a close: only when a dial admitted it late). */
  private holds (c: Connection): boolean {
    return this.manager.listConnections().some((x) => x.id === c.id)
  }

  private readonly onConnection = (conn: HyperswarmConnection, info: HyperswarmPeerInfo | undefined): void => {
    // After the application's own 'connection' listeners have seen the connection as Hyperswarm emits it.
    queueMicrotask(() => { conn.on('error', noop) })
    const peer = hex(conn.remotePublicKey)
    const c: Connection = {
      id: `hyperswarm-${++nextId}`,
      peer,
      direction: conn.isInitiator ? 'outbound' : 'inbound',
      address: PREFIX + peer,
      close: () => {
        this.releases.closedByManager.add(peer)
        conn.destroy()
      }
    }
    const waiters = this.dialer.waiting.take(peer)
    const dialled = waiters !== undefined
    let open = true
    conn.on('close', () => {
      open = false
      const held = this.live.get(peer) === c
      if (held) this.live.delete(peer)
      this.manager.disconnected(c)
      if (held) this.bans.closed(peer)
      if (held) this.lookups.droppedOne()
      // A manager dial resolved with `c` just before it closed: the dialer admits it a few microtasks
      // after this close (regression: one reconnect, then a dead connection counted for good). Only
      // then is it reported again: otherwise the manager hears disconnected() once per connection.
      if (dialled) setImmediate(() => { if (this.holds(c)) this.manager.disconnected(c) })
    })
    if (this.closed) { conn.destroy(); return }
    if (this.manager.getPeer(peer) === undefined) this.releases.fromSwarm.add(peer)
    if (info?.topics !== undefined && info.topics.length > 0) this.offer(conn.remotePublicKey, info.topics)
    const accepted = this.manager.connected(c)
    // A dial through joinPeer (a swarm without the v4 internals) served its purpose.
    if (waiters !== undefined && this.swarm._allConnections === undefined) this.swarm.leavePeer(conn.remotePublicKey)
    if (accepted && open) {
      this.releases.closedByManager.delete(peer)
      this.live.set(peer, c)
    }
    this.dialer.waiting.settle(waiters, accepted && open ? c : undefined, new PeerwardenError('ERR_DIAL_FAILED', `the connection to ${peer} was refused by the manager`))
  }

  // Bound: `const { manager, close } = manageSwarm(swarm)` works (the guide's first sample destructures it).
  readonly roomStats = (): RoomStats => this.room.stats()

  readonly close = async (): Promise<void> => {
    if (this.closed) return
    this.closed = true
    this.patches.restore()
    releaseSwarm(this.swarm)
    this.room.close()
    this.dialer.waiting.close(new PeerwardenError('ERR_CLOSED', 'the manager is closed'))
    await this.manager.close()
    this.live.clear()
  }
}
