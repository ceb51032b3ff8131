import type { Clock, PeerId } from '../manager/types.js'

/** A bootstrap peer that serves as a topic directory, as the visits see it. */
export interface RendezvousPoint {
  id: PeerId
  /** Where to dial it (the bootstrap address, with its id). */
  address: string
}

export interface VisitsHost {
  /** The bootstrap peers (the directory newcomers ask first). */
  points(): RendezvousPoint[]
  /** Whether a connection to `peer` is open now (then announcements go over it instead). */
  isConnected(peer: PeerId): boolean
  /** Dials `address` with a visit hello; resolves once the point took it (closed 'visit'). */
  visit(point: RendezvousPoint, signal: AbortSignal): Promise<void>
  clock: Clock
}

export interface VisitsOptions {
  /** How long a rendezvous point keeps the registrations of a visit. Default 5 minutes. */
  visitTtl: number
  /** Fewest milliseconds between two visits to one point, except to withdraw. */
  minGap: number
  /** How long a visit may take. */
  timeout: number
}

/** What one point holds for us, as far as we know: topic → when it expires there. */
interface Held {
  topics: Map<string, number>
  lastVisit: number
  /** The visit in flight, if any. */
  running?: Promise<void>
}

/** What the visits counted. */
export interface VisitStats {
  /** Visits made to rendezvous points we were not connected to. */
  visits: number
  /** Visits that failed (the point unreachable, or it did not take the visit in time). */
  visitsFailed: number
}

/**
 * Keeps our registrations at the bootstrap rendezvous points alive without holding a connection.
 *
 * Rules:
 * - A node lets its bootstrap connections go once it holds lowWater other connections, but newcomers
 *   still ask the bootstrap who is in a topic. While connected, announcements go over the connection
 *   (`announced`); once it is gone, the node visits: a handshake whose hello says "visit" and lists
 *   the topics it announces. The point registers them for `visitTtl`, withdraws the others, and
 *   closes; neither manager ever counts the visit as a connection.
 * - A point is visited when it holds less than half a `visitTtl` of any announced topic, at most once
 *   per `minGap`; and, at once, when it holds a topic we no longer announce (a leave, or `close()`),
 *   so a peer that left is not handed out by the directory it is no longer connected to.
 */
export class RendezvousVisits {
  private readonly held = new Map<PeerId, Held>()
  readonly counts: VisitStats = { visits: 0, visitsFailed: 0 }

  constructor (private readonly host: VisitsHost, private readonly opts: VisitsOptions) {}

  /** We sent `topics` to `peer` over a live connection, registered for `ttl`. */
  announced (peer: PeerId, topics: readonly string[], ttl: number): void {
    if (!this.held.has(peer) && !this.host.points().some((p) => p.id === peer)) return // not a point we visit
    const h = this.entry(peer)
    const until = this.host.clock.now() + ttl
    for (const t of topics) h.topics.set(t, Math.max(h.topics.get(t) ?? 0, until))
  }

  /** We withdrew `topic` from `peer` over a live connection. */
  withdrawn (peer: PeerId, topic: string): void {
    this.held.get(peer)?.topics.delete(topic)
  }

  /**
   * Visits every point that needs it for `announced` (the topics we announce now); resolves when
   * those visits are over. `urgent` only withdraws (leave, close): it ignores `minGap`.
   */
  async check (announced: readonly string[], urgent = false): Promise<void> {
    const now = this.host.clock.now()
    const running: Array<Promise<void>> = []
    for (const point of this.host.points()) {
      if (this.host.isConnected(point.id)) continue
      const h = this.entry(point.id)
      const stale = [...h.topics.keys()].some((t) => !announced.includes(t))
      const due = announced.some((t) => (h.topics.get(t) ?? 0) - now < this.opts.visitTtl / 2)
      if (h.running !== undefined) {
        if (stale) running.push(h.running)
        continue
      }
      const rested = now - h.lastVisit >= this.opts.minGap
      if ((stale && urgent) || ((stale || due) && rested)) running.push(this.visit(point, h, announced))
    }
    await Promise.all(running)
  }

  private entry (peer: PeerId): Held {
    let h = this.held.get(peer)
    if (h === undefined) this.held.set(peer, h = { topics: new Map(), lastVisit: -Infinity })
    return h
  }

  private async visit (point: RendezvousPoint, h: Held, announced: readonly string[]): Promise<void> {
    const topics = [...announced]
    h.lastVisit = this.host.clock.now()
    this.counts.visits++
    const ac = new AbortController()
    const timer = this.host.clock.setTimeout(() => { ac.abort(new Error('visit timed out')) }, this.opts.timeout)
    const run = this.host.visit(point, ac.signal).then(() => {
      const until = this.host.clock.now() + this.opts.visitTtl
      h.topics = new Map(topics.map((t) => [t, until]))
    }, () => {
      this.counts.visitsFailed++
    }).finally(() => {
      this.host.clock.clearTimeout(timer)
      h.running = undefined
    })
    h.running = run
    await run
  }
}
