import type { PeerId } from '../manager/types.js'

export interface Registration { id: PeerId; addresses: string[]; expires: number }

/**
 * The rendezvous service every node can run: topic → peers that announced it, each with a TTL.
 *
 * Rules:
 * - An announcement replaces the peer's previous one for the topic and lives `ttl` ms (capped at
 *   `maxTtl`); expired ones are dropped on access.
 * - A topic keeps at most `perTopic` registrations (the oldest expiring go first) and the table at most
 *   `maxTopics` topics, so a flood of announcements cannot exhaust memory.
 * - `lookup` returns at most `limit` live registrations, freshest first.
 */
export class RendezvousTable {
  private readonly topics = new Map<string, Map<PeerId, Registration>>()

  constructor (
    private readonly now: () => number,
    private readonly limits = { perTopic: 256, maxTopics: 4096, maxTtl: 10 * 60_000 }
  ) {}

  announce (topic: string, id: PeerId, addresses: string[], ttl: number): void {
    let regs = this.topics.get(topic)
    if (regs === undefined) {
      if (this.topics.size >= this.limits.maxTopics) return
      regs = new Map()
      this.topics.set(topic, regs)
    }
    regs.delete(id)
    regs.set(id, { id, addresses: addresses.slice(0, 8), expires: this.now() + Math.min(Math.max(0, ttl), this.limits.maxTtl) })
    if (regs.size > this.limits.perTopic) {
      let oldest: Registration | undefined
      for (const r of regs.values()) if (oldest === undefined || r.expires < oldest.expires) oldest = r
      regs.delete(oldest!.id)
    }
  }

  unannounce (topic: string, id: PeerId): void {
    const regs = this.topics.get(topic)
    regs?.delete(id)
    if (regs?.size === 0) this.topics.delete(topic)
  }

  lookup (topic: string, limit = 32): Registration[] {
    const regs = this.topics.get(topic)
    if (regs === undefined) return []
    const now = this.now()
    const live: Registration[] = []
    for (const r of regs.values()) {
      if (r.expires <= now) regs.delete(r.id)
      else live.push(r)
    }
    if (regs.size === 0) this.topics.delete(topic)
    return live.sort((a, b) => b.expires - a.expires).slice(0, limit)
  }

  get size (): number { return this.topics.size }
}
