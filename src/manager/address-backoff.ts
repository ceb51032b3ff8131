import { nextDelay, type BackoffPolicy } from './backoff.js'
import type { PeerRecord } from './peer-record.js'
import { dialOrder } from './record-dial.js'

/**
 * Backoff per address, shared by every id that claims the address: the guard against hints that
 * point many ids (or a flood of peers) at one host:port.
 *
 * Rules:
 * - Only addresses learnt from hints are entered (`PeerRecord.hinted`): a failed dial of one sets
 *   its wait (`nextDelay`, as for a peer that never connected); the dialer does not dial it again
 *   before the wait ends, whichever record holds it then. The application's own dials
 *   (`connectNow`) ignore it.
 * - Keys are the address strings as given (the node normalises spellings before `addPeers`).
 * - A budget: at most `max()` entries; past it, the oldest entry goes (a table fed by peers).
 */
export class AddressBackoff {
  /** Made on the first failure (most managers never dial a hinted address that fails). */
  private waits: Map<string, { until: number; failures: number }> | undefined = undefined

  constructor (
    private readonly max: () => number,
    private readonly random: () => number,
    private readonly policy: Readonly<BackoffPolicy>
  ) {}

  get size (): number { return this.waits?.size ?? 0 }

  /** When the address may be dialled again; undefined when it may be now. */
  blockedUntil (address: string, now: number): number | undefined {
    const w = this.waits?.get(address)
    if (w === undefined || w.until <= now) return undefined
    return w.until
  }

  /**
   * When every address of the peer is a hinted one that waits: the earliest end of those waits.
   * Undefined when some address may be dialled now.
   */
  waitOf (r: PeerRecord, now: number): number | undefined {
    if (r.hinted === undefined || r.hinted.size === 0 || this.size === 0) return undefined
    let earliest = Infinity
    for (const a of r.addresses) {
      const until = r.hinted.has(a) ? this.blockedUntil(a, now) : undefined
      if (until === undefined) return undefined
      earliest = Math.min(earliest, until)
    }
    return earliest === Infinity ? undefined : earliest
  }

  /** The peer's addresses to try, in order (`orderAddresses`); without the hinted ones that wait unless the application forces the dial. */
  toDial (r: PeerRecord, forced: boolean, now: number): readonly string[] {
    const ordered = dialOrder(r)
    if (forced || r.hinted === undefined || r.hinted.size === 0 || this.size === 0) return ordered
    return ordered.filter((a) => !r.hinted!.has(a) || this.blockedUntil(a, now) === undefined)
  }

  /** A dial of the address failed at `now`: it waits. */
  failed (address: string, now: number): void {
    const waits = this.waits ??= new Map()
    const w = waits.get(address)
    const failures = (w?.failures ?? 0) + 1
    waits.delete(address) // re-inserted last: the budget drops the oldest entries first
    waits.set(address, { until: now + nextDelay(failures, false, this.random, this.policy), failures })
    while (waits.size > this.max()) waits.delete(waits.keys().next().value as string)
  }

  /** A dial of the address reached someone: it no longer waits. */
  succeeded (address: string): void {
    this.waits?.delete(address)
  }
}
