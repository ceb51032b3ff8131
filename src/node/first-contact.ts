// First contact: the node's with the network (`FirstConnection`: a join waits for a first
// connection) and each peer's with us (`FirstContact`: hellos, declared topics, farewells), split out
// of discovery.ts, which wires them.
import type { Clock, ConnectionManager } from '../manager/types.js'
import { normaliseHintAddress, normaliseHints } from './address.js'
import type { NodeConnection } from './connection.js'
import { MAX_TOPICS } from './control-wire.js'
import { isRelayedAddress } from './referrals.js'
import type { RendezvousVisits } from './rendezvous-visits.js'
import { parseTcpAddress } from './tcp-address.js'
import type { TopicDirectory } from './topic-directory.js'

/**
 * Topics a connection we refuse or trim is referred peers for, at most (`farewell`): its hello may
 * declare 64, and each would cost a lookup and a message of up to 32 peers.
 */
export const MAX_FAREWELL_TOPICS = 8

/**
 * How long a topic we left may still be in a hello of ours: a hello leaves when its handshake begins
 * and the handshake may take the transport's timeout (10 s by default); counted generously, since a
 * topic counted too long costs at most one visit.
 */
export const LEFT_HELLO_WINDOW = 30_000

/** What first contact sees of discovery: the manager, the directory, the visits and our membership. */
export interface FirstContactHost {
  readonly manager: ConnectionManager
  readonly clock: Clock
  readonly directory: TopicDirectory
  readonly visits: RendezvousVisits
  /** How long an announcement lives at a rendezvous point (`DiscoveryOptions.ttl`). */
  readonly ttl: number
  /** Whether we joined `key` (declared or hidden). */
  isJoined(key: string): boolean
  /** Every topic we joined, declared or hidden. */
  joinedKeys(): Iterable<string>
  /** The topics we declare (hidden ones left out). */
  topics(): string[]
  /** True when every declared topic is announced (said in the hello and 'topics'). */
  announcesAll(): boolean
  /** The topics a visit registers (see `Discovery`). */
  announced(): string[]
  /** A topic was joined once: what a hello said may be out of date. */
  everJoined(): boolean
  /** Withdraws what the rendezvous points we are not connected to may hold and we no longer announce (an urgent visits check). */
  withdraw(): void
  /** The addresses of `peer` that `conn` may teach us, within the hint intake budgets (`HintBudget.admit`). */
  admitHints(conn: NodeConnection, peer: string, addresses: readonly string[]): string[]
}

/**
 * A peer's first contact with us, and ours with it: what happens between two peers when they meet,
 * before and besides any topic round — the hellos, our topics said again, what a peer declares, and
 * the referrals a connection leaves with.
 *
 * Rules:
 * - A peer's declared topics (hello, then 'topics') are its own word about itself and replace what
 *   it said before; its listen addresses are hints, within the hint intake budgets like a referral's
 *   (taken once per connection: identities are free, so hellos naming ports of a host that is not
 *   theirs taught a node any number of them). For each topic it declares that we joined it is
 *   referred the peers we know, once per topic a connection (a flood of 'topics' gets no referral each).
 * - A connection we refuse or trim for lack of room leaves with referrals for its topics, then ours,
 *   `MAX_FAREWELL_TOPICS` topics at most (`capped` counts the farewells cut short).
 * - A rendezvous point that sees our hello may register us from it: the visits remember it, at an
 *   address `visitAddress` allows, so a leave withdraws there too.
 */
export class FirstContact {
  /** Farewells whose referrals stopped at `MAX_FAREWELL_TOPICS` topics. */
  capped = 0
  /** Topics each connection was referred peers for when it declared them. */
  private readonly referred = new WeakMap<NodeConnection, Set<string>>()
  /** The listen addresses of each connection's hello that the hint budgets let in (taken once). */
  private readonly listens = new WeakMap<NodeConnection, string[]>()
  /** Topics we left within `LEFT_HELLO_WINDOW`: when, by topic (oldest first). */
  private readonly left = new Map<string, number>()

  constructor (private readonly host: FirstContactHost) {}

  /**
   * A remote's hello, before its connection is accepted or refused (see `TopicDirectory.hello`). A
   * rendezvous point that refuses us registers us from our hello (`TopicDirectory.turnedAway`): the
   * visits remember it as holding what our hello announced, so a leave withdraws there too. Our hello
   * left when the handshake began and may carry a topic left since: a point we dialled that turns us
   * away then holds that topic, and is visited to withdraw it once it refused us (regression: it
   * handed us out until the registration expired).
   */
  hello (conn: NodeConnection): void {
    this.host.directory.hello(conn)
    if (!conn.remoteRendezvous) return
    const left = this.recentlyLeft()
    this.host.visits.announced(conn.peer, [...this.host.announced(), ...left], this.host.ttl, () => visitAddress(conn))
    if (left.length > 0 && conn.direction === 'outbound') conn.verdict().then(() => {}, () => { this.host.withdraw() })
  }

  /** We left `key` (see `hello`). */
  leftTopic (key: string): void {
    this.left.delete(key)
    this.left.set(key, this.host.clock.now())
  }

  /** We joined `key` again: a hello carrying it is no longer out of date. */
  joinedTopic (key: string): void {
    this.left.delete(key)
  }

  /** The topics left within `LEFT_HELLO_WINDOW` (older ones forgotten). */
  private recentlyLeft (): string[] {
    const since = this.host.clock.now() - LEFT_HELLO_WINDOW
    for (const [key, at] of this.left) {
      if (at > since) break
      this.left.delete(key)
    }
    return [...this.left.keys()]
  }

