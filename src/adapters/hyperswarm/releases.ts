import type { ConnectionManager } from '../../manager/types.js'
import type { HyperswarmLike } from './types.js'

/** What the release rule reads of the adapter. */
export interface ReleaseHost {
  readonly manager: ConnectionManager
  readonly swarm: HyperswarmLike
  /** The adapter is closed or the swarm is suspending: nothing is released then. */
  stopped(): boolean
  /** The adapter holds a live connection to the peer. */
  holds(peer: string): boolean
  /** A manager dial of the peer is waiting for its connection. */
  dialing(peer: string): boolean
}

/**
 * Which peers the manager forgets when Hyperswarm lets them go, and whose redial is whose to time.
 *
 * Rules:
 * - `fromSwarm`: the peers the swarm brought to the manager (not known to it before). When Hyperswarm
 *   drops such a peer's PeerInfo (`_maybeDeletePeer`) and nothing holds it (no PeerInfo again, no
 *   connection, no dial waiting), the manager forgets it too, unless the application gave it
 *   standing: connected, long-term, bootstrap, or a priority other than 'medium'.
 * - The check runs after the close or dial failure in progress has reached the manager
 *   (setImmediate), again up to 5 times while a dial of the peer is still waiting.
 * - `closedByManager`: the peers whose last connection the manager closed itself (trim, ban,
 *   lifetime…): their redial is the manager's to time, not Hyperswarm's. A release forgets that.
 */
export class SwarmReleases {
  readonly fromSwarm = new Set<string>()
  readonly closedByManager = new Set<string>()

  constructor (private readonly host: ReleaseHost) {}

  /** Hyperswarm may just have dropped the peer's PeerInfo. */
  released (id: string): void {
    const { host } = this
    if (host.stopped() || host.swarm.suspended === true) return
    if (host.swarm.peers.has(id) || host.holds(id)) return
    this.releaseLater(id, 5)
  }

  private releaseLater (id: string, tries: number): void {
    setImmediate(() => {
      const { host } = this
      if (host.stopped() || host.swarm.peers.has(id) || host.holds(id)) return
      if (host.dialing(id)) { if (tries > 1) this.releaseLater(id, tries - 1); return }
      this.closedByManager.delete(id)
      if (!this.fromSwarm.has(id)) return
      const p = host.manager.getPeer(id)
      if (p !== undefined && (p.connected || p.longTerm || p.bootstrap || p.priority !== 'medium')) return
      this.fromSwarm.delete(id)
      host.manager.forgetPeer(id)
    })
  }
}
