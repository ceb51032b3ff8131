import type { Priority } from '../../manager/connection-types.js'
import type { ConnectionManager } from '../../manager/types.js'
import type { HyperswarmPeerInfo } from './types.js'

/** What the ban rule reads of the adapter. */
export interface BanHost {
  readonly manager: ConnectionManager
  /** The adapter is closed: Hyperswarm's bans are its own again. */
  closed(): boolean
  /** The adapter holds a live connection to the peer. */
  holds(peer: string): boolean
  /** The manager refuses the peer (priority 'banned', or on `deny`). */
  refuses(peer: string): boolean
}

type Ban = (value: boolean) => void

/** The tag (followed by the priority the peer had) that stores a manager ban's origin in Hyperswarm. */
export const ORIGIN_TAG = 'peerwarden:hyperswarm-ban:'

const PRIORITIES: readonly Priority[] = ['low', 'medium', 'high']

/**
 * One ban, two handles: a ban in Hyperswarm is a ban in the manager, and the other way round.
 *
 * Rules:
 * - A Hyperswarm ban (`peerInfo.ban(true)`: the application's call, its `firewall` refusing a key,
 *   Hyperswarm's own ban after a protocol error) is a manager ban too (priority 'banned'), so the
 *   manager never dials the peer again. Hyperswarm keeps an open connection to a peer it bans, and so
 *   does the adapter: the manager ban lands when that connection closes.
 * - A manager ban (or `deny`) is a Hyperswarm ban: the firewall refuses the key and Hyperswarm bans it.
 * - A ban is lifted where it was made, and then in both: `peerInfo.ban(false)` lifts a Hyperswarm ban
 *   in the manager at once (back to the priority the peer had); `setPriority` lifts a manager ban, and
 *   Hyperswarm's at the manager's next dial of the peer. `peerInfo.ban(false)` does not lift a manager
 *   ban: the manager still refuses the peer, and the firewall bans the key again at its next handshake.
 * - The firewall's refusal over the bound is for that handshake only: the Hyperswarm ban that follows
 *   it (`transient`) is no ban, and is lifted on the next microtask.
 * - Each PeerInfo's `ban` is wrapped when the swarm makes it (`_upsertPeer`) or when the adapter is
 *   installed; `unwrapAll()` puts Hyperswarm's back. The adapter's own calls go to Hyperswarm's `ban`.
 * - A Hyperswarm ban made a manager ban is stored with its origin: a tag `ORIGIN_TAG` + the priority
 *   the peer had (value 0: no weight in the trim order), kept in the peer store with the ban. After a
 *   restart, `peerInfo.ban(false)` finds it there and lifts the ban as before (regression: the
 *   restarted manager took the stored ban for its own and `ban(false)` never lifted it). Any lift
 *   removes the tag.
 * - Budget: one entry per banned peer, as Hyperswarm itself keeps a PeerInfo per banned key for the
 *   swarm's lifetime (a banned PeerInfo is never released).
 */
export class SharedBans {
  /** Banned in both, one on behalf of the other: the next manager dial lifts Hyperswarm's ban once the manager's is lifted. */
  private readonly shared = new Set<string>()
  /** Hyperswarm bans made manager bans: the priority each peer had before. */
  private readonly fromSwarm = new Map<string, Priority>()
  /** Hyperswarm bans of peers still connected: made manager bans when the connection closes. */
  private readonly pending = new Set<string>()
  /** Peers refused over the bound, until the microtask that lifts Hyperswarm's ban. */
  private readonly transient = new Set<string>()
  /** Hyperswarm's own `ban` of each wrapped PeerInfo. */
  private readonly originals = new WeakMap<HyperswarmPeerInfo, Ban>()

  constructor (private readonly host: BanHost, private readonly idOf: (info: HyperswarmPeerInfo) => string) {}

  /** Routes the PeerInfo's `ban` through these rules (once per PeerInfo). */
  wrap (info: HyperswarmPeerInfo): void {
    const original = info.ban
    if (typeof original !== 'function' || this.originals.has(info)) return
    this.originals.set(info, original)
    info.ban = (value: boolean) => {
      original.call(info, value)
      if (this.host.closed()) return
      try { this.swarmBan(this.idOf(info), Boolean(value)) } catch {}
    }
  }

