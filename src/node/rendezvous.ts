import type { PeerId } from '../manager/types.js'

export interface Registration { id: PeerId; addresses: string[]; expires: number }

/** A registration as held, with the bytes it counts for and the announcer's public address range. */
interface Held extends Registration { bytes: number; range: string | undefined }

/** The rendezvous table's budgets. */
export interface RendezvousLimits {
  /** Registrations one topic keeps (the soonest to expire give way). Default 256. */
  perTopic: number
  /** Topics the table keeps. Default 4096. */
  maxTopics: number
  /** Longest life of an announcement. Default 10 minutes. */
  maxTtl: number
  /** Topics one peer may be registered for at once. Default 64. */
  perPeer: number
  /** Addresses kept per registration. Default 8. */
  addresses: number
  /** Bytes the whole table may hold (ids, topics and addresses counted). Default 4 MiB. */
  maxBytes: number
  /**
   * Registrations the peers of one public address range (an IPv4 /24, an IPv6 /48) may hold in all:
   * identities are free, so one host must not fill the table. Default 256 (four peers' `perPeer`).
   */
  perRange: number
  /** Registrations one public address range may hold in one topic (a full topic's places). Default 32 (an eighth of `perTopic`). */
  perRangePerTopic: number
}

export const DEFAULT_RENDEZVOUS_LIMITS: RendezvousLimits = {
  perTopic: 256, maxTopics: 4096, maxTtl: 10 * 60_000, perPeer: 64, addresses: 8, maxBytes: 4 * 1024 * 1024, perRange: 256, perRangePerTopic: 32
}

/** Fixed cost counted per registration besides its addresses (id, topic, record, map entries). */
const REGISTRATION_OVERHEAD = 256

/**
 * The rendezvous service every node can run: topic → peers that announced it, each with a TTL.
 *
 * Rules:
 * - An announcement replaces the peer's previous one for the topic and lives `ttl` ms (capped at
 *   `maxTtl`); expired ones are dropped on access, and all of them in a sweep when a budget is reached.
 * - Budgets (`RendezvousLimits`): a topic keeps at most `perTopic` registrations (the soonest to expire
 *   give way), the table at most `maxTopics` topics and `maxBytes` bytes, a peer at most `perPeer`
 *   topics, a registration at most `addresses` addresses; the peers of one public address range
 *   (`range`, given by the caller) at most `perRange` registrations, `perRangePerTopic` in one topic
 *   (many identities from one host fill neither the table nor a topic). An announcement over a budget is refused
 *   (counted in `refused`); it never evicts another peer's registration, except within a full topic.
 * - `lookup` returns at most `limit` live registrations, freshest first.
 */
export class RendezvousTable {
  private readonly topics = new Map<string, Map<PeerId, Held>>()
  /** The topics each peer is registered for (the `perPeer` budget, and `withdraw`). */
  private readonly perPeer = new Map<PeerId, Set<string>>()
  private readonly limits: RendezvousLimits
  /** Bytes held now (as counted for `maxBytes`). */
  bytes = 0
  /** Announcements refused for a budget. */
  refused = 0
  private lastSweep = -Infinity

  constructor (readonly now: () => number, limits: Partial<RendezvousLimits> = {}) {
    this.limits = { ...DEFAULT_RENDEZVOUS_LIMITS, ...limits }
  }

  /** Registrations held per public address range (the `perRange` budget). */
  private readonly perRange = new Map<string, number>()

  /**
   * Registers `id` for `topic`; false when a budget refused it. `range`: the announcer's public
   * address range (see `addressRange`), undefined for none (loopback, a private network, ourselves).
   */
  announce (topic: string, id: PeerId, addresses: string[], ttl: number, range?: string): boolean {
    const kept = addresses.slice(0, this.limits.addresses)
    const bytes = REGISTRATION_OVERHEAD + topic.length + id.length + kept.reduce((n, a) => n + a.length, 0)
    let regs = this.topics.get(topic)
    const previous = regs?.get(id)
    const growth = bytes - (previous?.bytes ?? 0)
    if (!this.fits(previous === undefined ? id : undefined, regs === undefined, growth) || !this.rangeFits(range, regs, previous)) {
      this.sweep()
      regs = this.topics.get(topic)
      const held = regs?.get(id)
      if (!this.fits(held !== undefined ? undefined : id, regs === undefined, bytes - (held?.bytes ?? 0)) || !this.rangeFits(range, regs, held)) {
        this.refused++
        return false
      }
    }
    if (regs === undefined) {
      regs = new Map()
      this.topics.set(topic, regs)
    }
    this.remove(topic, regs, id)
    regs.set(id, { id, addresses: kept, expires: this.now() + Math.min(Math.max(0, ttl), this.limits.maxTtl), bytes, range })
    this.bytes += bytes
    if (range !== undefined) this.perRange.set(range, (this.perRange.get(range) ?? 0) + 1)
    let mine = this.perPeer.get(id)
    if (mine === undefined) this.perPeer.set(id, mine = new Set())
    mine.add(topic)
    if (regs.size > this.limits.perTopic) {
      let oldest: Held | undefined
      for (const r of regs.values()) if (oldest === undefined || r.expires < oldest.expires) oldest = r
      this.remove(topic, regs, oldest!.id)
    }
    return true
  }

