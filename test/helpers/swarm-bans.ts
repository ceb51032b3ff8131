/**
 * Shared bans (src/adapters/hyperswarm/bans.ts) on a manager and PeerInfo stand-ins, for the tests of
 * their rules and of a ban across a restart: no swarm, no sockets.
 */
import { SharedBans } from '../../src/adapters/hyperswarm/bans.js'
import type { HyperswarmPeerInfo } from '../../src/adapters/hyperswarm/types.js'
import type { ConnectionManager } from '../../src/manager/types.js'

/** Hyperswarm's PeerInfo, as far as bans go: `ban` on the prototype, as in hyperswarm's lib/peer-info.js. */
export class Info implements HyperswarmPeerInfo {
  banned = false
  constructor (readonly publicKey: Uint8Array) {}
  ban (value: boolean): void { this.banned = value }
}

/**
 * `SharedBans` on `manager`: the swarm refuses a peer the manager bans; `closed` and `holds` stand for
 * the swarm's state. `info(n)` is the PeerInfo of the key of 32 bytes `n`, wrapped, with its id.
 */
export function sharedBans (manager: ConnectionManager, swarm: { closed?: () => boolean; holds?: (peer: string) => boolean } = {}): { bans: SharedBans; info: (n: number) => { info: Info; id: string } } {
  const bans = new SharedBans({
    manager,
    closed: swarm.closed ?? (() => false),
    holds: swarm.holds ?? (() => false),
    refuses: (peer) => manager.getPeer(peer)?.priority === 'banned'
  }, (i) => Buffer.from(i.publicKey).toString('hex'))
  const info = (n: number): { info: Info; id: string } => {
    const i = new Info(Buffer.alloc(32, n))
    bans.wrap(i)
    return { info: i, id: Buffer.alloc(32, n).toString('hex') }
  }
  return { bans, info }
}
