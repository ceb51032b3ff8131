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
 *   manager's redials. A manager dial is Hyperswarm's own `_connect` (firewall, relaying, stats,
 *   flush accounting, retry timer), at most `swarm.maxParallel` at once unless `maxParallelDials` is
 *   given. A peer the manager closed itself (trim, ban, lifetime…) keeps the manager's backoff.
 *   Peers joined with `swarm.joinPeer` are dialled by Hyperswarm as usual (counted and bounded like
 *   any other connection).
 * - Releasing: when Hyperswarm drops a PeerInfo (`_maybeDeletePeer`: after `leavePeer`, after a
 *   last failed attempt, after an inbound peer left), the manager forgets that peer too, unless the
 *   application gave it standing (long-term, bootstrap, a priority other than 'medium') or the
 *   manager knew it before the swarm did.
 * - The firewall: Hyperswarm consults `swarm._firewall` before a handshake completes and before its
 *   own dials. A peer the manager refuses (priority 'banned', on the `deny` list, over the bound
 *   with nothing that may give way) is firewalled first; an over-the-bound refusal is for that
 *   handshake only (Hyperswarm's ban is lifted). An inbound peer over the bound may be given room
 *   (./hyperswarm/room.ts): a connection gives way and that handshake is let in.
 *   The user's firewall is consulted afterwards, with Hyperswarm's meaning (a firewalled key is banned).
 * - Bans are shared (./hyperswarm/bans.ts): a Hyperswarm ban (`peerInfo.ban(true)`, the user's
 *   firewall) is a manager ban too, and a manager ban a Hyperswarm ban; each is lifted where it was made.
 * - `suspend()` stops the manager (no dials, no trims) before Hyperswarm closes everything;
 *   `resume()` starts it again and redials at once the peers held before, back to lowWater.
 *   `destroy()` closes the manager too.
 * - An 'error' listener is added to every connection once the 'connection' listeners have run (so
 *   they see the connection as Hyperswarm emits it), so that a reset peer never crashes the process.
 * - `options.topicQuota`, when given, is set for every topic the swarm joins (removed on leave and clear).
 *
 * Peer ids are Hyperswarm public keys in lowercase hex; addresses are `hyperswarm:<hex key>`.
 * `close()` closes the manager (destroying the connections it holds) and restores the swarm's
 * limits, queue, firewall and hooks; it does not destroy the swarm.
 */
import { createConnectionManager } from '../manager/manager.js'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Clock, Connection, ConnectionManager } from '../manager/types.js'
import { SharedBans } from './hyperswarm/bans.js'
import { checkSwarmOptions, claimSwarm, releaseSwarm } from './hyperswarm/checks.js'
import { DueQueue, SwarmPatches } from './hyperswarm/patches.js'
import { SwarmReleases } from './hyperswarm/releases.js'
import { Room } from './hyperswarm/room.js'
import { WaitingDials } from './hyperswarm/waiting-dials.js'
import type { HyperswarmConnection, HyperswarmLike, HyperswarmPeerInfo, ManagedSwarm, ManageSwarmOptions } from './hyperswarm/types.js'

export type { HyperswarmConnection, HyperswarmLike, HyperswarmPeerInfo, HyperswarmQueue, ManagedSwarm, ManageSwarmOptions } from './hyperswarm/types.js'
export { DEFAULT_ROOM, chooseRoomVictim, shouldRelease, type RoomConnection, type RoomPolicy, type RoomStats } from './room-policy.js'
import { roomPolicy, type RoomStats } from './room-policy.js'

const PREFIX = 'hyperswarm:'
/** At most one lookup for room per this many ms (see `droppedOne`). */
const LOOKUP_INTERVAL = 2_000
const HEX_KEY = /^[0-9a-f]{64}$/
let nextId = 0

