/**
 * Finding room for late joiners: a swarm at highWater whose
 * connections are all in their grace period refuses every newcomer, so swarms that join last can
 * stay below lowWater for as long as the grace lasts (6 swarms, highWater 3, lowWater 2: counts
 * 3,3,3,3,1,1 after 15 s).
 *
 * Rules (applied when the firewall refuses an inbound peer because we are at the bound):
 * - Release surplus: when we hold more than lowWater connections, one of them gives way (the
 *   oldest unprotected one, in grace or not).
 * - Refer the refused peer to ourselves: we dial it back into the room just made (a peer that
 *   dials us is below its lowWater: the manager only dials then), rather than leave it to its next
 *   retry. The connection is admitted like any other, never forced past highWater.
 *   At most one release per `interval`, and never for a peer we released ourselves within
 *   `memory` (a released peer that comes straight back would only push another one out).
 * - A peer refused within the `interval` of the last release waits for the next one: when the
 *   interval is over, if it is still not connected and we are still at the bound, we release and dial
 *   it back then (one peer waits at a time; it would otherwise wait for the swarm's next retry, 4 s
 *   or more).
 * - A stranger (a key the manager did not find or know) gets at most one release per `memory` in
 *   all, strangers together: keypairs are free, and fresh keys dialling a full swarm a little over
 *   once a second replaced its connections one by one, oldest first (3 honest connections of 3:
 *   1 left after 4 strangers 1.3 s apart). Peers found on a topic, added by the application or that
 *   connected before are not strangers.
 */
import type { ConnectionManager } from '../../manager/types.js'
import { DEFAULT_ROOM, shouldRelease, type RoomPolicy } from '../room-policy.js'

/** The protection tag held for the instant of a release (every connection but the one that gives way). */
const ROOM_TAG = 'peerwarden:hyperswarm-room'

/** The releases of one managed swarm (see the module comment). */
export class Room {
  private lastRelease = -Infinity
  /** When a stranger last got a release. */
  private lastStranger = -Infinity
  private readonly released = new Map<string, number>()
  /** The peer waiting for the next release, and its timer. */
  private waiting: { peer: string; timer: ReturnType<typeof setTimeout> } | undefined

  constructor (
    private readonly manager: ConnectionManager,
    private readonly now: () => number,
    /** Opens a connection to the peer, outside the manager's dialer (the manager admits it or not). */
    private readonly dialBack: (peer: string) => void,
    private readonly policy: Readonly<RoomPolicy> = DEFAULT_ROOM
  ) {}

  /** Stops the wait for the next release. */
  close (): void {
    if (this.waiting !== undefined) clearTimeout(this.waiting.timer)
    this.waiting = undefined
  }

  /** The firewall refused `peer` because we are at the bound. */
  refused (peer: string): void {
    const { manager } = this
    const { connections, lowWater, highWater } = manager.stats()
    const now = this.now()
    for (const [p, at] of this.released) if (now - at >= this.policy.memory) this.released.delete(p)
    const stranger = manager.getPeer(peer) === undefined
    const state = { connections, lowWater, highWater, now, lastRelease: this.lastRelease, releasedAt: this.released.get(peer), stranger, lastStranger: this.lastStranger }
    if (!shouldRelease(state, this.policy)) {
      // Only the interval stands in the way: the peer gets the next release.
      if (this.waiting === undefined && shouldRelease({ ...state, lastRelease: -Infinity }, this.policy)) {
        const timer = setTimeout(() => {
          this.waiting = undefined
          if (manager.listConnections().some((c) => c.peer === peer)) return
          // Room may have opened meanwhile: then only the dial back is needed.
          const counts = manager.stats()
          if (counts.connections < counts.highWater) this.dialBack(peer)
          else this.refused(peer)
        }, this.lastRelease + this.policy.interval - now)
        timer.unref?.()
        this.waiting = { peer, timer }
      }
      return
    }
    this.lastRelease = now
    if (stranger) this.lastStranger = now
    const conns = manager.listConnections()
    const before = new Set(conns.map((c) => c.peer))
    // The oldest unprotected connection gives way: its peer has been around longest, so it is the
    // likeliest to hold connections enough (a newcomer released would only need room in turn).
    const victim = conns.filter((c) => !c.protected).sort((a, b) => a.openedAt - b.openedAt)[0]
    if (victim === undefined) return
    const shielded = conns.filter((c) => c !== victim && !c.protected).map((c) => c.peer)
    for (const p of shielded) manager.protect(p, ROOM_TAG)
    try {
      // Lowering highWater by one makes the manager close one unprotected connection, in grace too
      // (reason 'trimmed'); the bound is put back at once. A highWater of 1 cannot be lowered (the
      // least is 1): its one connection is closed directly (reason 'stopped') (regression: the
      // throw of setWatermarks(0, 0) escaped the firewall and left every newcomer's handshake hanging).
      if (highWater > 1) {
        manager.setWatermarks(lowWater, highWater - 1)
        manager.setWatermarks(lowWater, highWater)
      } else {
        void manager.disconnect(victim.peer)
      }
    } finally {
      for (const p of shielded) manager.unprotect(p, ROOM_TAG)
    }
    const after = new Set(manager.listConnections().map((c) => c.peer))
    let freed = false
    for (const p of before) {
      if (after.has(p)) continue
      this.released.set(p, now)
      freed = true
    }
    // Refer the refused peer to ourselves: dial it back into the room just made, rather than leave it
    // to its next retry (Hyperswarm's table: 5 s or more for a peer it never reached).
    // The connection is admitted like any other (never forced past highWater).
    if (freed && manager.stats().connections < highWater) this.dialBack(peer)
  }
}
