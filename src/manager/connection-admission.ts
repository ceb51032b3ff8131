import type { AccessList } from './access-list.js'
import { EvictionRanges } from './address-range.js'
import { admit, type Admission } from './admission.js'
import { AddressTally } from './connection-limits.js'
import { RankedDecision } from './explain.js'
import { mergePriority, mergeTopics } from './merge.js'
import type { PeerKnowledge } from './peer-knowledge.js'
import type { PeerRecord } from './peer-record.js'
import type { TrimScheduler } from './trim-scheduler.js'
import type { Clock, Connection, PeerId } from './types.js'
import type { ResolvedOptions } from './validate.js'

/** What the admission gate needs from the manager (a part of `ConnectionsHost`). */
export interface AdmissionHost {
  readonly clock: Clock
  readonly opts: ResolvedOptions
  readonly knowledge: PeerKnowledge
  readonly trimming: TrimScheduler
  readonly allowList: AccessList
  readonly denyList: AccessList
  closed(): boolean
}

/**
 * Who may come in, for the connection bookkeeping (connections.ts): the admission rule (admission.ts)
 * applied to a peer that is not connected now, with what it needs to know besides — which dials the
 * application forces (`forcedWhile`), which address ranges took a place at the bound lately
 * (address-range.ts), and the victim at the bound (the trim scheduler's `lowest()`).
 *
 * Rules:
 * - Forced: a connection of a peer (by key or address) the application dials now (`connectNow`), or of
 *   a protected or permanent peer; allow-listed peers are not forced but may take anyone's place.
 * - At the bound a stranger takes only the place of a peer it outranks or equals, and none while a
 *   newcomer from its address range took one less than a grace period ago.
 * - Below the bound too, a connection that is neither forced, allow-listed nor of a long-term peer
 *   is refused ('over-limit') when its IP or public range holds `connectionLimits` connections
 *   already (connection-limits.ts); `attached` and `left` keep that count.
 * - `admits()` asks `decide()`'s question on the record `accept()` would use, changing nothing.
 */
export class AdmissionGate {
  /** Keys and addresses of peers the application dials now (`connectNow`): their connections are forced. */
  private readonly forcing = new Set<string>()
  /** Ranges whose last newcomer took a place at the bound within a grace period (address-range.ts). */
  private readonly evictors = new EvictionRanges()
  /** The eviction reason's text after the newcomer's id, for the highWater it was written for. */
  private evictionText = { highWater: -1, text: '' }
  /** The accounted connections by IP and range (connection-limits.ts). */
  private readonly tally: AddressTally

  /** `count`: the accounted connections now. */
  constructor (private readonly host: AdmissionHost, private readonly count: () => number) {
    this.tally = new AddressTally(host.opts.connectionLimits)
  }

  /** A connection is accounted now (connections.ts `attach`). */
  attached (conn: Connection): void { this.tally.add(conn) }

  /** An accounted connection left (connections.ts `leave`). */
  left (conn: Connection): void { this.tally.remove(conn) }

  /** Connections refused by `connectionLimits` since creation. */
  get limitRefusals (): number { return this.tally.refusals }

  /**
   * Runs the application's own dial of `record` (`connectNow`): while it runs, a connection of the
   * peer (by key or address) is forced, since the transport may report it before the dial resolves.
   */
  async forcedWhile (record: PeerRecord, dial: () => Promise<Connection>): Promise<Connection> {
    const keys = [record.key, ...record.addresses]
    keys.forEach((k) => this.forcing.add(k))
    try {
      return await dial()
    } finally {
      keys.forEach((k) => this.forcing.delete(k))
    }
  }

  /** See `ConnectionManager.admits`: the question `Connections.accept` answers, on the same lookup, changing nothing. */
  admits (peer: PeerId, address: string | undefined): boolean {
    if (this.host.closed() || this.host.denyList.matches(peer, address)) return false
    // The record accept() would use (the same lookup): one known by this address only, merged into
    // the peer's own when both exist — previewed here without merging.
    const { byAddress, own } = this.host.knowledge.lookup(peer, address)
    const record = byAddress !== undefined && own !== undefined ? previewMerge(own, byAddress) : byAddress ?? own
    if (record?.priority === 'banned') return false
    if (record?.conn !== undefined) return true // the duplicate rule decides in Connections.accept()
    return this.decide(record, peer, address, false).accept
  }

