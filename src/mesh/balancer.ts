import { PeerwardenError } from '../errors.js'
import { Breaker, type BreakerOptions, type BreakerState } from './breaker.js'
import type { Instance } from './instance.js'

/**
 * The choice of instance for a balanced call, and the circuit breakers it consults.
 *
 * Rules:
 * - An attempt goes to an instance of the role, not draining, not already tried by this call, whose
 *   breaker (if any) is not open; a half-open one gives this attempt its probe. Among those, the
 *   order of `before`.
 * - A breaker exists only with the `breaker` option, one per peer id (a reconnected instance keeps
 *   its breaker), made on the first outcome counted for that peer: until then the instance has none
 *   to consult.
 * - Budget: breakers of peers no longer connected, beyond `SPARE_BREAKERS` (64), go (oldest first).
 */

/** Breakers of instances no longer connected kept beyond the connected ones (a restart keeps its state if it comes back). */
const SPARE_BREAKERS = 64

/** One breaker, as `stats()` shows it. */
export interface BreakerFigures {
  role: string
  instance: string
  peer: string
  state: BreakerState
  /** Calls that ended in the current window, and failures among them. */
  calls: number
  failures: number
}

/** Picks instances for balanced calls and keeps their breakers (rules at the top of this file). */
export class Balancer {
  /** By peer id. */
  private readonly breakers = new Map<string, Breaker>()
  private picks = 0

  constructor (
    /** The instances connected now, by peer (the mesh node's live map). */
    private readonly instances: ReadonlyMap<string, Instance>,
    /** Checked breaker options; undefined = no breakers. */
    private readonly options: Required<BreakerOptions> | undefined
  ) {}

  /** The instance of `role` for the next attempt, not one of `tried`, or undefined. */
  pick (role: string, tried: ReadonlySet<string> | undefined, now: number): Instance | undefined {
    const breakers = this.options === undefined || this.breakers.size === 0 ? undefined : this.breakers
    let best: Instance | undefined
    for (const i of this.instances.values()) {
      if (i.role !== role || i.draining || tried?.has(i.peer) === true) continue
      if (breakers?.get(i.peer)?.available(now) === false) continue
      if (best === undefined || before(i, best, now)) best = i
    }
    if (best !== undefined) {
      best.lastPicked = ++this.picks
      breakers?.get(best.peer)?.allow(now)
    }
    return best
  }

  /**
   * A balanced attempt to `instance` ended (`failed`: the instance's fault; `earlier`: past calls of
   * the window found to have been its fault, breaker.ts): counts on its breaker.
   * True if that opened or closed the breaker (what a health report shows changed); false without breakers.
   */
  record (instance: Instance, failed: boolean, now: number, earlier = 0): boolean {
    if (this.options === undefined) return false
    let b = this.breakers.get(instance.peer)
    if (b === undefined) this.breakers.set(instance.peer, b = new Breaker(this.options))
    return b.record(failed, now, earlier)
  }

  /** An instance went away: the budget of breakers of peers no longer connected. */
  trim (): void {
    for (const peer of this.breakers.keys()) {
      if (this.breakers.size <= this.instances.size + SPARE_BREAKERS) break
      if (!this.instances.has(peer)) this.breakers.delete(peer)
    }
  }

  /** The breakers of the instances connected now. */
  figures (now: number): BreakerFigures[] {
    const out: BreakerFigures[] = []
    for (const i of this.instances.values()) {
      const b = this.breakers.get(i.peer)
      if (b === undefined) continue
      out.push({ role: i.role, instance: i.variant, peer: i.peer, state: b.state(now), ...b.counts() })
    }
    return out
  }

  /** Why no instance of `role` could be picked. */
  noInstance (role: string): PeerwardenError {
    for (const i of this.instances.values()) {
      if (i.role === role) return new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${role} takes calls now (draining, or its circuit breaker open)`)
    }
    return new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${role} is connected`)
  }
}

/**
 * The balancer's order (`a` before `b`?), one step per tie-break:
 * 1. an instance that refused a call ERR_BUSY less than a second ago, or ERR_DRAINING ever, comes after the others;
 * 2. fewer calls outstanding first;
 * 3. the one picked longest ago first (round-robin among equals).
 */
function before (a: Instance, b: Instance, now: number): boolean {
  const aBusy = a.busyUntil > now
  const bBusy = b.busyUntil > now
  if (aBusy !== bBusy) return bBusy
  if (a.outstanding !== b.outstanding) return a.outstanding < b.outstanding
  return a.lastPicked < b.lastPicked
}
