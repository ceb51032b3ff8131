import type { Clock } from '../manager/types.js'
import type { BreakerState } from './breaker.js'
import { MAX_HEALTH_BREAKERS, type HealthReport } from './messages.js'

/** How often a node sends its health to one registry, at most: once per this many ms. */
export const HEALTH_INTERVAL = 1000

/** The report for this state: draining, and the breakers not closed (by peer id, in order, at most `MAX_HEALTH_BREAKERS`). */
export function healthReport (draining: boolean, breakers: ReadonlyArray<{ peer: string; state: BreakerState }>): HealthReport {
  const out: HealthReport['breakers'] = []
  for (const b of breakers) if (b.state !== 'closed') out.push({ peer: b.peer, state: b.state })
  out.sort((x, y) => x.peer < y.peer ? -1 : x.peer > y.peer ? 1 : 0)
  return { draining, breakers: out.slice(0, MAX_HEALTH_BREAKERS) }
}

/** Whether two reports say the same. */
export function sameHealth (a: HealthReport, b: HealthReport): boolean {
  return a.draining === b.draining && a.breakers.length === b.breakers.length &&
    a.breakers.every((x, i) => x.peer === b.breakers[i].peer && x.state === b.breakers[i].state)
}

/** What the reporter needs of the node. */
export interface HealthSource {
  /** The node's breakers now (caller.ts `breakerFigures`). */
  breakers: () => ReadonlyArray<{ peer: string; state: BreakerState }>
  clock: Clock
}

/** One registry that takes reports: how to send it one, and what it was sent last and when. */
interface Listener { send: (report: HealthReport) => void; owner: unknown; last: HealthReport | undefined; at: number; timer: unknown }

/**
 * A mesh node's health, reported to the registries it is registered with.
 *
 * Rules:
 * - The report is `draining` (set once `drain()` starts) and the breakers that are not closed
 *   (`healthReport`). A registry hears it when it changed since what that registry heard last,
 *   at most once per `HEALTH_INTERVAL` ms (a change within it is sent when it ends, as it is then).
 * - A registry that (re)registered us is sent the report at once unless it is the default (not
 *   draining, no breaker open): it has none of ours yet.
 * - Breakers change on calls (`check` after each) and with time (open becomes half-open with no
 *   call): while the last report holds a breaker, the state is looked at again every interval.
 * - Only registries that said they take reports are added (registration.ts); a closed channel is
 *   removed.
 */
export class HealthReporter {
  private draining = false
  private readonly listeners = new Map<string, Listener>()
  /** The poll while a breaker is not closed. */
  private poll: unknown
  private closed = false

  constructor (private readonly source: HealthSource) {}

  /** The report now. */
  report (): HealthReport { return healthReport(this.draining, this.source.breakers()) }

  /** `drain()` started. */
  drain (): void {
    this.draining = true
    this.check()
  }

  /**
   * Registry `id` takes reports over `send` (replaces what it had: a new connection; a renewal on
   * the same `owner`, the channel, changes nothing).
   */
  add (id: string, owner: unknown, send: (report: HealthReport) => void): void {
    if (this.closed || this.listeners.get(id)?.owner === owner) return
    this.remove(id)
    const l: Listener = { send, owner, last: undefined, at: -Infinity, timer: undefined }
    this.listeners.set(id, l)
    const now = this.report()
    if (now.draining || now.breakers.length > 0) this.sendTo(l, now)
    this.schedulePoll(now)
  }

  /** Registry `id`'s channel closed (given `owner`: only if it is still the one reports go on). */
  remove (id: string, owner?: unknown): void {
    const l = this.listeners.get(id)
    if (l === undefined || (owner !== undefined && l.owner !== owner)) return
    this.source.clock.clearTimeout(l.timer)
    this.listeners.delete(id)
  }

  /** Something may have changed: each registry that heard otherwise is told (rate-limited). */
  check (): void {
    if (this.closed || this.listeners.size === 0) return
    const now = this.report()
    const t = this.source.clock.now()
    for (const l of this.listeners.values()) {
      if (l.last !== undefined ? sameHealth(l.last, now) : !now.draining && now.breakers.length === 0) continue
      if (t - l.at >= HEALTH_INTERVAL) this.sendTo(l, now)
      else if (l.timer === undefined) {
        l.timer = this.source.clock.setTimeout(() => { l.timer = undefined; this.check() }, l.at + HEALTH_INTERVAL - t)
      }
    }
    this.schedulePoll(now)
  }

  close (): void {
    this.closed = true
    this.source.clock.clearTimeout(this.poll)
    for (const id of [...this.listeners.keys()]) this.remove(id)
  }

  private sendTo (l: Listener, report: HealthReport): void {
    l.last = report
    l.at = this.source.clock.now()
    this.source.clock.clearTimeout(l.timer)
    l.timer = undefined
    l.send(report)
  }

  private schedulePoll (now: HealthReport): void {
    if (this.poll !== undefined || now.breakers.length === 0 || this.closed) return
    this.poll = this.source.clock.setTimeout(() => { this.poll = undefined; this.check() }, HEALTH_INTERVAL)
  }
}