  /** Puts Hyperswarm's `ban` back on each PeerInfo in `infos`. */
  unwrapAll (infos: Iterable<HyperswarmPeerInfo>): void {
    for (const info of infos) {
      if (this.originals.get(info) !== undefined) delete info.ban
      this.originals.delete(info)
    }
  }

  /** Sets Hyperswarm's ban of `info` without these rules (the adapter's own lifts). */
  set (info: HyperswarmPeerInfo, value: boolean): void {
    const original = this.originals.get(info) ?? info.ban
    original?.call(info, value)
  }

  /** Whether a Hyperswarm ban of `peer` is one of the two shared bans (not a refusal of one handshake). */
  shares (peer: string): boolean { return this.shared.has(peer) }

  /** The firewall refused the peer for the manager: the Hyperswarm ban that follows is the manager's. */
  refusedByManager (peer: string): void { this.shared.add(peer) }

  /** The firewall refused the peer over the bound: the Hyperswarm ban that follows is for that handshake only. */
  refusedOnce (peer: string): void { this.transient.add(peer) }

  /** The microtask after an over-the-bound refusal: bans of the peer are bans again. */
  settledOnce (peer: string): void { this.transient.delete(peer) }

  /** A PeerInfo found banned when the adapter was installed. */
  foundBanned (peer: string): void { this.swarmBan(peer, true) }

  /** The adapter's connection to `peer` closed: a Hyperswarm ban made while it was open lands now. */
  closed (peer: string): void {
    if (this.pending.delete(peer)) this.mirror(peer)
  }

  /**
   * Before a manager dial: whether Hyperswarm's ban of `info` may be lifted (a ban the two share that
   * the manager no longer holds). Lifts it when so.
   */
  liftForDial (peer: string, info: HyperswarmPeerInfo): void {
    if (info.banned !== true || !this.shared.has(peer) || this.host.refuses(peer)) return
    this.shared.delete(peer)
    this.fromSwarm.delete(peer)
    this.forgetOrigin(peer)
    this.set(info, false)
  }

  private swarmBan (peer: string, value: boolean): void {
    if (value) {
      if (this.transient.has(peer)) return
      if (this.host.refuses(peer)) { this.shared.add(peer); return }
      if (this.host.holds(peer)) { this.pending.add(peer); return }
      this.mirror(peer)
      return
    }
    this.pending.delete(peer)
    const before = this.fromSwarm.get(peer) ?? this.storedOrigin(peer)
    if (before === undefined) return // a manager ban stays (see the rules)
    this.fromSwarm.delete(peer)
    this.shared.delete(peer)
    this.forgetOrigin(peer)
    if (this.host.manager.getPeer(peer)?.priority === 'banned') this.host.manager.setPriority([{ peer, priority: before }])
  }

  /** The priority the peer had before a Hyperswarm ban the store kept (a restart), if any. */
  private storedOrigin (peer: string): Priority | undefined {
    const tags = this.host.manager.getTagInfo(peer)?.tags ?? {}
    for (const p of PRIORITIES) if ((ORIGIN_TAG + p) in tags) return p
    return undefined
  }

  private forgetOrigin (peer: string): void {
    const { manager } = this.host
    const tags = manager.getTagInfo(peer)?.tags ?? {}
    for (const p of PRIORITIES) if ((ORIGIN_TAG + p) in tags) manager.untagPeer(peer, ORIGIN_TAG + p)
  }

  private mirror (peer: string): void {
    const { manager } = this.host
    const before = manager.getPeer(peer)?.priority ?? 'medium'
    if (before === 'banned') { this.shared.add(peer); return }
    this.fromSwarm.set(peer, before)
    this.shared.add(peer)
    manager.setPriority([{ peer, priority: 'banned' }])
    manager.tagPeer(peer, ORIGIN_TAG + before, 0)
  }
}
