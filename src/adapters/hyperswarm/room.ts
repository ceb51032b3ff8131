/**
 * Finding room for late joiners: a swarm at highWater whose
 * connections are all in their grace period refuses every newcomer, so swarms that join last can
 * stay below lowWater for as long as the grace lasts (6 swarms, highWater 3, lowWater 2: counts
 * 3,3,3,3,1,1 after 15 s).
 *
 * Rules (applied when the firewall refuses an inbound peer because we are at the bound):
 * - Release surplus: when we hold more than lowWater connections, one of them gives way (in grace
 *   or not; not protected or long-term; which one: the shared rule below).
 * - The handshake at hand is let in: `refused` says when a connection gave way for the peer, and the
 *   firewall then admits that very handshake (a peer that dials us is below its lowWater: the
 *   manager only dials then). It is admitted like any other connection, never forced past highWater.
 *   Not a dial back: ours raced the peer's own attempt, still pending on its side (HyperDHT drops a
 *   refused handshake without a reply: the dialer gives up only after ~4 s), and Hyperswarm's
 *   deduplication kept the doomed attempt and closed ours about half the time; the release was spent
 *   (a stranger's for `memory`) and the peer waited ~4 s or more (18 of 27 releases wasted so).
 *   At most one release per `interval`, and never for a peer we released ourselves within
 *   `memory` (a released peer that comes straight back would only push another one out).
 * - A peer refused within the `interval` of the last release waits for the next one: when the
 *   interval is over, if it is still not connected and we are still at the bound, we release and dial
 *   it back then (one peer waits at a time; it would otherwise wait for its refused attempt to time
 *   out and the swarm's next retry, 4 s or more; its attempt may still be pending then, so this dial
 *   back can lose Hyperswarm's deduplication as above).
 * - Which connection gives way, and who is a stranger, is the shared rule (../room-policy.ts): a
 *   stranger (a key the manager did not find or know, or one the room let in as a stranger) gets at
 *   most one release per `memory` in all, and only the place of another room stranger or of a
 *   connection younger than `tenure`, untagged and not of high priority: keypairs are free, and
 *   fresh keys dialling a full swarm a little over once a second replaced its connections one by
 *   one, oldest first (3 honest connections of 3: 1 left after 4 strangers 1.3 s apart), and at one
 *   per 30 s still all of them given time. Peers found on a topic or added by the application are
 *   not strangers; a peer the manager knows only from a connection of its own (it got in while we
 *   were below highWater) takes no place that has proven itself.
 * - Time is the `clock` given (manageSwarm passes the manager's): the interval, memory and tenure,
 *   and the wait for the next release.
 */
import type { Clock, ConnectionManager } from '../../manager/types.js'
import { DEFAULT_ROOM, RoomLedger, type RoomPolicy, type RoomStats } from '../room-policy.js'

/** The protection tag held for the instant of a release (every connection but the one that gives way). */
const ROOM_TAG = 'peerwarden:hyperswarm-room'

/** The releases of one managed swarm (see the module comment). */
export class Room {
  private readonly ledger: RoomLedger
  /** The peer waiting for the next release, and its timer. */
  private waiting: { peer: string; timer: unknown } | undefined

  constructor (
    private readonly manager: ConnectionManager,
    /** The pacing's time and the wait for the next release (manageSwarm passes the manager's `clock`). */
    private readonly clock: Clock,
    /** Opens a connection to a waiting peer when its release came, outside the manager's dialer (the manager admits it or not). */
    private readonly dialBack: (peer: string) => void,
    policy: Readonly<RoomPolicy> = DEFAULT_ROOM
  ) {
    this.ledger = new RoomLedger(manager, () => clock.now(), policy)
  }

  /** Stops the wait for the next release. */
  close (): void {
    if (this.waiting !== undefined) this.clock.clearTimeout(this.waiting.timer)
    this.waiting = undefined
  }

  /** The room's figures. */
  stats (): RoomStats { return this.ledger.stats() }

  /**
   * The firewall refused `peer` because we are at the bound. True when a connection gave way for it
   * now and there is room: the caller lets the handshake at hand in. Otherwise the peer may wait for
   * the next release, and is dialled back then.
   */
  refused (peer: string): boolean {
    const { manager, ledger } = this
    const due = ledger.pick(peer)
    if (due === undefined) {
      // Only the interval stands in the way: the peer gets the next release.
      if (this.waiting === undefined && ledger.pick(peer, true) !== undefined) {
        const timer = this.clock.setTimeout(() => {
          this.waiting = undefined
          if (manager.listConnections().some((c) => c.peer === peer)) return
          // Room may have opened meanwhile: then only the dial back is needed.
          const counts = manager.stats()
          if (counts.connections < counts.highWater || this.refused(peer)) this.dialBack(peer)
        }, ledger.nextReleaseIn())
        this.waiting = { peer, timer }
      }
      return false
    }
    const { lowWater, highWater } = manager.stats()
    const conns = manager.listConnections()
    const before = new Set(conns.map((c) => c.peer))
    const victim = due.victim.peer
    const shielded = conns.filter((c) => c.peer !== victim && !c.protected).map((c) => c.peer)
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
        void manager.disconnect(victim)
      }
    } finally {
      for (const p of shielded) manager.unprotect(p, ROOM_TAG)
    }
    const after = new Set(manager.listConnections().map((c) => c.peer))
    const freed = [...before].filter((p) => !after.has(p))
    ledger.record(peer, due.stranger, freed)
    return freed.length > 0 && manager.stats().connections < highWater
  }
}
