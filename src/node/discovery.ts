import type { PeerId } from '../manager/types.js'
import { normaliseHintAddress, normaliseHints } from './address.js'
import type { NodeConnection } from './connection.js'
import { MAX_TOPICS, type ControlMessage } from './control-wire.js'
import { discoveryKey } from './discovery-key.js'
import type { DiscoveryHost, DiscoveryOptions, DiscoveryStats } from './discovery-types.js'
import { Lookups } from './lookups.js'
import { PexBudget } from './pex-budget.js'
import { referral } from './referrals.js'
import { parseRelayedAddress } from './relay-client.js'
import { RendezvousVisits } from './rendezvous-visits.js'
import { parseTcpAddress } from './tcp-address.js'
import { TopicDirectory } from './topic-directory.js'

// Their former home: importers of discovery.js keep working.
export { discoveryKey } from './discovery-key.js'
export type { DiscoveryHost, DiscoveryOptions, DiscoveryStats } from './discovery-types.js'

/**
 * How the node joins a topic for a service of its own (relay-topic.ts) rather than the
 * application's: `quota` is the manager's topic quota `min` (0: none); `hidden` leaves the topic out
 * of what we declare, so a node that only looks for a service is never handed out as providing it.
 */
export interface JoinService { quota: number; hidden: boolean }

/**
 * Topics a connection we refuse or trim is referred peers for, at most (`farewell`): its hello may
 * declare 64, and each would cost a lookup and a message of up to 32 peers.
 */
export const MAX_FAREWELL_TOPICS = 8

/** Peers remembered as found per joined topic (for `flushed`). */
const MAX_FOUND_PER_TOPIC = 1024

interface Joined {
  key: string
  announce: boolean
  lookup: boolean
  /** Left out of the topics we declare (hello, 'topics', visits): a topic the node looks up for itself (see `JoinService`). */
  hidden: boolean
  /** One of the node's own services (`JoinService`): refreshed at the normal pace only, never sooner. */
  service: boolean
  found: Set<PeerId>
  lookedUp: boolean
  timer: unknown
}

