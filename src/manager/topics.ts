import type { PeerRecord } from './peer-record.js'

export interface TopicQuota { min: number; max?: number }

/**
 * Connected peers per topic and the quotas set by `setTopicQuota` (the "active topology").
 *
 * Rules:
 * - A connected peer counts once for each topic it declares.
 * - `canClose` refuses to close a peer when that would take one of its topics below its quota's `min`,
 *   counting the peers a trim has already taken.
 */
export class TopicCounts {
  private readonly connected = new Map<string, number>()
  /** Dials in flight per topic: they count toward `min` so one short topic is not dialled many times over. */
  private readonly pending = new Map<string, number>()
  private readonly quotas = new Map<string, TopicQuota>()

  setQuota (topic: string, quota: TopicQuota | undefined): void {
    if (quota === undefined) this.quotas.delete(topic)
    else this.quotas.set(topic, { ...quota })
  }

  count (topic: string): number { return this.connected.get(topic) ?? 0 }

  attach (topics: readonly string[]): void {
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
      if (q !== undefined && this.count(t) + (this.pending.get(t) ?? 0) + (planned?.get(t) ?? 0) < q.min) return true
    }
    return false
  }

  /** Is any topic below its quota's `min`, counting dials in flight? */
  short (): boolean {
    for (const [t, q] of this.quotas) if (this.count(t) + (this.pending.get(t) ?? 0) < q.min) return true
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

  canClose (record: PeerRecord, taken: readonly PeerRecord[]): boolean {
    if (this.quotas.size === 0 || record.topics.length === 0) return true
    for (const t of record.topics) {
      const q = this.quotas.get(t)
      if (q === undefined || q.min === 0) continue
      let left = this.count(t) - 1
      for (const o of taken) if (o.topics.includes(t)) left--
      if (left < q.min) return false
    }
    return true
  }
}
