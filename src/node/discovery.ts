import type { PeerId } from '../manager/types.js'
import type { NodeConnection } from './connection.js'
import type { ControlMessage } from './control-wire.js'
import { discoveryKey } from './discovery-key.js'
import type { DiscoveryHost, DiscoveryOptions, DiscoveryStats, Joined, JoinService } from './discovery-types.js'
import { FirstConnection, FirstContact, visitAddress } from './first-contact.js'
import { HintBudget } from './hint-budget.js'
import { Lookups } from './lookups.js'
import { PexBudget } from './pex-budget.js'
import { peerSource } from './peer-source.js'
import { newlyRelayed, referral } from './referrals.js'
import { RendezvousVisits } from './rendezvous-visits.js'
import { TopicDirectory } from './topic-directory.js'

// Their former home: importers of discovery.js keep working.
export { discoveryKey } from './discovery-key.js'
export type { DiscoveryHost, DiscoveryOptions, DiscoveryStats, JoinService } from './discovery-types.js'

/** Peers remembered as found per joined topic (for `flushed`). */
const MAX_FOUND_PER_TOPIC = 1024

/**
 * Topics: join/leave with announce and lookup, without any central service. This part holds the
 * membership (what we joined, what we found, what we tried); `TopicDirectory` answers others,
 * `Lookups` matches answers to questions, `RendezvousVisits` keeps our registrations at the
 * bootstrap peers we let go, `FirstContact` handles hellos, declared topics and farewells.
 *
 * Rules:
 * - Announce registers (topic → our id and addresses) with a TTL at every connected peer that serves
 *   rendezvous (and at ourselves), and refreshes it; lookup asks every connected peer; both happen
 *   again whenever a new connection opens (one round, `round`), so nodes that join at the same
 *   moment still find each other.
 * - Peer exchange: connected peers tell each other their topics; for each shared topic each side sends
 *   the peers it knows for it, so the network no longer depends on the bootstrap nodes once formed.
 *   What one connection teaches us is capped per minute (`pexPerMinute`).
 * - Every peer found for a topic goes to the manager with that topic, as a hint (the manager's quota
 *   for a joined topic makes it dial topic peers first and keeps them when trimming).
 */
export class Discovery {
  private readonly joined = new Map<string, Joined>()
  private readonly attempted = new Set<PeerId>()
  private closed = false
  /** A topic was joined once: what a hello said may be out of date (see `FirstContact.connected`). */
  private everJoined = false
  private unsolicitedAnswers = 0
  private readonly lookups: Lookups
  private readonly pex: PexBudget<NodeConnection>
  private readonly hints: HintBudget<NodeConnection>
  private readonly directory: TopicDirectory
  private readonly visits: RendezvousVisits
  private readonly first: FirstContact
  private readonly firstConnection: FirstConnection

  constructor (private readonly host: DiscoveryHost, private readonly opts: DiscoveryOptions) {
    this.lookups = new Lookups(opts.clock, opts.lookupTimeout)
    this.pex = new PexBudget(opts.clock, opts.pexPerMinute ?? 120)
    this.hints = new HintBudget(opts.clock, opts.hintLimits)
    this.directory = new TopicDirectory({
      localId: host.localId,
      manager: host.manager,
      rendezvous: host.rendezvous,
      clock: opts.clock,
      addresses: () => host.addresses(),
      connections: () => host.connections(),
      announces: (key) => this.joined.get(key)?.announce === true
    })
    this.visits = new RendezvousVisits({
      points: () => host.points?.() ?? [],
      isConnected: (peer) => host.manager.getPeer(peer)?.connected === true,
      visit: async (point, signal) => { await host.visit?.(point, signal) },
      clock: opts.clock
    }, { visitTtl: this.visitTtl(), minGap: opts.refresh, timeout: opts.lookupTimeout })
    this.firstConnection = new FirstConnection(host.manager, () => host.connections(), opts.clock, opts.lookupTimeout)
    this.first = new FirstContact({
      manager: host.manager,
      clock: opts.clock,
      directory: this.directory,
      visits: this.visits,
      ttl: opts.ttl,
      isJoined: (key) => this.joined.has(key),
      joinedKeys: () => this.joined.keys(),
      topics: () => this.topics(),
      announcesAll: () => this.announcesAll(),
      announced: () => this.announced(),
      everJoined: () => this.everJoined,
      withdraw: () => { void this.visits.check(this.announced(), true) },
      admitHints: (conn, peer, addresses) => this.hints.admit(conn, peer, addresses)
    })
  }

