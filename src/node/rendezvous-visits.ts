import { PeerwardenError } from '../errors.js'
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
  /** Where to visit it, for a point that is not a bootstrap peer (see `MAX_OTHER_POINTS`). */
  address?: string
  lastVisit: number
  /** The visits in flight, if any, with their retries (see `visitUntilDone`). */
  running?: Promise<void>
}

/**
 * How long to wait before trying a failed withdrawing visit again, by failure (0: after the first);
 * past the last the withdrawal is given up: the point hands us out until our registration expires
 * there (counted, `withdrawalsAbandoned`). At the node's 2 s visit timeout a leave waits at most
 * four visits and 3.5 s between them.
 */
export const WITHDRAW_RETRY_DELAYS: readonly number[] = [500, 1_000, 2_000]

/**
 * After the `failures`-th failed withdrawing visit (0 for the first), how long to wait before the
 * next one; undefined to give up: past `WITHDRAW_RETRY_DELAYS`, or at once when the point is not there
 * to hold anything (nothing listens at its address, so its table went with it; or another peer, or
 * another network, answers there).
 */
export function withdrawRetryDelay (failures: number, err: unknown): number | undefined {
  if (err instanceof PeerwardenError) {
    if (err.code === 'ERR_PEER_MISMATCH' || err.code === 'ERR_NETWORK_KEY' || err.code === 'ERR_SELF_DIAL') return undefined
    if (err.code === 'ERR_DIAL_FAILED' && (err.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED') return undefined
  }
  return WITHDRAW_RETRY_DELAYS[failures]
}

/**
 * Rendezvous points other than the bootstrap peers that may hold our registrations, remembered so a
 * leave withdraws there too; past it, the one whose registrations expire soonest is forgotten (it
 * hands us out until its ttl, at most the table's `maxTtl`).
 */
export const MAX_OTHER_POINTS = 64

/** What the visits counted. */
export interface VisitStats {
  /** Visits made to rendezvous points we were not connected to. */
  visits: number
  /** Visits that failed (the point unreachable, or it did not take the visit in time). */
  visitsFailed: number
  /** Withdrawals given up after `WITHDRAW_RETRY_DELAYS` (or a point that was not there): the point may hand us out until our registration expires there. */
  withdrawalsAbandoned: number
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
 * - Any other rendezvous point that may hold our registrations is remembered too (up to
 *   `MAX_OTHER_POINTS`, until those registrations would have expired): a peer we announced to that
 *   later trimmed us, or one that turned us away and registered us from our hello. It is never
 *   visited to refresh, only to withdraw (a leave, `close()`), the same way.
 * - A withdrawing visit that fails is tried again after a backoff (`withdrawRetryDelay`: three more
 *   times at most, none when the point is not there); an urgent `check` (leave, close) resolves once
 *   every point withdrew us or was given up on (`withdrawalsAbandoned`). A failed refresh waits for
 *   the next `check` past `minGap`.
 */
export class RendezvousVisits {
  private readonly held = new Map<PeerId, Held>()
  /** What we announce, as of the last `check`. */
  private wanted: readonly string[] = []
  readonly counts: VisitStats = { visits: 0, visitsFailed: 0, withdrawalsAbandoned: 0 }

  constructor (private readonly host: VisitsHost, private readonly opts: VisitsOptions) {}

  /**
   * `peer` may hold `topics` for us for `ttl`: we sent them over a live connection, or our hello
   * carried them. `where` (where to visit it; asked once) makes a point of a peer that is not a
   * bootstrap peer.
   */
  announced (peer: PeerId, topics: readonly string[], ttl: number, where?: () => string | undefined): void {
    if (topics.length === 0) return
    let h = this.held.get(peer)
    if (h === undefined) {
      if (this.host.points().some((p) => p.id === peer)) h = this.entry(peer)
      else {
        const address = where?.()
        if (address === undefined) return // nowhere to withdraw it from: it expires there
        h = this.other(peer, address)
      }
    }
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
    this.wanted = announced
    const running: Array<Promise<void>> = []
    const points = this.host.points()
    for (const point of points) {
      if (this.host.isConnected(point.id)) continue
      const h = this.entry(point.id)
      const stale = [...h.topics.keys()].some((t) => !announced.includes(t))
      const due = announced.some((t) => (h.topics.get(t) ?? 0) - now < this.opts.visitTtl / 2)
      if (h.running !== undefined) {
        // Its hello may carry what we no longer announce: awaited, it visits again if so (see `visit`).
        if (stale || urgent) running.push(h.running)
        continue
      }
      const rested = now - h.lastVisit >= this.opts.minGap
      if ((stale && urgent) || ((stale || due) && rested)) running.push(this.visit(point, h))
    }
    // The other points: only withdrawn from, and forgotten once they hold nothing of ours.
    const bootstrap = new Set(points.map((p) => p.id))
    for (const [id, h] of this.held) {
      if (h.address === undefined || bootstrap.has(id)) continue
      for (const [t, until] of h.topics) if (until <= now) h.topics.delete(t)
      if (h.running !== undefined) {
        if (urgent) running.push(h.running)
        continue
      }
      if (h.topics.size === 0) { this.held.delete(id); continue }
      if (!urgent || this.host.isConnected(id)) continue
      if ([...h.topics.keys()].some((t) => !announced.includes(t))) running.push(this.visit({ id, address: h.address }, h))
    }
    await Promise.all(running)
  }

  private entry (peer: PeerId): Held {
    let h = this.held.get(peer)
    if (h === undefined) this.held.set(peer, h = { topics: new Map(), lastVisit: -Infinity })
    return h
  }

  /** The entry of a point that is not a bootstrap peer, made room for within `MAX_OTHER_POINTS`. */
  private other (peer: PeerId, address: string): Held {
    let others = 0
    let soonest: [PeerId, number] | undefined
    for (const [id, h] of this.held) {
      if (h.address === undefined) continue
      others++
      if (h.running !== undefined) continue
      const last = Math.max(0, ...h.topics.values())
      if (soonest === undefined || last < soonest[1]) soonest = [id, last]
    }
    if (others >= MAX_OTHER_POINTS && soonest !== undefined) this.held.delete(soonest[0])
    const h: Held = { topics: new Map(), lastVisit: -Infinity, address }
    this.held.set(peer, h)
    return h
  }

  /** Visits `point` until it holds what we announce (`visitUntilDone`); `running` meanwhile. */
  private async visit (point: RendezvousPoint, h: Held): Promise<void> {
    const run = this.visitUntilDone(point, h).finally(() => { h.running = undefined })
    h.running = run
    await run
  }

  /**
   * One visit registering what we announce, then another: at once when what we announce changed
   * while it ran (its hello carried the topics of when it began: a leave meanwhile would stay
   * registered there); after `withdrawRetryDelay` when it failed while the point may still hold a
   * topic we no longer announce (a failed refresh waits for the next `check`).
   */
  private async visitUntilDone (point: RendezvousPoint, h: Held): Promise<void> {
    for (let failures = 0; ;) {
      const err = await this.once(point, h, [...this.wanted])
      if (!this.holdsStale(h)) return
      if (err === undefined) continue
      const delay = withdrawRetryDelay(failures++, err)
      if (delay === undefined) { this.counts.withdrawalsAbandoned++; return }
      await this.sleep(delay)
    }
  }

  /** One visit registering `topics`; resolves with why it failed, or undefined when the point took it. */
  private async once (point: RendezvousPoint, h: Held, topics: readonly string[]): Promise<unknown> {
    h.lastVisit = this.host.clock.now()
    this.counts.visits++
    const ac = new AbortController()
    const timer = this.host.clock.setTimeout(() => { ac.abort(new Error('visit timed out')) }, this.opts.timeout)
    try {
      await this.host.visit(point, ac.signal)
      const until = this.host.clock.now() + this.opts.visitTtl
      h.topics = new Map(topics.map((t) => [t, until]))
      return undefined
    } catch (err) {
      this.counts.visitsFailed++
      return err ?? new Error('visit failed')
    } finally {
      this.host.clock.clearTimeout(timer)
    }
  }

  /** Whether `h` may still hold a topic we no longer announce (expired registrations dropped). */
  private holdsStale (h: Held): boolean {
    const now = this.host.clock.now()
    for (const [t, until] of h.topics) if (until <= now) h.topics.delete(t)
    return [...h.topics.keys()].some((t) => !this.wanted.includes(t))
  }

  /**
   * Waits `ms` on the clock. The system clock's timers are unref'd; this one is not: a leave or a
   * close awaiting its withdrawal keeps the process alive for it (an unsettled await otherwise).
   */
  private async sleep (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const handle = this.host.clock.setTimeout(resolve, ms) as { ref?: () => void } | undefined
      if (typeof handle?.ref === 'function') handle.ref()
    })
  }
}
