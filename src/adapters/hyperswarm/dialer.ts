/**
 * The manager's dials of Hyperswarm peers: how `manageSwarm` opens a connection when its manager
 * decides to dial.
 *
 * Rules:
 * - An address is `hyperswarm:<64 hex key>` (any case); anything else fails with `ERR_DIAL_FAILED`.
 *   A closed adapter or destroyed swarm fails with `ERR_CLOSED`, a suspended swarm with
 *   `ERR_DIAL_FAILED`.
 * - A peer already connected resolves with its live connection. Otherwise the dial is Hyperswarm's
 *   own `_connect` (firewall, relaying, stats, flush accounting, retry timer) and waits for the
 *   swarm's 'connection' event for the key (./waiting-dials.ts); it fails when the swarm's pending
 *   connection closes before opening, or when the swarm did not dial (firewalled or banned).
 * - A swarm without the v4 internals (`_allConnections`) is dialled with `joinPeer` instead (the
 *   adapter leaves the peer again once connected).
 * - `dialingNow` names the peer while `_connect` runs: the firewall is consulted for our own side's
 *   dial then, and that is not an inbound peer to make room for.
 * - A shared ban the manager no longer holds is lifted in Hyperswarm for the dial (./bans.ts).
 */
import { PeerwardenError } from '../../errors.js'
import type { Connection } from '../../manager/types.js'
import type { SharedBans } from './bans.js'
import { HEX_KEY, PREFIX } from './keys.js'
import type { HyperswarmLike } from './types.js'
import { WaitingDials } from './waiting-dials.js'

/** What the dialer reads of the adapter. */
export interface DialerHost {
  readonly swarm: HyperswarmLike
  readonly bans: SharedBans
  /** The adapter is closed. */
  closed(): boolean
  /** The live connection the adapter holds for the peer, if any. */
  live(peer: string): Connection | undefined
}

/** Opens the manager's connections through the swarm (see the module comment). */
export class SwarmDialer {
  /** Manager dials waiting for a key's connection. */
  readonly waiting: WaitingDials
  /** The peer whose `_connect` runs right now (the firewall sees its own side's dial). */
  dialingNow: string | undefined

  constructor (private readonly host: DialerHost) {
    this.waiting = new WaitingDials((peer) => host.live(peer))
  }

  /** The manager's `dial`. */
  async dial (address: string, opts: { signal: AbortSignal }): Promise<Connection> {
    const { swarm } = this.host
    if (!address.startsWith(PREFIX)) throw new PeerwardenError('ERR_DIAL_FAILED', `not a hyperswarm address: ${address}`)
    const peer = address.slice(PREFIX.length).toLowerCase()
    if (!HEX_KEY.test(peer)) throw new PeerwardenError('ERR_DIAL_FAILED', `not a 32-byte hex key: ${address}`)
    if (this.host.closed() || swarm.destroyed === true) throw new PeerwardenError('ERR_CLOSED', 'the swarm or the manager is closed')
    if (swarm.suspended === true) throw new PeerwardenError('ERR_DIAL_FAILED', 'the swarm is suspended')
    if (opts.signal.aborted) throw opts.signal.reason
    const existing = this.host.live(peer)
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

  /** Hyperswarm's own dial of one peer, for the manager (also the room's dial back). */
  connect (peer: string, key: Buffer): void {
    const { swarm } = this.host
    if (swarm._connect === undefined || swarm._upsertPeer === undefined) throw new PeerwardenError('ERR_DIAL_FAILED', 'not a Hyperswarm v4 instance (no _connect)')
    const info = swarm._upsertPeer(key, null)
    if (info === null) throw new PeerwardenError('ERR_DIAL_FAILED', 'refusing to dial our own key')
    // A shared ban the manager no longer holds (lifted there) is lifted in Hyperswarm for its dial.
    this.host.bans.liftForDial(peer, info)
    info._flushTick = swarm._flushTick ?? 0 // flush() calls made from now on do not wait for it
    this.dialingNow = peer
    try { swarm._connect(info, true) } finally { this.dialingNow = undefined }
  }
}