const hex = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
const noop = (): void => {}

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
  private readonly deny: Set<string>
  /** hex key -> the live connection Hyperswarm holds for it (at most one: its dedup). */
  private readonly live = new Map<string, Connection>()
  /** Manager dials waiting for a key's connection. */
  private readonly waiting = new WaitingDials((peer) => this.live.get(peer))
  /** Which peers the manager forgets when Hyperswarm lets them go (./hyperswarm/releases.ts). */
  private readonly releases: SwarmReleases
  /** Bans shared with Hyperswarm (./hyperswarm/bans.ts). */
  private readonly bans: SharedBans
  /** The peer the manager is dialling right now (the firewall sees its own side's dial). */
  private dialingNow: string | undefined
  private heldAtSuspend: string[] = []
  private lastLookup = -Infinity
  private suspending = false
  private closed = false
  private readonly room: Room
  private readonly queue = new DueQueue((info) => { this.due(info) })
  /** What we changed on the swarm, undone by `close()`. */
  private readonly patches: SwarmPatches
  private readonly topicQuota: { min: number; max?: number } | undefined
  /** The manager's clock (wall time unless `options.clock`): the room's pacing and the lookups' spacing. */
  private readonly clock: Clock

  constructor (readonly swarm: HyperswarmLike, options: ManageSwarmOptions) {
    // Checked (./hyperswarm/checks.ts): localPeer is the swarm's key, allow and deny list keys.
    const { topicQuota, room, localPeer: _localPeer, allow, deny, ...given } = options
    const policy = roomPolicy(room, 'room')
    // A name given as undefined (`firewall: undefined`, spread from elsewhere) says nothing: not passed on.
    const managerOptions = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined))
    this.topicQuota = topicQuota
    this.clock = options.clock ?? systemClock
    this.localPeer = hex(swarm.keyPair.publicKey)
    this.deny = new Set((deny ?? []).map((d) => d.toLowerCase()))
    const maxParallel = swarm.maxParallel
    this.manager = createConnectionManager({
      ...(typeof maxParallel === 'number' && Number.isInteger(maxParallel) && maxParallel >= 1 ? { maxParallelDials: maxParallel } : {}),
      ...managerOptions,
      // Peer ids are keys in lowercase hex: a key given in capitals matches too.
      ...(allow !== undefined ? { allow: allow.map((a) => a.toLowerCase()) } : {}),
      ...(deny !== undefined ? { deny: [...this.deny] } : {}),
      localPeer: this.localPeer,
      dial: async (address, opts) => await this.dial(address, opts)
    })
    this.releases = new SwarmReleases({
      manager: this.manager,
      swarm,
      stopped: () => this.closed || this.suspending,
      holds: (peer) => this.live.has(peer),
      dialing: (peer) => this.waiting.has(peer)
    })
    this.bans = new SharedBans({
      manager: this.manager,
      closed: () => this.closed,
      holds: (peer) => this.live.has(peer),
      refuses: (peer) => this.refusedByManager(peer)
    }, (info) => hex(info.publicKey))
    this.patches = new SwarmPatches(swarm)
    this.room = new Room(this.manager, this.clock, (peer) => {
      // Deferred: the firewall that refused the peer is still running.
      setImmediate(() => {
        if (this.closed || this.swarm.suspended === true || this.swarm.destroyed === true || this.live.has(peer)) return
        try { this.connect(peer, Buffer.from(peer, 'hex')) } catch {}
      })
    }, policy)
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

  private readonly refusedByManager = (peer: string): boolean =>
    this.closed || this.deny.has(peer) || this.manager.getPeer(peer)?.priority === 'banned'

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
    const userFirewall = swarm._firewall
    patches.set('_firewall', (key, payload) => this.firewall(key, payload, userFirewall))
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
    if (this.topicQuota !== undefined) {
      const quota = this.topicQuota
      for (const topic of swarm._discovery?.keys() ?? []) this.manager.setTopicQuota(topic, quota)
      patches.patch('join', (original) => (topic, opts) => {
        const session = original(topic, opts)
        if (!this.closed) this.manager.setTopicQuota(hex(topic), quota)
        return session
      })
      patches.patch('leave', (original) => async (topic) => {
        if (!this.closed && topic != null) this.manager.setTopicQuota(hex(topic), undefined)
        await original(topic)
      })
      // clear() leaves every topic without calling leave(): their quotas go too.
      if (swarm.clear !== undefined) {
        patches.patch('clear', (original) => async () => {
          if (!this.closed) for (const topic of swarm._discovery?.keys() ?? []) this.manager.setTopicQuota(topic, undefined)
          return await original()
        })
      }
    }
    swarm.on('connection', this.onConnection)
    patches.onRestore(() => { swarm.removeListener('connection', this.onConnection) })
    for (const info of swarm.peers.values()) this.offer(info.publicKey, info.topics)
  }

  // ── the firewall ──────────────────────────────────────────────────────
  private firewall (key: Uint8Array, payload: unknown, userFirewall: HyperswarmLike['_firewall']): boolean {
    const peer = hex(key)
    if (this.refusedByManager(peer)) {
      this.bans.refusedByManager(peer) // Hyperswarm bans the key right after this returns
      return true
    }
    if (!this.manager.admits(peer) && !this.madeRoom(peer)) {
      // Over the bound with nothing that may give way: refuse this handshake only. Hyperswarm bans a
      // firewalled key for good, right after this returns; the ban is lifted on the next microtask.
      this.bans.refusedOnce(peer)
      queueMicrotask(() => {
        this.bans.settledOnce(peer)
        const info = this.swarm.peers.get(peer)
        if (info?.banned !== true || this.refusedByManager(peer)) return
        this.bans.set(info, false)
        // The PeerInfo Hyperswarm made only to ban the key goes too, unless something holds it now.
        this.swarm._maybeDeletePeer?.(info)
      })
      return true
    }
    return userFirewall !== undefined ? userFirewall.call(this.swarm, key, payload) : false
  }

  /**
   * Over the bound: whether the room let a connection give way for `peer` (an inbound peer, not our
   * own dial), so that this handshake is let in (./hyperswarm/room.ts).
   */
  private madeRoom (peer: string): boolean {
    if (this.dialingNow === peer || this.closed) return false
    // Nothing may throw out of the firewall: HyperDHT would swallow it and leave the handshake
    // hanging, so the remote would wait for its timeout instead of seeing the refusal.
    try { return this.room.refused(peer) && this.manager.admits(peer) } catch { return false }
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
    const waiters = this.waiting.take(peer)
    const dialled = waiters !== undefined
    let open = true
    conn.on('close', () => {
      open = false
      const held = this.live.get(peer) === c
      if (held) this.live.delete(peer)
      this.manager.disconnected(c)
      if (held) this.bans.closed(peer)
      if (held) this.droppedOne()
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
    this.waiting.settle(waiters, accepted && open ? c : undefined, new PeerwardenError('ERR_DIAL_FAILED', `the connection to ${peer} was refused by the manager`))
  }

  /**
   * A connection we held closed. Falling below lowWater that way (a peer that made room for a
   * late joiner, or left), the manager may know no peer with room: our lookups ran when we joined
   * and repeat every 10 min. A fresh lookup of the client topics finds the peers there now
   * (at most one per LOOKUP_INTERVAL).
   */
  private droppedOne (): void {
    if (this.closed || this.suspending || this.swarm.suspended === true || this.swarm.destroyed === true) return
    const { connections, lowWater } = this.manager.stats()
    if (connections !== lowWater - 1) return // only the step below lowWater
    const now = this.clock.now()
    if (now - this.lastLookup < LOOKUP_INTERVAL) return
    this.lastLookup = now
    for (const d of this.swarm._discovery?.values() ?? []) {
      const discovery = d as { isClient?: boolean; destroyed?: boolean; refresh?: () => Promise<unknown> }
      if (discovery.isClient === true && discovery.destroyed !== true) discovery.refresh?.().catch(noop)
    }
  }

  // ── dialing ───────────────────────────────────────────────────────────
  private async dial (address: string, opts: { signal: AbortSignal }): Promise<Connection> {
    const { swarm } = this
    if (!address.startsWith(PREFIX)) throw new PeerwardenError('ERR_DIAL_FAILED', `not a hyperswarm address: ${address}`)
    const peer = address.slice(PREFIX.length).toLowerCase()
    if (!HEX_KEY.test(peer)) throw new PeerwardenError('ERR_DIAL_FAILED', `not a 32-byte hex key: ${address}`)
    if (this.closed || swarm.destroyed === true) throw new PeerwardenError('ERR_CLOSED', 'the swarm or the manager is closed')
    if (swarm.suspended === true) throw new PeerwardenError('ERR_DIAL_FAILED', 'the swarm is suspended')
    if (opts.signal.aborted) throw opts.signal.reason
    const existing = this.live.get(peer)
    if (existing !== undefined) return existing
    const key = Buffer.from(peer, 'hex')
    return await this.waiting.wait(peer, opts.signal, () => {
      const all = swarm._allConnections
      if (all === undefined) {
        // Not a Hyperswarm we know the inside of: an explicit join, left again once connected.
        swarm.joinPeer(key)
        swarm._attemptClientConnections?.()
        return
      }
      let pending = all.get(key)
      if (pending === undefined) {
        this.connect(peer, key)
        pending = all.get(key)
        if (pending === undefined) throw new PeerwardenError('ERR_DIAL_FAILED', `the swarm did not dial ${peer} (firewalled or banned)`)
      }
      this.waiting.watch(peer, pending)
    })
  }

  /** Hyperswarm's own dial of one peer, for the manager. */
  private connect (peer: string, key: Buffer): void {
    const { swarm } = this
    if (swarm._connect === undefined || swarm._upsertPeer === undefined) throw new PeerwardenError('ERR_DIAL_FAILED', 'not a Hyperswarm v4 instance (no _connect)')
    const info = swarm._upsertPeer(key, null)
    if (info === null) throw new PeerwardenError('ERR_DIAL_FAILED', 'refusing to dial our own key')
    // A shared ban the manager no longer holds (lifted there) is lifted in Hyperswarm for its dial.
    this.bans.liftForDial(peer, info)
    info._flushTick = swarm._flushTick ?? 0 // flush() calls made from now on do not wait for it
    this.dialingNow = peer
    try { swarm._connect(info, true) } finally { this.dialingNow = undefined }
  }

  roomStats (): RoomStats { return this.room.stats() }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.patches.restore()
    releaseSwarm(this.swarm)
    this.room.close()
    this.waiting.close(new PeerwardenError('ERR_CLOSED', 'the manager is closed'))
    await this.manager.close()
    this.live.clear()
  }
}
