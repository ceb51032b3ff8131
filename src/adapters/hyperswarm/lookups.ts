import type { Clock, ConnectionManager } from '../../manager/types.js'
import type { HyperswarmLike } from './types.js'

/** At most one lookup for room per this many ms. */
export const LOOKUP_INTERVAL = 2_000

const noop = (): void => {}

/**
 * Looking for room after a loss: when a connection we held closes and that takes us just below
 * lowWater (a peer that made room for a late joiner, or left), the manager may know no peer with
 * room: our lookups ran when we joined and repeat every 10 min (Hyperswarm's refresh).
 *
 * Rules:
 * - Only the step from lowWater to lowWater - 1 looks (not every close below it).
 * - A fresh lookup of every client topic not destroyed (`discovery.refresh()`), at most one per
 *   LOOKUP_INTERVAL on `clock` (the manager's); its failure is ignored.
 * - Nothing while `stopped()` (closed, suspending) or while the swarm is suspended or destroyed.
 */
export class RoomLookups {
  private last = -Infinity

  constructor (
    private readonly swarm: HyperswarmLike,
    private readonly manager: ConnectionManager,
    private readonly clock: Clock,
    private readonly stopped: () => boolean
  ) {}

  /** A connection we held closed (after the manager heard of it). */
  droppedOne (): void {
    const { swarm } = this
    if (this.stopped() || swarm.suspended === true || swarm.destroyed === true) return
    const { connections, lowWater } = this.manager.stats()
    if (connections !== lowWater - 1) return // only the step below lowWater
    const now = this.clock.now()
    if (now - this.last < LOOKUP_INTERVAL) return
    this.last = now
    for (const d of swarm._discovery?.values() ?? []) {
      const discovery = d as { isClient?: boolean; destroyed?: boolean; refresh?: () => Promise<unknown> }
      if (discovery.isClient === true && discovery.destroyed !== true) discovery.refresh?.().catch(noop)
    }
  }
}
