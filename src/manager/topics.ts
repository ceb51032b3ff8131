import type { PeerRecord } from './peer-record.js'

export interface TopicQuota { min: number; max?: number }

/**
 * Connected peers per topic and the quotas set by `setTopicQuota` (the "active topology").
 *
 * Rules:
 * - A connected peer counts once for each topic it declares.
 * - `canClose` refuses to close a peer when that would take one of its topics below its quota's `min`,
 *   counting the peers a trim has already taken, and the newcomer it would make room for: a peer of
 *   the same topic may take a topic peer's place at the bound (the count stays), else a full node
 *   whose every connection keeps a topic at its `min` would refuse every newcomer of that topic, and
 *   a group of such nodes would never open to the rest of the topic.
 * - The bound wins: a quota's `min` counts as at most `highWater` (`effectiveMin`), for dialing and
 *   trimming alike; and a trim that must restore the bound takes peers whatever their topics
 *   (trim-scheduler.ts).
 */
export class TopicCounts {
  /** `highWater` now: no quota's `min` counts for more. */
  constructor (private readonly cap: () => number = () => Infinity) {}

  // The three tables start as one shared empty map, read as any other and never written: each gets
  // its own on its first `set` (most managers of a large simulation have no topic at all).
  private connected: Map<string, number> = NONE
  /** Dials in flight per topic: they count toward `min` so one short topic is not dialled many times over. */
  private pending: Map<string, number> = NONE
  private quotas: Map<string, TopicQuota> = NONE as Map<string, never>

  setQuota (topic: string, quota: TopicQuota | undefined): void {
    if (quota === undefined) this.quotas.delete(topic)
    else ((this.quotas as Map<string, unknown>) === NONE ? (this.quotas = new Map()) : this.quotas).set(topic, { ...quota })
  }

  count (topic: string): number { return this.connected.get(topic) ?? 0 }

  /** The quota's `min`, capped by highWater. */
  private effectiveMin (q: TopicQuota): number { return Math.min(q.min, this.cap()) }

  /** Each quota as set, with its effective min and the count now (stats()). */
  list (): Array<{ topic: string; min: number; max?: number; effectiveMin: number; connected: number }> {
    const out: Array<{ topic: string; min: number; max?: number; effectiveMin: number; connected: number }> = []
    for (const [topic, q] of this.quotas) {
      out.push({ topic, min: q.min, ...(q.max !== undefined ? { max: q.max } : {}), effectiveMin: this.effectiveMin(q), connected: this.count(topic) })
    }
    return out
  }

  /** Says which quotas' `min` the bound caps now, for explain(); '' when none. */
  cappedNote (): string {
    const capped = [...this.quotas].filter(([, q]) => q.min > this.cap())
    if (capped.length === 0) return ''
    return `; ${capped.map(([t, q]) => `topic ${t}'s quota min ${q.min}`).join(', ')} capped by highWater ${this.cap()}`
  }

  attach (topics: readonly string[]): void {
    if (topics.length === 0) return
    if (this.connected === NONE) this.connected = new Map()
    for (const t of topics) this.connected.set(t, (this.connected.get(t) ?? 0) + 1)
  }

  detach (topics: readonly string[]): void {
    for (const t of topics) {
      const n = (this.connected.get(t) ?? 0) - 1
      if (n <= 0) this.connected.delete(t)
      else this.connected.set(t, n)
    }
  }

  /** A dial of a peer with these topics starts (+1) or ends (-1). */
  dialing (topics: readonly string[], delta: 1 | -1): void {
    if (topics.length > 0 && this.pending === NONE) this.pending = new Map()
    for (const t of topics) {
      const n = (this.pending.get(t) ?? 0) + delta
      if (n <= 0) this.pending.delete(t)
      else this.pending.set(t, n)
    }
  }

  /** Does the peer serve a topic whose quota's `min` is not met, counting dials in flight and `planned` ones? */
  needs (record: PeerRecord, planned?: ReadonlyMap<string, number>): boolean {
    if (this.quotas.size === 0) return false
    for (const t of record.topics) {
      const q = this.quotas.get(t)
      if (q !== undefined && this.count(t) + (this.pending.get(t) ?? 0) + (planned?.get(t) ?? 0) < this.effectiveMin(q)) return true
    }
    return false
  }

  /** How many topics have a quota. */
  get quotaCount (): number { return this.quotas.size }

  /** Does the peer serve a topic that has a quota (exploration dials only such peers)? */
  servesQuota (record: PeerRecord): boolean {
    if (this.quotas.size === 0) return false
    for (const t of record.topics) if (this.quotas.has(t)) return true
    return false
  }

  /** Is any topic below its quota's `min`, counting dials in flight? */
  short (): boolean {
    for (const [t, q] of this.quotas) if (this.count(t) + (this.pending.get(t) ?? 0) < this.effectiveMin(q)) return true
    return false
  }

  /** Is any topic above its quota's `max`? */
  anyOver (): boolean {
    for (const [t, q] of this.quotas) if (q.max !== undefined && this.count(t) > q.max) return true
    return false
  }

  /** Is the topic above its quota's `max`, once the peers already `taken` by a trim are gone? */
  over (topic: string, taken: readonly PeerRecord[] = []): boolean {
    const q = this.quotas.get(topic)
    if (q?.max === undefined) return false
    let n = this.count(topic)
    for (const o of taken) if (o.topics.includes(topic)) n--
    return n > q.max
  }

  canClose (record: PeerRecord, taken: readonly PeerRecord[], newcomer?: PeerRecord): boolean {
    if (this.quotas.size === 0 || record.topics.length === 0) return true
    for (const t of record.topics) {
      const q = this.quotas.get(t)
      if (q === undefined || q.min === 0) continue
      let left = this.count(t) - 1
      for (const o of taken) if (o.topics.includes(t)) left--
      if (newcomer?.topics.includes(t) === true) left++
      if (left < this.effectiveMin(q)) return false
    }
    return true
  }
}

/** The empty table every `TopicCounts` starts with (shared: never written, see above). */
const NONE: Map<string, number> = new Map()
