import type { ConnEntry, PeerRecord } from './peer-record.js'
import type { TopicCounts } from './topics.js'

/** What the release of bootstrap connections needs from the connection bookkeeping. */
export interface BootstrapReleaseHost {
  readonly topics: TopicCounts
  limits(): { lowWater: number; releaseBootstrap: boolean }
  running(): boolean
  /** Connections accounted now. */
  count(): number
  /** Closes the connection with reason 'trimmed'. */
  close(entry: ConnEntry, why: string): void
}

/**
 * Bootstrap peers are for getting started (they would otherwise stay occupied by every node that
 * ever joined through them).
 *
 * Rules:
 * - A connection to a peer that is a bootstrap peer when it connects is tracked until it closes.
 * - Apart from lowWater (`apart()`, which the dialer reads): exactly the connections that will be let
 *   go once the others reach lowWater — still the peer's connection, the peer still a bootstrap
 *   peer, outbound (we dialled it to get started; a bootstrap peer that dialled us chose to, and may
 *   keep its connection), not protected, permanent, long-term nor allow-listed, and not needed by a
 *   topic quota. Every other connection counts toward lowWater, a bootstrap one included: a
 *   connection the node keeps is one of its lowWater peers, and dials stop at lowWater.
 * - Once the node holds lowWater connections besides those apart (and runs, and `releaseBootstrap`
 *   is on), the ones apart are closed ('trimmed').
 */
export class BootstrapRelease {
  private readonly tracked = new Set<ConnEntry>()

  constructor (private readonly host: BootstrapReleaseHost) {}

  /** A connection was accepted. */
  opened (entry: ConnEntry): void {
    if (entry.record.bootstrap) this.tracked.add(entry)
  }

  /** A connection left the accounting. */
  closed (entry: ConnEntry): void {
    if (this.tracked.size !== 0) this.tracked.delete(entry)
  }

  /** The bootstrap connections that do not count toward lowWater: those `release` closes once the others reach it (see the rules). */
  apart (): ConnEntry[] {
    if (this.tracked.size === 0 || !this.host.limits().releaseBootstrap) return []
    const out: ConnEntry[] = []
    const taken: PeerRecord[] = []
    for (const e of this.tracked) {
      const r = e.record
      if (r.conn !== e || !r.bootstrap || e.conn.direction !== 'outbound' || r.isProtected || r.permanent || r.longTerm || r.allowed) continue
      // A topic quota that still needs it keeps it: then it counts like any connection kept.
      if (!this.host.topics.canClose(r, taken)) continue
      taken.push(r)
      out.push(e)
    }
    return out
  }

  /** Closes the connections apart if the others reach lowWater. */
  release (): void {
    const { host } = this
    const { lowWater, releaseBootstrap } = host.limits()
    if (!host.running() || this.tracked.size === 0 || !releaseBootstrap) return
    const apart = this.apart()
    const others = host.count() - apart.length
    if (apart.length === 0 || others < lowWater) return
    for (const e of apart) host.close(e, `released: ${others} other connections reach lowWater ${lowWater}, and a bootstrap peer is for getting started`)
  }
}
