import { createHash } from 'node:crypto'
import type { Clock, ConnectionManager, PeerId } from '../manager/types.js'
import { normaliseHints } from './address.js'
import type { NodeConnection } from './connection.js'
import { MAX_PEERS_PER_MESSAGE, MAX_TOPICS, type ControlMessage } from './control-wire.js'
import type { RendezvousTable } from './rendezvous.js'

/** The discovery key of a topic: on the wire, only this hash is used. */
export function discoveryKey (topic: string | Uint8Array): string {
  const bytes = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : Buffer.from(topic)
  return createHash('sha256').update('peerwarden/topic/1\0').update(bytes).digest('hex')
}

export interface DiscoveryHost {
  readonly localId: PeerId
  readonly manager: ConnectionManager
  /** Our own rendezvous service, when enabled. */
  readonly rendezvous: RendezvousTable | undefined
  addresses(): string[]
  connections(): Iterable<NodeConnection>
}

export interface DiscoveryOptions {
  /** How long an announcement lives at a rendezvous point. Default 60_000. */
  ttl: number
  /** Re-announce and look up again this often. Default 15_000 (sooner while the topic has no peer). */
  refresh: number
  /** How long a lookup waits for answers. Default 2_000. */
  lookupTimeout: number
  /** Quota given to the manager for each joined topic. Default min(3, lowWater). */
  quotaMin: number
  /** The manager's lowWater, for `flushed`. */
  lowWater: number
  /** Shuffles what a lookup found (the manager's injected `random`, else Math.random). */
  random: () => number
  /** Lookup timeouts and refreshes run on it (the manager's injected clock, else the system clock). */
  clock: Clock
  /** Peer-exchange messages (referrals and lookup answers) taken from one connection per minute; the rest are dropped. Default 120. */
  pexPerMinute?: number
}

/** What discovery counted of what peers sent it. */
export interface DiscoveryStats {
  /** Referrals and answers dropped: over a connection's `pexPerMinute`. */
  pexDropped: number
  /** Lookup answers nobody asked for (not learnt). */
  unsolicitedAnswers: number
  /** Announcements the rendezvous table refused for a budget. */
  announcesRefused: number
}

/** Peers remembered as found per joined topic (for `flushed`). */
const MAX_FOUND_PER_TOPIC = 1024

interface Joined {
  key: string
  announce: boolean
  lookup: boolean
  found: Set<PeerId>
  lookedUp: boolean
  timer: unknown
}

/**
 * Topics: join/leave with announce and lookup, without any central service.
 *
 * Rules:
 * - Announce registers (topic → our id and addresses) with a TTL at every connected peer that serves
 *   rendezvous (and at ourselves), and refreshes it; lookup asks every connected peer; both happen
 *   again whenever a new connection opens, so nodes that join at the same moment still find each other.
 * - Peer exchange: connected peers tell each other their topics; for each shared topic each side sends
 *   the peers it knows for it, so the network no longer depends on the bootstrap nodes once formed.
 * - Every peer found for a topic goes to the manager with that topic (the manager's quota for a
 *   joined topic makes it dial topic peers first and keeps them when trimming).
 */
export class Discovery {
  private readonly joined = new Map<string, Joined>()
  private readonly attempted = new Set<PeerId>()
  /** Lookups waiting for answers; a `barrier` one only waits (what it finds is not learnt). */
  private readonly lookups = new Map<number, { topic: string; waiting: Set<string>; done: () => void; barrier?: boolean }>()
  private nextLookup = 0
  private closed = false
  /** Per connection: the start of its current minute and the peer-exchange messages taken in it. */
  private readonly pexWindows = new WeakMap<NodeConnection, { at: number; n: number }>()
  readonly counts: DiscoveryStats = { pexDropped: 0, unsolicitedAnswers: 0, announcesRefused: 0 }

  constructor (private readonly host: DiscoveryHost, private readonly opts: DiscoveryOptions) {}

  /** Joins waiting for a first connection (see `reachable`). */
  private readonly reachWaiters = new Set<() => void>()

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

  topics (): string[] { return [...this.joined.keys()] }

