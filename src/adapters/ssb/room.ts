/**
 * Room for late joiners. A server at highWater whose connections are all in their grace period
 * refuses every newcomer (in `sbot.auth`), so the servers that come last stay below their target
 * for as long as the grace lasts (12 servers, setMax(4), lowWater 3: about 30 s before every server
 * held 3).
 *
 * Rules (applied when the bound, and nothing else, would refuse a peer's handshake):
 * - When we hold more than lowWater connections, one that is not protected, permanent or long-term
 *   gives way (a peer the room let in as a stranger first, else the oldest) (`disconnect`: it rests before we dial it again) and the newcomer's
 *   handshake goes on; the manager then admits it like any other (never past highWater). A peer
 *   that dials us is below its own target: the manager dials only then.
 * - At most one release per `interval`, and never for a peer we released ourselves within `memory`
 *   (a released peer that comes straight back would only push another one out).
 * - A banned or denied peer is refused as before: this is about the bound only.
 * - Which connection gives way, and who is a stranger, is the shared rule (../room-policy.ts): a
 *   stranger (a feed id the manager does not know, or one the room let in as a stranger) gets at most
 *   one release per `memory` in all, and only the place of another room stranger or of a connection
 *   younger than `tenure`, untagged and not of high priority. `sbot.auth` tells no address, so no
 *   budget per source can tell attackers apart; peers the application added are not strangers.
 */
import type { ConnectionManager } from '../../manager/types.js'
import { DEFAULT_ROOM, RoomLedger, type RoomPolicy, type RoomStats } from '../room-policy.js'

/** The releases of one server (see the module comment). */
export class Room {
  private readonly ledger: RoomLedger
  private readonly manager: ConnectionManager

  constructor (manager: ConnectionManager, now: () => number, policy: Readonly<RoomPolicy> = DEFAULT_ROOM) {
    this.manager = manager
    this.ledger = new RoomLedger(manager, now, policy)
  }

  /** `newcomer` is refused only by the bound: releases one connection for it when the rules allow. Returns whether it did. */
  makeRoom (newcomer: string): boolean {
    const due = this.ledger.pick(newcomer)
    if (due === undefined) return false
    this.ledger.record(newcomer, due.stranger, [due.victim.peer])
    void this.manager.disconnect(due.victim.peer)
    return true
  }

  /** The room's figures. */
  stats (): RoomStats { return this.ledger.stats() }
}