  get counts (): DiscoveryStats {
    return {
      pexDropped: this.pex.dropped,
      hintsDropped: this.hints.dropped,
      unsolicitedAnswers: this.unsolicitedAnswers,
      announcesRefused: this.directory.refused,
      visitsServed: this.directory.visitsServed,
      farewellsCapped: this.first.capped,
      topicFlipsIgnored: this.directory.flipsIgnored,
      rendezvousClosedWithdrawals: this.directory.withdrawnOnClose,
      lookupAnswersRefused: this.directory.answersRefused,
      ...this.visits.counts
    }
  }

  /** The topics we declare (hidden ones left out). */
  topics (): string[] {
    const out: string[] = []
    for (const j of this.joined.values()) if (!j.hidden) out.push(j.key)
    return out
  }

  /** True when every declared topic is announced (none is lookup-only): said in the hello. */
  announcesAll (): boolean {
    let any = false
    for (const j of this.joined.values()) {
      if (j.hidden) continue
      if (!j.announce) return false
      any = true
    }
    return any
  }

  isJoined (topic: string | Uint8Array): boolean { return this.joined.has(discoveryKey(topic)) }

  /**
   * Joins a topic: the application's (`service` undefined: declared, with a quota of `quotaMin`),
   * or one of the node's own services (`JoinService`). Joining again adds announce or lookup.
   */
  async join (topic: string | Uint8Array, opts: { announce?: boolean; lookup?: boolean } = {}, service?: JoinService): Promise<void> {
    const key = discoveryKey(topic)
    const existing = this.joined.get(key)
    const j: Joined = existing ?? { key, announce: false, lookup: false, hidden: service?.hidden ?? false, service: service !== undefined, found: new Set(), lookedUp: false, timer: undefined }
    j.announce ||= opts.announce !== false
    j.lookup ||= opts.lookup !== false
    this.joined.set(key, j)
    this.first.joinedTopic(key)
    this.everJoined = true
    const quota = service === undefined ? this.opts.quotaMin : service.quota
    this.host.manager.setTopicQuota(key, quota > 0 ? { min: quota } : undefined)
    // Alone, with a topic to find: the bootstrap peers are worth a try right now (with our topics in
    // the hello, even a full one will refer us to peers of the topic).
    if (this.host.manager.stats().connections === 0) this.host.manager.resetBackoff()
    this.broadcastTopics()
    // Announced and looked up where it can be: a node still dialling its first peers waits for one.
    // (Synchronous when there is nothing to wait for: the announce and lookup leave in this tick.)
    const waiting = this.firstConnection.wait()
    if (waiting !== undefined) {
      await waiting
      if (this.joined.get(key) !== j) return
    }
    await this.refresh(j)
  }

  /**
   * Leaves a topic. Resolves once it is unannounced: our own rendezvous table forgets us at once,
   * every rendezvous point we are connected to has processed our unannounce — a lookup sent after
   * it on the same (ordered) channel has been answered, or `lookupTimeout` passed — and every
   * rendezvous point that may hold us and that we are no longer connected to (the bootstrap peers we
   * let go, a point that trimmed us or turned us away: see `RendezvousVisits`) heard it by a visit —
   * or was given up on after the visit failed four times (or found nobody listening): then it may
   * hand us out until our registration expires there, and `withdrawalsAbandoned` counts it.
   */
  async leave (topic: string | Uint8Array): Promise<void> {
    const key = discoveryKey(topic)
    if (!this.joined.has(key)) return
    const told = this.leaveKey(key)
    this.broadcastTopics()
    await Promise.all([this.lookups.ask(key, told, true), this.visits.check(this.announced(), true)])
  }

