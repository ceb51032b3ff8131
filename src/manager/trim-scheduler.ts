import { Alarm } from '../clock.js'
import { priorityRank } from './rank.js'
import type { PeerRecord } from './peer-record.js'
import type { TopicCounts } from './topics.js'
import { TrimIndex } from './trim-index.js'
import { selectVictims, trimCount } from './trim-rules.js'
import { RankedDecision } from './explain.js'
import type { Clock, Connection, Decision, Priority, TrimReason } from './types.js'

const NONE: readonly PeerRecord[] = []

/** What trimming needs from the manager. */
export interface TrimSchedulerHost {
  readonly clock: Clock
  readonly topics: TopicCounts
  running(): boolean
  limits(): { lowWater: number; highWater: number; gracePeriod: number; silencePeriod: number }
  connections(): number
  /** May the manager trim this connected peer (grace aside)? */
  trimmable(record: PeerRecord): boolean
  /**
   * Closes the connections of `records` (taken out of the index already) with reason 'trimmed';
   * `decide(record, i)` is the decision explain() shows for the i-th. Returns how many closed.
   */
  closeVictims(records: readonly PeerRecord[], decide: (record: PeerRecord, i: number) => Decision): number
  trimmed(closed: number, reason: TrimReason): void
}

/**
 * The trimming policy: which peer gives way, when, and how many.
 *
 * Rules:
 * - The trimmable peers live in a `TrimIndex`; connections enter it when their grace period ends,
 *   on one shared timer (batched up to a second late; admission and trims promote on their own).
 * - `lowest()` is the eviction candidate at the bound; `trim(mode)` closes `trimCount(mode)` peers.
 * - Peers of a topic above its quota's `max` are offered first; a topic is never taken below `min`.
 * - While the count stays above `highWater`, a background trim runs at most once per `silencePeriod`.
 * - A topic swap (a newcomer of a topic taking the place of a peer that keeps that topic at its min)
 *   happens at most once per `gracePeriod`, and never takes a long-term peer's place. A swapped-in
 *   peer is in its grace period, so it never gives way to the next newcomer: without the limit, a
 *   burst of sybils claiming the topic swapped out every honest topic peer, one after another.
 *   Forced and allow-listed newcomers are not limited (the application wants them).
 */
export class TrimScheduler {
  readonly index: TrimIndex
  /** The background trim, at most once per silencePeriod. */
  private readonly trimAlarm: Alarm
  /** Grace periods ending: promotes the connections that became trimmable (batched, up to a second late). */
  private readonly promoteAlarm: Alarm
  private lastTrim = -Infinity
  /** The last `lowest(…, priority)` that found nobody: the index version, count, priority and newcomer's topics it was for. */
  private nobody = { version: -1, connections: -1, limit: -1, topics: '' }
  /** When a newcomer last took the place of a peer that kept a topic at its min (`evicting`). */
  private lastSwap = -Infinity
  /** The decision a trim's victims are closed with (`RankedDecision.start`): one object for every trim, not one each. */
  private readonly decision = new RankedDecision(0, 'trim', '', 0, 0, { priority: 'medium', longTerm: false, value: 0, idle: true, inbound: false, openedAt: 0 })
  /** Trims closing their victims now (more than one when an event handler trims). */
  private closing = 0

  constructor (private readonly host: TrimSchedulerHost) {
    this.index = new TrimIndex(host.limits().gracePeriod, (r) => host.trimmable(r))
    this.trimAlarm = new Alarm(host.clock, () => {
      if (!this.host.running() || this.host.connections() <= this.host.limits().highWater) return
      this.trim('watermark', 'watermark')
    })
    this.promoteAlarm = new Alarm(host.clock, () => { this.promote() })
  }

  /** The verb: anything about a connected peer changed; re-files it in the trim index (membership and rank). */
  peerChanged (record: PeerRecord): void {
    if (record.conn === undefined) return
    this.index.update(record, this.host.clock.now())
    // Whatever made a peer trimmable may let a background trim restore the bound.
    this.scheduleTrimIfOver()
  }

  /** Only the peer's tag value moved: re-sorts it if it is indexed (a value never makes a peer trimmable). */
  valueChanged (record: PeerRecord): void {
    if (record.heapIndex !== -1) this.index.update(record, this.host.clock.now())
  }

