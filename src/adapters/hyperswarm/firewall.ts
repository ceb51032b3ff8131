/**
 * The managed swarm's firewall: Hyperswarm consults `swarm._firewall` before a handshake completes
 * (inbound) and before its own dials (outbound); `manageSwarm` puts this in front of the user's.
 *
 * Rules:
 * - A peer the manager refuses (priority 'banned', on the `deny` list; everyone once closed) is
 *   firewalled, and the ban is shared (./bans.ts): Hyperswarm bans the key right after this returns.
 * - Over the bound (`manager.admits` false): an inbound peer may be given room (./room.ts), and then
 *   this very handshake is let in (regression: refused and dialled back, the dial back lost
 *   Hyperswarm's deduplication to the peer's pending attempt about half the time). Otherwise the
 *   handshake is refused, for that handshake only: Hyperswarm's ban is lifted on the next microtask,
 *   and the PeerInfo it made only to ban the key goes too, unless something holds it by then.
 * - Our own side's dial (`dialingNow`) never makes room.
 * - Nothing throws out of it: HyperDHT would swallow the throw and leave the handshake hanging, so the
 *   remote would wait for its timeout instead of seeing the refusal.
 * - The user's firewall is consulted afterwards, with Hyperswarm's meaning (a firewalled key is banned).
 */
import type { ConnectionManager } from '../../manager/types.js'
import type { SharedBans } from './bans.js'
import { hex } from './keys.js'
import type { Room } from './room.js'
import type { HyperswarmLike } from './types.js'

/** What the firewall reads of the adapter. */
export interface FirewallHost {
  readonly swarm: HyperswarmLike
  readonly manager: ConnectionManager
  readonly bans: SharedBans
  readonly room: Room
  /** The adapter is closed. */
  closed(): boolean
  /** The manager refuses the peer whatever its count (banned, denied, closed). */
  refuses(peer: string): boolean
  /** The peer our own side is dialling right now, if any. */
  dialingNow(): string | undefined
}

/** The firewall to install as `swarm._firewall`, in front of `userFirewall` (see the module comment). */
export function swarmFirewall (host: FirewallHost, userFirewall: HyperswarmLike['_firewall']): NonNullable<HyperswarmLike['_firewall']> {
  const { swarm, manager, bans } = host
  const madeRoom = (peer: string): boolean => {
    if (host.dialingNow() === peer || host.closed()) return false
    try { return host.room.refused(peer) && manager.admits(peer) } catch { return false }
  }
  return (key, payload) => {
    const peer = hex(key)
    if (host.refuses(peer)) {
      bans.refusedByManager(peer) // Hyperswarm bans the key right after this returns
      return true
    }
    if (!manager.admits(peer) && !madeRoom(peer)) {
      bans.refusedOnce(peer)
      queueMicrotask(() => {
        bans.settledOnce(peer)
        const info = swarm.peers.get(peer)
        if (info?.banned !== true || host.refuses(peer)) return
        bans.set(info, false)
        swarm._maybeDeletePeer?.(info)
      })
      return true
    }
    return userFirewall !== undefined ? userFirewall.call(swarm, key, payload) : false
  }
}