  /** A new authenticated connection: learn what its hello declared, and say our topics again. */
  connected (conn: NodeConnection): void {
    // The hello told us where it listens and which topics it joined: no extra round trip for those.
    this.declared(conn, conn.remoteTopics)
    // Our hello carried our topics as they were when the handshake began; say them again, since they
    // may have changed meanwhile — even to none: a connection accepted just after a leave carries the
    // left topic in its hello (regression: the remote kept handing us out for it). A node that never
    // joined a topic has nothing to correct.
    const mine = this.host.topics()
    if (mine.length > 0 || this.host.everJoined()) conn.post({ t: 'topics', topics: mine, announce: this.host.announcesAll() })
  }

  /** The topics a peer declares (its hello, or a 'topics' message): the manager learns them, the peer is referred peers of ours. */
  declared (conn: NodeConnection, topics: readonly string[]): void {
    const declared = topics.slice(0, MAX_TOPICS)
    // Where it says it listens is its own claim, not proven until we dial it: a hint.
    let addresses = this.listens.get(conn)
    if (addresses === undefined) this.listens.set(conn, addresses = this.host.admitHints(conn, conn.peer, normaliseHints(conn.remoteListen)))
    // A peer that reconnects usually says what we already know: then there is nothing to tell the manager.
    const manager = this.host.manager
    const known = manager.getPeer(conn.peer)
    if (known === undefined || !sameSet(known.topics, declared) || !addresses.every((a) => known.addresses.includes(a))) {
      // Its topics are its own word about itself and replace what it said before (a hint's topics
      // add up: fresh topics in every 'topics' message grew its record without bound).
      manager.addPeers([{ id: conn.peer, topics: declared }, ...(addresses.length > 0 ? [{ id: conn.peer, addresses, hint: true }] : [])])
    }
    const referred = this.referred.get(conn) ?? new Set<string>()
    for (const key of declared) {
      if (!this.host.isJoined(key) || referred.has(key)) continue
      const peers = this.host.directory.known(key, conn.peer, conn.address)
      if (peers.length === 0) continue
      conn.post({ t: 'pex', topic: key, peers })
      referred.add(key)
      this.referred.set(conn, referred)
    }
  }

  /**
   * A connection we refuse or trim for lack of room still leaves with referrals: the peers we know
   * for its topics, then ours, so a newcomer turned away by a full bootstrap node can go elsewhere.
   */
  farewell (conn: NodeConnection, reason: string): void {
    if (reason !== 'over-limit' && reason !== 'trimmed') return
    if (reason === 'over-limit') this.host.directory.turnedAway(conn, this.host.ttl)
    // The remote's topics (from its hello) first, then ours: a rendezvous point that joined none
    // still refers the peers registered with it.
    let referred = 0
    for (const key of new Set([...conn.remoteTopics, ...this.host.joinedKeys()])) {
      if (referred === MAX_FAREWELL_TOPICS) { this.capped++; return }
      const peers = this.host.directory.known(key, conn.peer, conn.address)
      if (peers.length > 0 && conn.post({ t: 'pex', topic: key, peers })) referred++
    }
  }
}

/**
 * The node's first contact with the network: a join made while the node holds no connection and
 * dials its first peers waits for one before it announces and looks up.
 *
 * Rules:
 * - `wait()` is undefined (nothing to wait for) when the node holds a connection or dials nobody;
 *   else a promise that resolves at the first connection, once no dial is left in flight, or after
 *   `timeout`, whichever comes first.
 */
export class FirstConnection {
  private readonly waiters = new Set<() => void>()

  constructor (
    private readonly manager: ConnectionManager,
    private readonly connections: () => Iterable<NodeConnection>,
    private readonly clock: Clock,
    private readonly timeout: number
  ) {}

  wait (): Promise<void> | undefined {
    if (!isEmpty(this.connections()) || this.manager.stats().dialing === 0) return undefined
    return new Promise<void>((resolve) => {
      const done = (): void => { this.clock.clearTimeout(timer); this.waiters.delete(done); resolve() }
      const timer = this.clock.setTimeout(done, this.timeout)
      this.waiters.add(done)
    })
  }

  /** A connection opened: every join waiting goes on. */
  connected (): void {
    for (const w of [...this.waiters]) w()
  }

  /** A dial settled: the joins waiting go on once no dial is left in flight. */
  dialSettled (): void {
    if (this.waiters.size === 0) return
    // The manager still counts this dial until its promise settles: look once it has.
    this.clock.setTimeout(() => { if (this.manager.stats().dialing === 0) this.connected() }, 0)
  }
}

/**
 * Where to visit the peer of `conn` once it is gone, to withdraw: the address we dialled, else an
 * address its hello says it listens at on the host the connection came from; never a relayed one,
 * never another host (a peer's word would have our leave dial wherever it named).
 */
export function visitAddress (conn: Pick<NodeConnection, 'direction' | 'address' | 'remoteListen'>): string | undefined {
  if (isRelayedAddress(conn.address)) return undefined
  if (conn.direction === 'outbound') return conn.address
  const from = normaliseHintAddress(conn.address)
  if (from === undefined) return undefined
  const host = parseTcpAddress(from).host
  return normaliseHints(conn.remoteListen).find((a) => !isRelayedAddress(a) && parseTcpAddress(a).host === host)
}

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (const x of b) if (!a.includes(x)) return false
  return true
}

function isEmpty (it: Iterable<unknown>): boolean {
  for (const _ of it) return false
  return true
}