  /** A connection opened: it enters the index once its grace period ends. */
  opened (record: PeerRecord, now: number): void {
    this.index.opened(record, now)
    if (this.host.running() && !this.promoteAlarm.armed) this.promote()
  }

  closed (record: PeerRecord): void {
    this.index.remove(record)
  }

  /** The transport reported that the connection's open streams changed (see `TrimIndex.streamsChanged`). */
  streamsChanged (record: PeerRecord, conn: Connection): void {
    this.index.streamsChanged(record, conn)
  }

  start (): void {
    this.promote()
    if (this.host.connections() > this.host.limits().highWater) this.trim('limit', 'start')
  }

  stop (): void {
    this.trimAlarm.cancel()
    this.promoteAlarm.cancel()
  }

  /**
   * The lowest-ranked trimmable peer other than `except` (the newcomer), keeping every topic at its
   * quota's min — the newcomer counting for the topics it serves (it takes the place); with
   * `priority` (a newcomer's), the lowest-ranked one whose priority is not above it — a long-term peer
   * of low priority gives way to a medium newcomer before nobody does, but a high peer never does.
   * Usually the first peer in order answers; when only long-term peers can, the walk passes the
   * others once, and a walk that found nobody is not repeated until the index or the count changes
   * (a flood of newcomers at the bound costs one walk, not one each).
   */
  lowest (except: PeerRecord | undefined, priority?: Priority): PeerRecord | undefined {
    this.index.promote(this.host.clock.now())
    const top = this.index.lowest()
    const limit = priority === undefined ? Infinity : priorityRank(priority)
    const { topics } = this.host
    const over = this.overQuota()
    // A newcomer takes the place (its topics count); a peer connected already is counted already.
    // A stranger's swap waits for the last one's grace period to end (the rules).
    const swapping = limit === Infinity || this.host.clock.now() >= this.lastSwap + this.host.limits().gracePeriod
    const newcomer = except?.conn === undefined && swapping ? except : undefined
    // The usual case: the lowest-ranked peer itself may go (no walk, no closure: this runs for every newcomer at the bound).
    if (top !== undefined && top !== except && over === undefined && priorityRank(top.priority) <= limit &&
      (newcomer === undefined || !top.longTerm ? topics.canClose(top, NONE, newcomer) : topics.canClose(top, NONE))) return top
    const mayGo = (r: PeerRecord, taken: readonly PeerRecord[]): boolean =>
      newcomer === undefined || !r.longTerm ? topics.canClose(r, taken, newcomer) : topics.canClose(r, taken)
    const connections = this.host.connections()
    const { nobody } = this
    const served = newcomer === undefined ? '' : newcomer.topics.join('\n')
    if (nobody.limit === limit && nobody.version === this.index.version && nobody.connections === connections && nobody.topics === served) return undefined
    const found = selectVictims(this.index.ordered(1), 1, (r, taken) => r !== except && priorityRank(r.priority) <= limit && mayGo(r, taken), over)[0]
    if (found === undefined && limit !== Infinity) this.nobody = { version: this.index.version, connections, limit, topics: served }
    return found
  }

  /** `lowest()`'s peer is evicted for a newcomer now: if that was a topic swap, the next one waits (the rules). */
  evicting (victim: PeerRecord): void {
    if (!this.host.topics.canClose(victim, NONE)) this.lastSwap = this.host.clock.now()
  }

  /** A topic's quota changed: which peers may go changed with it, though the index did not. */
  quotasChanged (): void {
    this.nobody = { version: -1, connections: -1, limit: -1, topics: '' }
  }