  /** Leaves every topic without waiting for the rendezvous points (the node is closing). */
  leaveAll (): void {
    for (const key of [...this.joined.keys()]) this.leaveKey(key)
    this.closed = true
  }

  /** After `leaveAll`: withdraws our registrations from the rendezvous points we are not connected to (visits, retried as for `leave`). */
  async withdrawAll (): Promise<void> {
    await this.visits.check([], true)
  }

  /**
   * True once the topic was looked up and every peer found for it was attempted — or the manager
   * already holds lowWater connections (like Hyperswarm's flush, which resolves at its peer limit).
   */
  flushed (topic: string | Uint8Array): boolean {
    const j = this.joined.get(discoveryKey(topic))
    if (j === undefined || (j.lookup && !j.lookedUp)) return false
    const connections = this.host.manager.listConnections()
    if (connections.length >= this.opts.lowWater) return true
    const connected = new Set(connections.map((c) => c.peer))
    return [...j.found].every((id) => this.attempted.has(id) || connected.has(id))
  }

  /**
   * A dial to this peer settled, connected or failed: for `flushed` it was attempted (kept only for
   * peers found for a joined topic). A join waiting for a first connection stops waiting once no
   * dial is left in flight.
   */
  dialSettled (peer: PeerId | undefined): void {
    if (peer !== undefined) {
      for (const j of this.joined.values()) if (j.found.has(peer)) { this.attempted.add(peer); break }
    }
    this.firstConnection.dialSettled()
  }

  /** A remote's hello, before its connection is accepted or refused (see `FirstContact.hello`). */
  hello (conn: NodeConnection): void { this.first.hello(conn) }

  /** A visit to our rendezvous service (see `TopicDirectory.visited`); the caller closes it. */
  visited (conn: NodeConnection): void { this.directory.visited(conn, this.visitTtl()) }

  /** A peer we banned: its registrations leave our rendezvous table (`TopicDirectory.banned`). */
  banned (peer: PeerId): void { this.directory.banned(peer) }

  /** A new authenticated connection: learn what it declared (`FirstContact.connected`), then announce and look up over it. */
  connected (conn: NodeConnection): void {
    this.first.connected(conn)
    for (const j of this.joined.values()) void this.round(j, [conn])
    this.firstConnection.connected()
  }

  /** A kept connection closed (`TopicDirectory.disconnected`: what its peer registered over it may go). */
  disconnected (conn: NodeConnection): void { this.directory.disconnected(conn) }

  /** A connection we refuse or trim for lack of room leaves with referrals (`FirstContact.farewell`). */
  farewell (conn: NodeConnection, reason: string): void { this.first.farewell(conn, reason) }

  /** A decoded control message (control-wire.ts checked every field). */
  message (conn: NodeConnection, msg: ControlMessage): void {
    switch (msg.t) {
      case 'topics':
        if (msg.announce !== undefined) conn.remoteAnnounces = msg.announce
        this.first.declared(conn, msg.topics)
        return
      case 'announce':
        this.directory.announce(conn, msg.topic, msg.addresses, msg.ttl)
        return
      case 'unannounce':
        this.directory.unannounce(conn, msg.topic)
        return
      case 'lookup':
        conn.post({ t: 'peers', id: msg.id, topic: msg.topic, peers: this.directory.known(msg.topic, conn.peer, conn.address) })
        return
      case 'peers': {
        const verdict = this.lookups.answer(conn, msg.id, msg.topic)
        if (verdict === 'unsolicited') this.unsolicitedAnswers++
        // An answer to a lookup of ours: as many as we ask, so not counted for its source.
        else if (verdict === 'learn' && this.pex.take(conn)) this.found(msg.topic, msg.peers, conn)
        return
      }
      case 'pex':
        if (this.pex.take(conn, peerSource(conn.address))) this.found(msg.topic, msg.peers, conn)
    }
  }

  private visitTtl (): number { return this.opts.visitTtl ?? 5 * 60_000 }

  /** The topics a visit registers: all joined ones when every one is announced (the hello has one flag for all), else none. */
  private announced (): string[] {
    return this.announcesAll() ? this.topics() : []
  }

