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
 * - Apart from lowWater (`apart()`, which the dialer reads): still the peer's connection, the peer
 *   still a bootstrap peer, not protected, permanent, long-term nor allow-listed — whoever opened it
 *   (the node still looks for lowWater peers of its own).
 * - Releasable: those of them that are outbound (we dialled it to get started; a bootstrap peer
 *   that dialled us chose to, and may keep its connection).
 * - Once the node holds lowWater connections besides those apart (and runs, and `releaseBootstrap`
 *   is on), the releasable ones are closed ('trimmed'), except one a topic quota still needs.
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
    this.tracked.delete(entry)
  }

  /** The bootstrap connections that do not count toward lowWater (see the rules). */
  apart (): ConnEntry[] { return this.select(true) }

  /** The bootstrap connections that will be let go once the others reach lowWater. */
  releasable (): ConnEntry[] { return this.select(false) }

  private select (inbound: boolean): ConnEntry[] {
    if (this.tracked.size === 0 || !this.host.limits().releaseBootstrap) return []
    const out: ConnEntry[] = []
    for (const e of this.tracked) {
      const r = e.record
      if (r.conn === e && r.bootstrap && (inbound || e.conn.direction === 'outbound') && !r.isProtected && !r.permanent && !r.longTerm && !r.allowed) out.push(e)
    }
    return out
  }

  /** Closes the releasable connections if the others reach lowWater. */
  release (): void {
    const { host } = this
    const { lowWater, releaseBootstrap } = host.limits()
    if (!host.running() || this.tracked.size === 0 || !releaseBootstrap) return
    const releasable = this.releasable()
    const others = host.count() - this.apart().length
    if (releasable.length === 0 || others < lowWater) return
    const taken: PeerRecord[] = []
    for (const e of releasable) {
      if (!host.topics.canClose(e.record, taken)) continue
      taken.push(e.record)
      host.close(e, `released: ${others} other connections reach lowWater ${lowWater}, and a bootstrap peer is for getting started`)
    }
  }
}