  /** Trims now; returns how many peers were closed. */
  trim (mode: 'watermark' | 'limit', reason: TrimReason): number {
    const now = this.host.clock.now()
    this.index.promote(now)
    const { lowWater, highWater } = this.host.limits()
    const before = this.host.connections()
    const candidates = this.index.size
    const count = trimCount(mode, { connections: before, trimmable: candidates, lowWater, highWater })
    const large = !this.index.walks(count)
    this.index.resample()
    const { topics } = this.host
    const canClose = (r: PeerRecord, taken: readonly PeerRecord[]): boolean => topics.canClose(r, taken)
    const over = this.overQuota()
    let victims: PeerRecord[]
    if (over === undefined && topics.quotaCount === 0) {
      // Every peer may go (no topic quota): the victims are the first `count` in order, which the
      // index hands out and lets go in one pass (its buckets' newest, popped: no sort, however many).
      victims = this.index.takeFirst(count)
    } else {
      if (!large && over === undefined) {
        // A few of many, in one pass: the first `count` in order are the victims unless a topic at its
        // min keeps some of them; then the walk goes on past them (the same choice, found lazily).
        const first = this.index.first(count)
        victims = selectVictims(first, count, canClose)
        if (victims.length < count && first.length === count) victims = selectVictims(this.index.ordered(count), count, canClose)
      } else {
        victims = selectVictims(this.index.ordered(count), count, canClose, over)
      }
      this.index.removeMany(victims)
    }
    // The application lowered the bound (or started above it): it holds now, so when the past-grace
    // peers are not enough, the lowest-ranked in-grace ones go too.
    const short = mode === 'limit' ? before - highWater - victims.length : 0
    if (short > 0) {
      const more = selectVictims(this.index.graceRanked(), short, (r, taken) => topics.canClose(r, victims.concat(taken)))
      victims.push(...more)
    }
    // The bound wins over topic quotas: when quotas of several topics add up above highWater, the
    // peers they would keep go too, lowest-ranked first (past-grace ones, and in-grace ones for a lowered limit).
    let overQuotas = before - highWater - victims.length
    if (overQuotas > 0) {
      const taken = new Set(victims)
      const pools = mode === 'limit' ? [this.index.ordered(Infinity), this.index.graceRanked()] : [this.index.ordered(Infinity)]
      for (const pool of pools) {
        const more = selectVictims(pool, overQuotas, (r) => !taken.has(r))
        for (const r of more) { taken.add(r); victims.push(r) }
        overQuotas -= more.length
        if (overQuotas <= 0) break
      }
    }
    const rule = (mode === 'limit' ? `${before} connections > highWater ${highWater} (in-grace peers too when needed)` : `${candidates} trimmable of ${before} connections, lowWater ${lowWater}, highWater ${highWater}`) +
      (topics.quotaCount === 0 ? '' : topics.cappedNote())
    // One text for the whole trim; each victim's place and rank are written only if explain() reads
    // them. One decision object carries each victim's in turn (the log copies it: explain.ts), the
    // scheduler's own unless a trim runs inside another's closes (an event handler trims).
    if (victims.length > 0) {
      const head = `trimmed: trim (${reason}): ${rule}; #`
      const decision = this.closing === 0 ? this.decision.start(now, head, victims.length) : new RankedDecision(now, 'trim', head, 1, victims.length, victims[0])
      this.closing++
      try {
        this.host.closeVictims(victims, (r, i) => decision.next(i + 1, r))
      } finally {
        this.closing--
      }
    }
    this.lastTrim = now
    if (victims.length > 0) this.host.trimmed(victims.length, reason) // a trim that closed nobody is no event
    // Still above (forced or in-grace connections): a background trim looks again later.
    this.scheduleTrimIfOver()
    return victims.length
  }

  /** Decides whether a background trim is due: schedules one (at most one per silencePeriod) if the count is above highWater. */
  scheduleTrimIfOver (): void {
    if (this.host.connections() > this.host.limits().highWater) this.scheduleTrim()
  }

  private overQuota (): ((r: PeerRecord, taken: readonly PeerRecord[]) => boolean) | undefined {
    const { topics } = this.host
    if (topics.quotaCount === 0 || !topics.anyOver()) return undefined
    return (r, taken) => r.topics.some((t) => topics.over(t, taken))
  }

  private promote (): void {
    const { clock } = this.host
    this.index.promote(clock.now())
    this.scheduleTrimIfOver()
    if (!this.host.running() || this.promoteAlarm.armed) return
    const next = this.index.nextPromotion()
    if (next === undefined) return
    const slack = Math.min(1000, this.host.limits().gracePeriod)
    this.promoteAlarm.wakeAt(Math.max(next, clock.now()) + slack)
  }

  private scheduleTrim (): void {
    if (!this.host.running() || this.trimAlarm.armed) return
    this.trimAlarm.wakeAt(Math.max(this.host.clock.now(), this.lastTrim + this.host.limits().silencePeriod))
  }
}