  /** Forgets a joined topic and tells the rendezvous points; returns the connections told. */
  private leaveKey (key: string): NodeConnection[] {
    const told: NodeConnection[] = []
    const j = this.joined.get(key)
    if (j === undefined) return told
    this.joined.delete(key)
    // A topic our hellos declared and announced (see `FirstContact.hello`).
    if (!j.hidden && j.announce) this.first.leftTopic(key)
    for (const id of j.found) this.attempted.delete(id)
    if (j.timer !== undefined) this.opts.clock.clearTimeout(j.timer)
    this.host.manager.setTopicQuota(key, undefined)
    this.host.rendezvous?.unannounce(key, this.host.localId)
    for (const conn of this.host.connections()) {
      if (conn.remoteRendezvous && conn.post({ t: 'unannounce', topic: key })) {
        told.push(conn)
        this.visits.withdrawn(conn.peer, key)
      }
    }
    return told
  }

  /**
   * Peers a third party told us about for a topic we look up (see `referral`): hints for the manager,
   * within the intake budgets (`HintBudget`) of `conn` (undefined: our own rendezvous table) and the node.
   */
  private found (key: string, peers: ReadonlyArray<{ id: string; addresses: readonly string[] }>, conn?: NodeConnection): void {
    const j = this.joined.get(key)
    if (j === undefined || !j.lookup) return
    const { inputs, ids } = referral(key, peers, this.host.localId, (peer) => this.host.manager.getPeer(peer)?.topics, this.opts.random, (peer, addresses) => this.hints.admit(conn, peer, addresses))
    for (const id of ids) if (j.found.size < MAX_FOUND_PER_TOPIC) j.found.add(id)
    if (inputs.length === 0) return
    const manager = this.host.manager
    const reachable = newlyRelayed(inputs, (peer) => manager.getPeer(peer))
    manager.addPeers(inputs)
    for (const id of reachable) manager.resetBackoff(id)
  }

  private broadcastTopics (): void {
    const topics = this.topics()
    const announce = this.announcesAll()
    for (const conn of this.host.connections()) conn.post({ t: 'topics', topics, announce })
  }

  /**
   * One round for a topic over `conns`: announce where they serve rendezvous, look up; resolves when
   * every one asked answered or `lookupTimeout` passed.
   */
  private async round (j: Joined, conns: Iterable<NodeConnection>): Promise<void> {
    const asked: NodeConnection[] = []
    for (const conn of conns) {
      if (j.announce && conn.remoteRendezvous) {
        if (conn.post({ t: 'announce', topic: j.key, addresses: this.host.addresses(), ttl: this.opts.ttl })) this.visits.announced(conn.peer, [j.key], this.opts.ttl, () => visitAddress(conn))
      }
      asked.push(conn)
    }
    if (j.lookup) await this.lookups.ask(j.key, asked, false)
  }

  /** A round over every connection, with our own table and the visits, then the next one scheduled. */
  private async refresh (j: Joined): Promise<void> {
    if (j.timer !== undefined) this.opts.clock.clearTimeout(j.timer)
    j.timer = undefined
    if (j.announce) this.host.rendezvous?.announce(j.key, this.host.localId, this.host.addresses(), this.opts.ttl)
    // The bootstrap rendezvous points we let go still hear from us, by visits.
    void this.visits.check(this.announced())
    if (j.lookup) this.found(j.key, this.directory.known(j.key, this.host.localId))
    await this.round(j, this.host.connections())
    if (j.lookup) j.lookedUp = true
    if (this.closed || this.joined.get(j.key) !== j) return
    // Sooner while the topic has nobody, so a node that joined first finds the ones that join later
    // (not for the node's own services: a network without relays would hear a lookup every 2 s).
    const alone = !j.service && !this.host.manager.listConnections().some((c) => this.host.manager.getPeer(c.peer)?.topics.includes(j.key) === true)
    j.timer = this.opts.clock.setTimeout(() => { void this.refresh(j) }, alone ? Math.min(2_000, this.opts.refresh) : this.opts.refresh)
  }
}