  /** True when every joined topic is announced (none is lookup-only): said in the hello. */
  announcesAll (): boolean {
    if (this.joined.size === 0) return false
    for (const j of this.joined.values()) if (!j.announce) return false
    return true
  }

  private lowWater (): number { return this.opts.lowWater }

  isJoined (topic: string | Uint8Array): boolean { return this.joined.has(discoveryKey(topic)) }

  async join (topic: string | Uint8Array, opts: { announce?: boolean; lookup?: boolean } = {}): Promise<void> {
    const key = discoveryKey(topic)
    const existing = this.joined.get(key)
    const j: Joined = existing ?? { key, announce: false, lookup: false, found: new Set(), lookedUp: false, timer: undefined }
    j.announce ||= opts.announce !== false
    j.lookup ||= opts.lookup !== false
    this.joined.set(key, j)
    this.host.manager.setTopicQuota(key, { min: this.opts.quotaMin })
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
   * Leaves a topic. Resolves once it is unannounced: our own rendezvous table forgets us at once, and
   * every rendezvous point we are connected to has processed our unannounce — a lookup sent after it
   * on the same (ordered) channel has been answered, or `lookupTimeout` passed.
   */
  async leave (topic: string | Uint8Array): Promise<void> {
    const key = discoveryKey(topic)
    if (!this.joined.has(key)) return
    const told = this.leaveKey(key)
    this.broadcastTopics()
    await this.barrier(key, told)
  }

  /** Leaves every topic without waiting for the rendezvous points (the node is closing). */
  leaveAll (): void {
    for (const key of [...this.joined.keys()]) this.leaveKey(key)
    this.closed = true
  }

  /**
   * True once the topic was looked up and every peer found for it was attempted — or the manager
   * already holds lowWater connections (like Hyperswarm's flush, which resolves at its peer limit).
   */
  flushed (topic: string | Uint8Array): boolean {
    const j = this.joined.get(discoveryKey(topic))
    if (j === undefined || (j.lookup && !j.lookedUp)) return false
    const connections = this.host.manager.listConnections()
    // Like Hyperswarm's flush, a node that already holds lowWater connections has done what it will.
    if (connections.length >= this.lowWater()) return true
    const connected = new Set(connections.map((c) => c.peer))
    return [...j.found].every((id) => this.attempted.has(id) || connected.has(id))
  }

  /** A new authenticated connection: learn its listen addresses, then announce, look up and exchange. */
  connected (conn: NodeConnection): void {
    // The hello told us where it listens and which topics it joined: no extra round trip for those.
    this.onTopics(conn, conn.remoteTopics)
    // Our hello carried our topics as they were; say them again only if they changed since.
    const mine = this.topics()
    if (mine.length > 0) conn.post({ t: 'topics', topics: mine, announce: this.announcesAll() })
    for (const j of this.joined.values()) {
      if (j.announce && conn.remoteRendezvous) conn.post({ t: 'announce', topic: j.key, addresses: this.host.addresses(), ttl: this.opts.ttl })
      if (j.lookup) void this.lookup(j.key, [conn], false)
    }
    for (const w of [...this.reachWaiters]) w()
  }

  /**
   * A connection we refuse or trim for lack of room still leaves with referrals: the peers we know
   * for each of our topics, so a newcomer turned away by a full bootstrap node can go elsewhere.
   */
  farewell (conn: NodeConnection, reason: string): void {
    if (reason !== 'over-limit' && reason !== 'trimmed') return
    // A newcomer we turn away for lack of room is exactly the peer that has room: as a rendezvous
    // point we register it for the topics it announces (what it would have done itself had we kept
    // it), so that the next lookups — and the referrals below, to other newcomers — find it.
    const listen = normaliseHints(conn.remoteListen)
    if (reason === 'over-limit' && conn.remoteAnnounces && listen.length > 0 && this.host.rendezvous !== undefined) {
      for (const key of conn.remoteTopics) this.register(key, conn.peer, listen, this.opts.ttl)
    }
    // The remote's topics (from its hello) and ours: a rendezvous point that joined none still refers
    // the peers registered with it.
    for (const key of new Set([...conn.remoteTopics, ...this.joined.keys()])) {
      const peers = this.known(key, conn.peer)
      if (peers.length > 0) conn.post({ t: 'pex', topic: key, peers })
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
        if (this.host.rendezvous !== undefined) {
          const addresses = normaliseHints(msg.addresses)
          this.register(msg.topic, conn.peer, addresses.length > 0 ? addresses : normaliseHints(conn.remoteListen), msg.ttl)
        }
        return
      case 'unannounce':
        this.host.rendezvous?.unannounce(msg.topic, conn.peer)
        return
      case 'lookup':
        conn.post({ t: 'peers', id: msg.id, topic: msg.topic, peers: this.known(msg.topic, conn.peer) })
        return
      case 'peers': {
        // Only answers to lookups we sent on this connection, for the topic we asked about, are learnt.
        const pending = this.lookups.get(msg.id)
        if (pending === undefined || pending.topic !== msg.topic || !pending.waiting.has(conn.id)) {
          this.counts.unsolicitedAnswers++
          return
        }
        if (pending.barrier !== true && this.withinPexBudget(conn)) this.found(msg.topic, msg.peers)
        pending.waiting.delete(conn.id)
        if (pending.waiting.size === 0) pending.done()
        return
      }
      case 'pex':
        if (this.withinPexBudget(conn)) this.found(msg.topic, msg.peers)
    }
  }

  /** A registration at our rendezvous table, counted when a budget refuses it. */
  private register (key: string, peer: PeerId, addresses: string[], ttl: number): void {
    if (addresses.length === 0) return
    if (this.host.rendezvous?.announce(key, peer, addresses, ttl) === false) this.counts.announcesRefused++
  }

  /** Whether `conn` may still teach us peers this minute (`pexPerMinute`). */
  private withinPexBudget (conn: NodeConnection): boolean {
    const now = this.opts.clock.now()
    let w = this.pexWindows.get(conn)
    if (w === undefined || now - w.at >= 60_000) {
      w = { at: now, n: 0 }
      this.pexWindows.set(conn, w)
    }
    if (w.n >= (this.opts.pexPerMinute ?? 120)) {
      this.counts.pexDropped++
      return false
    }
    w.n++
    return true
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
    for (const conn of this.host.connections()) if (conn.remoteRendezvous && conn.post({ t: 'unannounce', topic: key })) told.push(conn)
    return told
  }

  /** Waits until each of `conns` answered a lookup sent now (so it processed what we sent before), or lookupTimeout. */
  private async barrier (key: string, conns: readonly NodeConnection[]): Promise<void> {
    await this.lookup(key, conns, true)
  }

  /**
   * Asks each of `conns` for the peers of `key`; resolves once every one asked has answered or
   * `lookupTimeout` passed. Only answers to a lookup registered here are accepted; a `barrier`
   * lookup only waits (what it finds is not learnt).
   */
  private async lookup (key: string, conns: Iterable<NodeConnection>, barrier: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const id = this.nextLookup++
      const waiting = new Set<string>()
      const done = (): void => { this.opts.clock.clearTimeout(timer); this.lookups.delete(id); resolve() }
      const timer = this.opts.clock.setTimeout(done, this.opts.lookupTimeout)
      this.lookups.set(id, { topic: key, waiting, done, ...(barrier ? { barrier: true } : {}) })
      for (const conn of conns) if (conn.post({ t: 'lookup', id, topic: key })) waiting.add(conn.id)
      if (waiting.size === 0) done()
    })
  }

  private onTopics (conn: NodeConnection, topics: readonly string[]): void {
    const declared = topics.slice(0, MAX_TOPICS)
    // Where it says it listens is its own claim, not proven until we dial it: a hint.
    const addresses = normaliseHints(conn.remoteListen)
    // A peer that reconnects usually says what we already know: then there is nothing to tell the manager.
    const known = this.host.manager.getPeer(conn.peer)
    if (known === undefined || !sameSet(known.topics, declared) || !addresses.every((a) => known.addresses.includes(a))) {
      this.host.manager.addPeers([{ id: conn.peer, topics: declared, ...(addresses.length > 0 ? { addresses, hint: true } : {}) }])
    }
    for (const key of declared) {
      if (!this.joined.has(key)) continue
      const peers = this.known(key, conn.peer)
      if (peers.length > 0) conn.post({ t: 'pex', topic: key, peers })
    }
  }

  /**
   * The peers we know for a topic, live ones only: rendezvous registrations (which expire and are
   * withdrawn on leave and close), the peers connected to us that declared it and announce (not
   * lookup-only ones), and ourselves when we announce it.
   */
  private known (key: string, except: PeerId): Array<{ id: string; addresses: string[] }> {
    const out = new Map<string, string[]>()
    if (this.joined.get(key)?.announce === true) out.set(this.host.localId, this.host.addresses())
    for (const r of this.host.rendezvous?.lookup(key, MAX_PEERS_PER_MESSAGE) ?? []) out.set(r.id, r.addresses)
    for (const c of this.host.connections()) {
      if (out.size >= MAX_PEERS_PER_MESSAGE) break
      if (!c.remoteAnnounces) continue // a lookup-only peer is not handed out on its behalf
      const p = this.host.manager.getPeer(c.peer)
      if (p?.id !== undefined && p.topics.includes(key) && p.addresses.length > 0 && !out.has(p.id)) out.set(p.id, p.addresses)
    }
    out.delete(except)
    return [...out].slice(0, MAX_PEERS_PER_MESSAGE).map(([id, addresses]) => ({ id, addresses }))
  }

  /**
   * Peers a third party told us about for a topic we look up: hints for the manager (their addresses
   * never displace what a handshake proved), normalised to one spelling per host and port.
   */
  private found (key: string, peers: ReadonlyArray<{ id: string; addresses: readonly string[] }>): void {
    const j = this.joined.get(key)
    if (j === undefined || !j.lookup) return
    const inputs = []
    for (const p of peers.slice(0, MAX_PEERS_PER_MESSAGE)) {
      if (p.id === this.host.localId) continue
      const addresses = normaliseHints(p.addresses)
      if (addresses.length === 0) continue
      if (j.found.size < MAX_FOUND_PER_TOPIC) j.found.add(p.id)
      const topics = new Set(this.host.manager.getPeer(p.id)?.topics ?? [])
      topics.add(key)
      inputs.push({ id: p.id, addresses, topics: [...topics], hint: true })
    }
    // Every node asks the same rendezvous points and gets the same list in the same order; handed to
    // the manager as is, every newcomer would dial the same first few peers (equal candidates are
    // dialled in the order they were learnt) and be refused there. Each node shuffles its own copy.
    for (let i = inputs.length - 1; i > 0; i--) {
      const k = Math.floor(this.opts.random() * (i + 1))
      const t: typeof inputs[number] = inputs[i]!
      inputs[i] = inputs[k]!
      inputs[k] = t
    }
    if (inputs.length > 0) this.host.manager.addPeers(inputs)
  }

  private broadcastTopics (): void {
    const topics = this.topics()
    const announce = this.announcesAll()
    for (const conn of this.host.connections()) conn.post({ t: 'topics', topics, announce })
  }

  /** One announce + lookup round; resolves when every asked peer answered or the timeout passed. */
  private async refresh (j: Joined): Promise<void> {
    if (j.timer !== undefined) this.opts.clock.clearTimeout(j.timer)
    j.timer = undefined
    if (j.announce) {
      this.host.rendezvous?.announce(j.key, this.host.localId, this.host.addresses(), this.opts.ttl)
      for (const conn of this.host.connections()) {
        if (conn.remoteRendezvous) conn.post({ t: 'announce', topic: j.key, addresses: this.host.addresses(), ttl: this.opts.ttl })
      }
    }
    if (j.lookup) {
      this.found(j.key, this.known(j.key, this.host.localId))
      await this.lookup(j.key, this.host.connections(), false)
      j.lookedUp = true
    }
    if (this.closed || this.joined.get(j.key) !== j) return
    // Sooner while the topic has nobody, so a node that joined first finds the ones that join later.
    const alone = !this.host.manager.listConnections().some((c) => this.host.manager.getPeer(c.peer)?.topics.includes(j.key) === true)
    j.timer = this.opts.clock.setTimeout(() => { void this.refresh(j) }, alone ? Math.min(2_000, this.opts.refresh) : this.opts.refresh)
  }

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