  unannounce (topic: string, id: PeerId): void {
    const regs = this.topics.get(topic)
    if (regs === undefined) return
    this.remove(topic, regs, id)
    if (regs.size === 0) this.topics.delete(topic)
  }

  /**
   * Withdraws `id` from every topic not in `keep`: what a peer says it joined now (its hello) is the
   * truth, whatever it registered before — the way a peer that left a topic while not connected to
   * us withdraws from it.
   */
  withdraw (id: PeerId, keep: readonly string[]): void {
    const mine = this.perPeer.get(id)
    if (mine === undefined) return
    for (const topic of [...mine]) if (!keep.includes(topic)) this.unannounce(topic, id)
  }

  /** Whether `id` holds a live registration for `topic`. */
  holds (topic: string, id: PeerId): boolean {
    const r = this.topics.get(topic)?.get(id)
    return r !== undefined && r.expires > this.now()
  }

  lookup (topic: string, limit = 32): Registration[] {
    const regs = this.topics.get(topic)
    if (regs === undefined) return []
    const now = this.now()
    const live: Held[] = []
    for (const r of [...regs.values()]) {
      if (r.expires <= now) this.remove(topic, regs, r.id)
      else live.push(r)
    }
    if (regs.size === 0) this.topics.delete(topic)
    return live.sort((a, b) => b.expires - a.expires).slice(0, limit).map((r) => ({ id: r.id, addresses: r.addresses, expires: r.expires }))
  }

  /** Topics held. */
  get size (): number { return this.topics.size }

  /** Registrations held (expired ones not yet swept included). */
  get registrations (): number {
    let n = 0
    for (const regs of this.topics.values()) n += regs.size
    return n
  }

  /** Whether a registration growing the table by `growth` bytes fits (a new peer entry for `newPeer`, a new topic). */
  private fits (newPeer: PeerId | undefined, newTopic: boolean, growth: number): boolean {
    if (newTopic && this.topics.size >= this.limits.maxTopics) return false
    if (newPeer !== undefined && (this.perPeer.get(newPeer)?.size ?? 0) >= this.limits.perPeer) return false
    return this.bytes + growth <= this.limits.maxBytes
  }

  /** Whether one more registration of `range` fits its budgets (`previous`: the one it replaces, of the same peer and topic). */
  private rangeFits (range: string | undefined, regs: Map<PeerId, Held> | undefined, previous: Held | undefined): boolean {
    if (range === undefined || previous?.range === range) return true
    if ((this.perRange.get(range) ?? 0) >= this.limits.perRange) return false
    let inTopic = 0
    for (const r of regs?.values() ?? []) if (r.range === range) inTopic++
    return inTopic < this.limits.perRangePerTopic
  }

  private remove (topic: string, regs: Map<PeerId, Held>, id: PeerId): void {
    const r = regs.get(id)
    if (r === undefined) return
    regs.delete(id)
    this.bytes -= r.bytes
    if (r.range !== undefined) {
      const n = (this.perRange.get(r.range) ?? 1) - 1
      if (n <= 0) this.perRange.delete(r.range)
      else this.perRange.set(r.range, n)
    }
    const mine = this.perPeer.get(id)
    mine?.delete(topic)
    if (mine?.size === 0) this.perPeer.delete(id)
  }

  /** Drops every expired registration; at most once a second (a full table under a flood costs one walk per second). */
  private sweep (): void {
    const now = this.now()
    if (now - this.lastSweep < 1000) return
    this.lastSweep = now
    for (const [topic, regs] of this.topics) {
      for (const r of [...regs.values()]) if (r.expires <= now) this.remove(topic, regs, r.id)
      if (regs.size === 0) this.topics.delete(topic)
    }
  }
}
