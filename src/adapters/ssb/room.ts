/**
 * Room for late joiners. A server at highWater whose connections are all in their grace period
 * refuses every newcomer (in `sbot.auth`), so the servers that come last stay below their target
 * for as long as the grace lasts (12 servers, setMax(4), lowWater 3: about 30 s before every server
 * held 3).
 *
 * Rules (applied when the bound, and nothing else, would refuse a peer's handshake):
 * - When we hold more than lowWater connections, the oldest one that is not protected, permanent or
 *   long-term gives way (`disconnect`: it rests before we dial it again) and the newcomer's
 *   handshake goes on; the manager then admits it like any other (never past highWater). A peer
 *   that dials us is below its own target: the manager dials only then.
 * - At most one release per `interval`, and never for a peer we released ourselves within `memory`
 *   (a released peer that comes straight back would only push another one out).
 * - A banned or denied peer is refused as before: this is about the bound only.
 * - A stranger (a feed id the manager does not know) gets at most one release per `memory` in all,
 *   strangers together: identities are free, and a peer with fresh keys every `interval` replaced a
 *   full server's connections one by one, oldest first (an eclipse within highWater seconds).
 *   `sbot.auth` tells no address, so no budget per source can tell attackers apart; peers the
 *   application added, or that connected before, are not strangers.
 */
import type { ConnectionManager } from '../../manager/types.js'
import { DEFAULT_ROOM, shouldRelease, type RoomPolicy } from '../room-policy.js'

/** The releases of one server (see the module comment). */
export class Room {
  private lastRelease = -Infinity
  /** When a stranger last got a release. */
  private lastStranger = -Infinity
  /** Peer -> when we released it; entries older than `memory` are dropped (bounded by the connections we held). */
  private readonly released = new Map<string, number>()

  constructor (private readonly manager: ConnectionManager, private readonly now: () => number, private readonly policy: Readonly<RoomPolicy> = DEFAULT_ROOM) {}

  /** `newcomer` is refused only by the bound: releases one connection for it when the rules allow. Returns whether it did. */
  makeRoom (newcomer: string): boolean {
    const { manager, policy } = this
    const now = this.now()
    for (const [peer, at] of this.released) if (now - at >= policy.memory) this.released.delete(peer)
    const { connections, lowWater, highWater } = manager.stats()
    if (!shouldRelease({ connections, lowWater, highWater, now, lastRelease: this.lastRelease, releasedAt: this.released.get(newcomer) }, policy)) return false
    const stranger = manager.getPeer(newcomer) === undefined
    if (stranger && now - this.lastStranger < policy.memory) return false
    const victim = manager.listConnections()
      .filter((c) => !c.protected && c.peer !== newcomer && manager.getPeer(c.peer)?.longTerm !== true)
      .sort((a, b) => a.openedAt - b.openedAt)[0]
    if (victim === undefined) return false
    this.lastRelease = now
    if (stranger) this.lastStranger = now
    this.released.set(victim.peer, now)
    void manager.disconnect(victim.peer)
    return true
  }
}