  /**
   * The admission decision (admission.ts) for a peer not connected now, past the deny list: forced
   * when the application dials it or it is protected or permanent; at the bound, the victim is the
   * lowest-ranked trimmable peer other than itself.
   */
  decide (record: PeerRecord | undefined, peer: PeerId, address: string | undefined, forcedDial: boolean): Admission {
    const { host } = this
    const forced = forcedDial || (address !== undefined && this.forcing.has(address)) ||
      (record !== undefined && (record.isProtected || record.permanent || this.forcing.has(record.key)))
    const count = this.count()
    const priority = record?.priority ?? 'medium'
    const allowed = host.allowList.matches(peer, address)
    // The bound holds from creation: admission applies whether or not the manager runs. A stranger
    // from a range that took a place within a grace period takes none (address-range.ts).
    const atBound = count >= host.opts.highWater
    const stranger = !allowed && !forced
    // One host's identities take at most its share, below the bound too (connection-limits.ts).
    if (stranger && priority !== 'banned' && record?.longTerm !== true) {
      const why = this.tally.refusal(address)
      if (why !== undefined) return { accept: false, close: 'over-limit', reason: why }
    }
    if (atBound && stranger && priority !== 'banned' && !this.evictors.mayEvict(address, host.clock.now())) {
      return { accept: false, close: 'over-limit', reason: `at highWater ${host.opts.highWater}; a newcomer from the same address range took a place less than gracePeriod ago` }
    }
    return admit({
      priority,
      allowed,
      forced,
      count,
      highWater: host.opts.highWater,
      // What the application wants may take anyone's place; a stranger only that of a peer it outranks or equals.
      victim: atBound ? host.trimming.lowest(record, stranger ? priority : undefined) : undefined,
      trimmable: atBound ? host.trimming.index.size : 0
    })
  }

  /**
   * `victim` (`decide()`'s `evict`) gives way to `newcomer` now: the next topic swap waits (the trim
   * scheduler's rules), the newcomer's range took a place; returns the decision the victim is closed with.
   */
  evicting (newcomer: Connection, victim: PeerRecord, now: number): RankedDecision {
    const { host } = this
    host.trimming.evicting(victim)
    this.evictors.evicted(newcomer.address, now, host.opts.gracePeriod)
    return new RankedDecision(now, 'trim', `trimmed: evicted to make room for ${newcomer.peer}${this.evictionNote()}`, 0, 1, victim)
  }

  /** The text of an eviction's reason after the newcomer's id: one string while highWater stays. */
  private evictionNote (): string {
    const { highWater } = this.host.opts
    if (this.evictionText.highWater !== highWater) this.evictionText = { highWater, text: ` at highWater ${highWater}: lowest-ranked trimmable peer (` }
    return this.evictionText.text
  }
}

/**
 * What `accept()` would make of the peer's record once the record known by its address only is
 * merged into it (merge.ts), for `admits()`: a view that changes neither record.
 */
function previewMerge (own: PeerRecord, byAddress: PeerRecord): PeerRecord {
  const view = Object.create(own) as PeerRecord
  view.priority = mergePriority(own.priority, byAddress.priority)
  view.permanent = own.permanent || byAddress.permanent
  view.longTerm = own.longTerm || byAddress.longTerm
  // The topics decide whether the peer may take a topic peer's place at the bound (trim-scheduler.ts).
  if (byAddress.topics.length > 0) view.topics = mergeTopics(own.topics, byAddress.topics)
  // Read-only here: the view answers `isProtected` itself (a write of `protections` would reach own's).
  if (byAddress.isProtected) Object.defineProperty(view, 'isProtected', { value: true })
  return view
}