/**
 * Topics: join/leave with announce and lookup, without any central service. This part holds the
 * membership (what we joined, what we found, what we tried); `TopicDirectory` answers others,
 * `Lookups` matches answers to questions, `RendezvousVisits` keeps our registrations at the
 * bootstrap peers we let go.
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
  /** Topics each connection was referred peers for when it declared them: once per topic a connection (a flood of 'topics' gets no referral each). */
  private readonly referred = new WeakMap<NodeConnection, Set<string>>()
  private readonly attempted = new Set<PeerId>()
  /** Joins waiting for a first connection (see `reachable`). */
  private readonly reachWaiters = new Set<() => void>()
  private closed = false
  /** A topic was joined once: what a hello said may be out of date (see `connected`). */
  private everJoined = false
  private unsolicitedAnswers = 0
  private farewellsCapped = 0
  private readonly lookups: Lookups
  private readonly pex: PexBudget<NodeConnection>
  private readonly directory: TopicDirectory
  private readonly visits: RendezvousVisits

  constructor (private readonly host: DiscoveryHost, private readonly opts: DiscoveryOptions) {
    this.lookups = new Lookups(opts.clock, opts.lookupTimeout)
    this.pex = new PexBudget(opts.clock, opts.pexPerMinute ?? 120)
    this.directory = new TopicDirectory({
      localId: host.localId,
      manager: host.manager,
      rendezvous: host.rendezvous,
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
  }

  get counts (): DiscoveryStats {
    return {
      pexDropped: this.pex.dropped,
      unsolicitedAnswers: this.unsolicitedAnswers,
      announcesRefused: this.directory.refused,
      visitsServed: this.directory.visitsServed,
      farewellsCapped: this.farewellsCapped,
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
    this.everJoined = true
    const quota = service === undefined ? this.opts.quotaMin : service.quota
    this.host.manager.setTopicQuota(key, quota > 0 ? { min: quota } : undefined)
    // Alone, with a topic to find: the bootstrap peers are worth a try right now (with our topics in
    // the hello, even a full one will refer us to peers of the topic).
    if (this.host.manager.stats().connections === 0) this.host.manager.resetBackoff()
    this.broadcastTopics()
    // Announced and looked up where it can be: a node still dialling its first peers waits for one.
    // (Synchronous when there is nothing to wait for: the announce and lookup leave in this tick.)
    const waiting = this.reachable()
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
    if (this.reachWaiters.size > 0) {
      // The manager still counts this dial until its promise settles: look once it has.
      this.opts.clock.setTimeout(() => {
        if (this.host.manager.stats().dialing === 0) for (const w of [...this.reachWaiters]) w()
      }, 0)
    }
  }

  /**
   * A remote's hello, before its connection is accepted or refused (see `TopicDirectory.hello`). A
   * rendezvous point that refuses us registers us from our hello (`TopicDirectory.turnedAway`): the
   * visits remember it as holding what our hello announced, so a leave withdraws there too.
   */
  hello (conn: NodeConnection): void {
    this.directory.hello(conn)
    if (conn.remoteRendezvous) this.visits.announced(conn.peer, this.announced(), this.opts.ttl, () => visitAddress(conn))
  }

  /** A visit to our rendezvous service (see `TopicDirectory.visited`); the caller closes it. */
  visited (conn: NodeConnection): void { this.directory.visited(conn, this.visitTtl()) }

  /** A peer we banned: its registrations leave our rendezvous table (`TopicDirectory.banned`). */
  banned (peer: PeerId): void { this.directory.banned(peer) }

  /** A new authenticated connection: learn its listen addresses, then announce, look up and exchange. */
  connected (conn: NodeConnection): void {
    // The hello told us where it listens and which topics it joined: no extra round trip for those.
    this.onTopics(conn, conn.remoteTopics)
    // Our hello carried our topics as they were when the handshake began; say them again, since they
    // may have changed meanwhile — even to none: a connection accepted just after a leave carries the
    // left topic in its hello (regression: the remote kept handing us out for it). A node that never
    // joined a topic has nothing to correct.
    const mine = this.topics()
    if (mine.length > 0 || this.everJoined) conn.post({ t: 'topics', topics: mine, announce: this.announcesAll() })
    for (const j of this.joined.values()) void this.round(j, [conn])
    for (const w of [...this.reachWaiters]) w()
  }

  /**
   * A connection we refuse or trim for lack of room still leaves with referrals: the peers we know
   * for its topics, then ours, so a newcomer turned away by a full bootstrap node can go elsewhere;
   * for `MAX_FAREWELL_TOPICS` topics at most (`farewellsCapped` counts the farewells cut short).
   */
  farewell (conn: NodeConnection, reason: string): void {
    if (reason !== 'over-limit' && reason !== 'trimmed') return
    if (reason === 'over-limit') this.directory.turnedAway(conn, this.opts.ttl)
    // The remote's topics (from its hello) first, then ours: a rendezvous point that joined none
    // still refers the peers registered with it.
    let referred = 0
    for (const key of new Set([...conn.remoteTopics, ...this.joined.keys()])) {
      if (referred === MAX_FAREWELL_TOPICS) { this.farewellsCapped++; return }
      const peers = this.directory.known(key, conn.peer)
      if (peers.length > 0 && conn.post({ t: 'pex', topic: key, peers })) referred++
    }
  }

  /** A decoded control message (control-wire.ts checked every field). */
  message (conn: NodeConnection, msg: ControlMessage): void {
    switch (msg.t) {
      case 'topics':
        if (msg.announce !== undefined) conn.remoteAnnounces = msg.announce
        this.onTopics(conn, msg.topics)
        return
      case 'announce':
        this.directory.announce(conn, msg.topic, msg.addresses, msg.ttl)
        return
      case 'unannounce':
        this.directory.unannounce(conn, msg.topic)
        return
      case 'lookup':
        conn.post({ t: 'peers', id: msg.id, topic: msg.topic, peers: this.directory.known(msg.topic, conn.peer) })
        return
      case 'peers': {
        const verdict = this.lookups.answer(conn, msg.id, msg.topic)
        if (verdict === 'unsolicited') this.unsolicitedAnswers++
        else if (verdict === 'learn' && this.pex.take(conn)) this.found(msg.topic, msg.peers)
        return
      }
      case 'pex':
        if (this.pex.take(conn)) this.found(msg.topic, msg.peers)
    }
  }

  private visitTtl (): number { return this.opts.visitTtl ?? 5 * 60_000 }

  /** The topics a visit registers: all joined ones when every one is announced (the hello has one flag for all), else none. */
  private announced (): string[] {
    return this.announcesAll() ? this.topics() : []
  }

  /**
   * Whether a join must wait before it can announce and look up: undefined when the node holds a
   * connection or dials nobody; else a promise that resolves at its first connection, when its dials
   * are over, or after `lookupTimeout`.
   */
  private reachable (): Promise<void> | undefined {
    if (!isEmpty(this.host.connections()) || this.host.manager.stats().dialing === 0) return undefined
    return new Promise<void>((resolve) => {
      const done = (): void => { this.opts.clock.clearTimeout(timer); this.reachWaiters.delete(done); resolve() }
      const timer = this.opts.clock.setTimeout(done, this.opts.lookupTimeout)
      this.reachWaiters.add(done)
    })
  }

  /** Forgets a joined topic and tells the rendezvous points; returns the connections told. */
  private leaveKey (key: string): NodeConnection[] {
    const told: NodeConnection[] = []
    const j = this.joined.get(key)
    if (j === undefined) return told
    this.joined.delete(key)
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

  private onTopics (conn: NodeConnection, topics: readonly string[]): void {
    const declared = topics.slice(0, MAX_TOPICS)
    // Where it says it listens is its own claim, not proven until we dial it: a hint.
    const addresses = normaliseHints(conn.remoteListen)
    // A peer that reconnects usually says what we already know: then there is nothing to tell the manager.
    const known = this.host.manager.getPeer(conn.peer)
    if (known === undefined || !sameSet(known.topics, declared) || !addresses.every((a) => known.addresses.includes(a))) {
      // Its topics are its own word about itself and replace what it said before (a hint's topics
      // add up: fresh topics in every 'topics' message grew its record without bound).
      this.host.manager.addPeers([{ id: conn.peer, topics: declared }, ...(addresses.length > 0 ? [{ id: conn.peer, addresses, hint: true }] : [])])
    }
    const referred = this.referred.get(conn) ?? new Set<string>()
    for (const key of declared) {
      if (!this.joined.has(key) || referred.has(key)) continue
      const peers = this.directory.known(key, conn.peer)
      if (peers.length === 0) continue
      conn.post({ t: 'pex', topic: key, peers })
      referred.add(key)
      this.referred.set(conn, referred)
    }
  }

  /** Peers a third party told us about for a topic we look up (see `referral`): hints for the manager. */
  private found (key: string, peers: ReadonlyArray<{ id: string; addresses: readonly string[] }>): void {
    const j = this.joined.get(key)
    if (j === undefined || !j.lookup) return
    const { inputs, ids } = referral(key, peers, this.host.localId, (peer) => this.host.manager.getPeer(peer)?.topics, this.opts.random)
    for (const id of ids) if (j.found.size < MAX_FOUND_PER_TOPIC) j.found.add(id)
    if (inputs.length === 0) return
    // A peer we could not reach that now has a relayed address found itself private and holds a
    // reservation: worth a dial now rather than after the backoff its direct address earned (a dial
    // to a NATed address hangs until the dial timeout). Once per peer: the record keeps the address.
    const manager = this.host.manager
    const reachable: string[] = []
    for (const p of inputs) {
      const known = p.id === undefined ? undefined : manager.getPeer(p.id)
      if (known !== undefined && !known.connected && !known.addresses.some(isRelayed) && (p.addresses ?? []).some(isRelayed)) reachable.push(known.id!)
    }
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

/**
 * Where to visit the peer of `conn` once it is gone, to withdraw: the address we dialled, else an
 * address its hello says it listens at on the host the connection came from; never a relayed one,
 * never another host (a peer's word would have our leave dial wherever it named).
 */
export function visitAddress (conn: Pick<NodeConnection, 'direction' | 'address' | 'remoteListen'>): string | undefined {
  if (isRelayed(conn.address)) return undefined
  if (conn.direction === 'outbound') return conn.address
  const from = normaliseHintAddress(conn.address)
  if (from === undefined) return undefined
  const host = parseTcpAddress(from).host
  return normaliseHints(conn.remoteListen).find((a) => !isRelayed(a) && parseTcpAddress(a).host === host)
}

function isEmpty (it: Iterable<unknown>): boolean {
  for (const _ of it) return false
  return true
}

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (const x of b) if (!a.includes(x)) return false
  return true
}

function isRelayed (address: string): boolean {
  return parseRelayedAddress(address) !== undefined
}
