import { join } from 'node:path'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { createConnectionManager } from '../manager/manager.js'
import type { ManagerEvents, TypedEventTarget } from '../manager/events.js'
import type { ConnectionInfo, ConnectionManager, ConnectionManagerOptions, ManagerStats, PeerId, PeerInput } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { sqliteStore } from '../store/sqlite-store.js'
import { NodeConnection } from './connection.js'
import { lockDataDir, type DataDirLock } from './data-dir-lock.js'
import { Discovery } from './discovery.js'
import { loadIdentity, peerIdOf } from './identity.js'
import { NetworkKey } from './network-key.js'
import { AdvertisedAddresses } from './advertised.js'
import { RendezvousTable, type RendezvousLimits } from './rendezvous.js'
import { parseTcpAddress, TcpTransport, type TransportStats } from './transport.js'

/** The events on `node.events`: the manager's, and the node's own. */
export interface NodeEvents extends ManagerEvents {
  /** A connection the node keeps (also one that replaced a duplicate while the peer stayed connected). */
  'connection': { connection: NodeConnection; peer: PeerId; replaced: boolean }
  /** The peer's last connection went; `reason` is the close reason, the remote's when it gave one. */
  'disconnection': { peer: PeerId; reason?: string }
  /** An inbound connection failed Noise, the network key or the handshake deadline. */
  'handshake:failed': { address: string; error: Error }
  /** A peer sent a message its decoder refused (or whose handling failed): its connection closes with 'protocol'. */
  'protocol:error': { peer: PeerId; address: string; reason: string }
}

export interface NodeOptions {
  /** 32-byte seed for the ed25519 key pair (a string is hashed); default: loaded from dataDir, else generated. */
  seed?: Uint8Array | string
  /** Where the key pair and the peer store live; default: memory only. */
  dataDir?: string
  /** Default ['tcp://127.0.0.1:0']. */
  listen?: string[]
  /**
   * The addresses to tell peers, instead of the default: the listen addresses with wildcards
   * (0.0.0.0, ::) expanded to the interfaces' addresses, plus the address peers observe (an IP that
   * two peers agree on). 'tcp://host:port' each.
   */
  announce?: string[]
  /** 'tcp://host:port' addresses, optionally '…#<peerId>'. */
  bootstrap?: string[]
  /** Private network: peers without the same key cannot complete a handshake. */
  networkKey?: string | Uint8Array
  /** Serve topic announcements for other peers. Default true. */
  rendezvous?: boolean
  manager?: Partial<ConnectionManagerOptions>
  /** Transport and discovery tuning (milliseconds). */
  handshakeTimeout?: number
  keepAlive?: number
  deadTimeout?: number
  announceTtl?: number
  refreshInterval?: number
  /** Peer-exchange messages (referrals, lookup answers) taken from one connection per minute; the rest are dropped. Default 120. */
  pexPerMinute?: number
  /** Budgets of the rendezvous service (see `RendezvousLimits`): bytes, topics per peer, registrations per topic… */
  rendezvousLimits?: Partial<RendezvousLimits>
  /** Inbound handshakes in progress at most (all IPs). Default 32. */
  maxPendingHandshakes?: number
  /** Inbound handshakes in progress per IP (an IPv6 /64 counts as one; 127.0.0.1 and ::1 exempt). Default an eighth of maxPendingHandshakes (4). */
  maxPendingPerIp?: number
  /** New inbound sockets per IP per second (127.0.0.1 and ::1 exempt). Default 10. */
  perIpRate?: number
  /** IPs whose rate is tracked at once (the least recently seen is forgotten). Default 4096. */
  maxTrackedIps?: number
  /** Bytes decrypted and queued on a connection not yet reading before its socket is paused. Default 1 MiB. */
  maxQueuedBytes?: number
}

/** Every option `createNode` knows: others are refused with the closest name. */
const NODE_OPTIONS: ReadonlyArray<keyof NodeOptions> = [
  'seed', 'dataDir', 'listen', 'announce', 'bootstrap', 'networkKey', 'rendezvous', 'manager', 'handshakeTimeout', 'keepAlive',
  'deadTimeout', 'announceTtl', 'refreshInterval', 'pexPerMinute', 'rendezvousLimits', 'maxPendingHandshakes', 'maxPendingPerIp',
  'perIpRate', 'maxTrackedIps', 'maxQueuedBytes'
]

/** The manager's stats plus the node's own figures (the transport's, discovery's, the rendezvous budgets). */
export interface NodeStats extends ManagerStats, TransportStats {
  /** Topics our rendezvous service holds registrations for. */
  rendezvousTopics: number
  /** Registrations our rendezvous service holds, and the bytes they take (budget: `rendezvousLimits.maxBytes`). */
  rendezvousRegistrations: number
  rendezvousBytes: number
  /** Announcements our rendezvous service refused for a budget. */
  rendezvousRefused: number
  /** Dials begun since the node was created (bootstrap dials included), and how many of them failed. */
  dials: number
  dialsFailed: number
  /** Peer-exchange messages dropped for a connection's `pexPerMinute`. */
  pexDropped: number
  /** Lookup answers nobody asked for (never learnt). */
  unsolicitedAnswers: number
  /**
   * Visits to the bootstrap rendezvous points we hold no connection to (they keep our topics
   * registered after the bootstrap connection was let go), how many failed, and visits we served.
   */
  rendezvousVisits: number
  rendezvousVisitsFailed: number
  rendezvousVisitsServed: number
}

export interface PeerNode {
  /** Lowercase hex of the ed25519 public key. */
  readonly id: PeerId
  /** Where it listens, e.g. 'tcp://127.0.0.1:40123'. */
  readonly addresses: string[]
  /** What it tells peers: `announce`, else the listen addresses with wildcards expanded plus what peers observe. */
  readonly advertised: string[]
  readonly manager: ConnectionManager
  /** Resolves once the topic is announced and/or looked up. */
  join(topic: string | Uint8Array, opts?: { announce?: boolean; lookup?: boolean }): Promise<void>
  /** Resolves once the topic is unannounced. */
  leave(topic: string | Uint8Array): Promise<void>
  joined(topic: string | Uint8Array): boolean
  /** True once every peer found for the topic has been attempted. */
  flushed(topic: string | Uint8Array): boolean
  connections(): ConnectionInfo[]
  /**
   * 'connection' {connection, peer, replaced} (for every connection kept, including one that replaced a
   * duplicate while the peer stayed connected), 'disconnection' {peer, reason?} (the peer's last
   * connection went), 'handshake:failed' {address, error}
   * (an inbound connection that failed Noise, the network key or the deadline), plus the manager's events.
   */
  readonly events: TypedEventTarget<NodeEvents>
  /**
   * Serves an application protocol: `open(connection)` runs for every connection the node keeps (now
   * and later) and creates the protocol's channel on `connection.mux` (protomux). A channel the remote
   * opens first waits until the connection is accepted, then pairs with it. The mesh's RPC runs so.
   */
  protocol(name: string, open: (connection: NodeConnection) => void): void
  /** The manager's stats plus the transport's (`TransportStats`), discovery's and the rendezvous service's. */
  stats(): NodeStats
  /** Unannounces every topic, closes every connection (the remote sees 'stopped'), flushes the store. */
  close(): Promise<void>
}

/**
 * A runnable peer (seed 002): TCP + Noise transport, an ed25519 identity, topics with rendezvous and
 * peer exchange, and a connection manager with a peer store on disk.
 */
/** A node keeps fewer connections than a bare manager (32/96): 8 and 16 unless given. */
const NODE_LOW_WATER = 8
const NODE_HIGH_WATER = 16

/**
 * The node's watermarks when the application leaves one or both out, by the manager's own rule: a
 * missing lowWater is at most the given highWater, a missing highWater at least the given lowWater
 * (`{ highWater: 4 }` is 4/4, `{ lowWater: 20 }` is 20/20). The manager validates what was given.
 */
function nodeWatermarks (given: Partial<ConnectionManagerOptions> | undefined): { lowWater?: number; highWater?: number } {
  const low = given?.lowWater
  const high = given?.highWater
  if (low !== undefined && high !== undefined) return {}
  if (high !== undefined) return typeof high === 'number' ? { lowWater: Math.min(NODE_LOW_WATER, high) } : {}
  if (low !== undefined) return typeof low === 'number' ? { highWater: Math.max(NODE_HIGH_WATER, low) } : {}
  return { lowWater: NODE_LOW_WATER, highWater: NODE_HIGH_WATER }
}

export async function createNode (options: NodeOptions = {}): Promise<PeerNode> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  check.rejectUnknownOptions('createNode options', options, NODE_OPTIONS)
  if (options.dataDir !== undefined) check.nonEmptyString('dataDir', options.dataDir)
  // One node per dataDir (data-dir-lock.ts): held until close(), let go when the start fails.
  const dirLock = options.dataDir !== undefined ? lockDataDir(options.dataDir) : undefined
  try {
    return await startNode(options, dirLock)
  } catch (err) {
    dirLock?.release()
    throw err
  }
}

async function startNode (options: NodeOptions, dirLock: DataDirLock | undefined): Promise<PeerNode> {
  const listen = options.listen ?? ['tcp://127.0.0.1:0']
  check.stringArray('listen', listen)
  listen.forEach((a) => parseTcpAddress(a))
  if (options.announce !== undefined) {
    check.stringArray('announce', options.announce)
    options.announce.forEach((a) => parseTcpAddress(a))
  }
  const bootstrap = options.bootstrap ?? []
  check.stringArray('bootstrap', bootstrap)
  bootstrap.forEach((a) => parseTcpAddress(a))
  if (options.dataDir !== undefined) check.nonEmptyString('dataDir', options.dataDir)

  const dialCounts = { dials: 0, failed: 0 }
  const keyPair = loadIdentity({ seed: options.seed, dataDir: options.dataDir })
  const id = peerIdOf(keyPair.publicKey)
  const live = new Set<NodeConnection>()
  const protocols = new Map<string, (conn: NodeConnection) => void>()
  let addresses: string[] = []
  const advertised = new AdvertisedAddresses(options.announce)
  let discovery: Discovery | undefined
  // One clock for the whole node: the manager's, when the application injects one (virtual time).
  const clock = options.manager?.clock ?? systemClock
  const rendezvous = options.rendezvous === false ? undefined : new RendezvousTable(() => clock.now(), options.rendezvousLimits)

  const transport: TcpTransport = new TcpTransport({
    keyPair,
    networkKey: new NetworkKey(options.networkKey),
    hello: (remoteIp) => ({ listen: advertised.list(), observed: remoteIp === '' ? undefined : remoteIp, rendezvous: rendezvous !== undefined, topics: discovery?.topics() ?? [], announce: discovery?.announcesAll() ?? false }),
    gate: (address) => manager.accepts(address),
    onInbound: (conn) => {
      if (conn.remoteVisit) {
        // A visit to our rendezvous service: never a connection for the manager.
        if (manager.getPeer(conn.peer)?.priority !== 'banned') discovery?.visited(conn)
        conn.close('visit')
        return
      }
      discovery?.hello(conn)
      conn.farewell = (c, reason) => { discovery?.farewell(c, reason) }
      manager.connected(conn)
    },
    onMessage: (conn, msg) => { discovery?.message(conn, msg) },
    onError: (address, error) => { events.dispatchEvent(new CustomEvent('handshake:failed', { detail: { address, error } })) },
    onProtocolError: (conn, reason) => {
      events.dispatchEvent(new CustomEvent('protocol:error', { detail: { peer: conn.peer, address: conn.address, reason } }))
    },
    handshakeTimeout: options.handshakeTimeout,
    clock,
    keepAlive: options.keepAlive,
    deadTimeout: options.deadTimeout,
    maxPendingHandshakes: options.maxPendingHandshakes,
    maxPendingPerIp: options.maxPendingPerIp,
    perIpRate: options.perIpRate,
    maxTrackedIps: options.maxTrackedIps,
    maxQueuedBytes: options.maxQueuedBytes
  })
  const manager: ConnectionManager = createConnectionManager({
    ...nodeWatermarks(options.manager),
    ...options.manager,
    dial: async (address, opts) => {
      dialCounts.dials++
      try {
        const conn = await transport.dial(address, opts)
        discovery?.hello(conn)
        conn.farewell = (c, reason) => { discovery?.farewell(c, reason) }
        // A dial succeeds once the remote's manager accepted: a refusal is a failed dial (ERR_REFUSED).
        await abortable(conn.verdict(), opts.signal, () => { conn.close() })
        return conn
      } catch (err) {
        // A dial called off (our own signal) is no failure, as the manager counts it.
        if (!opts.signal.aborted) dialCounts.failed++
        throw err
      } finally {
        discovery?.dialSettled(opts.peer)
      }
    },
    localPeer: id,
    store: options.manager?.store ?? (options.dataDir !== undefined ? sqliteStore(join(options.dataDir, 'peers.db'), { clock, onError: (error) => { storeProblem(manager, error) } }) : undefined)
  })
  const events = manager.events
  // The manager's event target knows whether anyone listens: no event object is built for nobody.
  const listens = (type: string): boolean => (events as unknown as { listens(type: string): boolean }).listens(type)

  // Every accepted connection, whoever opened it, passes here once: a new peer, or a connection that
  // replaced a duplicate (the peer stayed connected throughout).
  const adopt = (connection: unknown, replaced: boolean): void => {
    if (!(connection instanceof NodeConnection)) return
    live.add(connection)
    advertised.observe(connection.peer, connection.observedByRemote)
    connection.onClose((c) => {
      live.delete(c)
      manager.disconnected(c)
      // A duplicate that lost the tie-break goes while the peer stays: that is no disconnection.
      if (!listens('disconnection') || manager.getPeer(c.peer)?.connected === true) return
      events.dispatchEvent(new CustomEvent('disconnection', { detail: { peer: c.peer, reason: c.remoteCloseReason ?? c.closeReason } }))
    })
    // Applications hang their channels on the connection: they hear of a replacement too.
    if (listens('connection')) events.dispatchEvent(new CustomEvent('connection', { detail: { connection, peer: connection.peer, replaced } }))
    connection.accepted()
    for (const open of protocols.values()) open(connection)
    discovery?.connected(connection)
  }
  events.addEventListener('peer:connected', (e) => { adopt(e.detail.connection, false) })
  events.addEventListener('connection:replaced', (e) => { adopt(e.detail.connection, true) })

  try {
    addresses = await transport.listen(listen)
    advertised.setBound(addresses)
  } catch (err) {
    await manager.close()
    throw new PeerwardenError('ERR_LISTEN', `cannot listen on ${listen.join(', ')}: ${(err as Error).message}`, { cause: err })
  }
  const { lowWater } = manager.stats()
  discovery = new Discovery({
    localId: id,
    manager,
    rendezvous,
    addresses: () => advertised.list(),
    connections: () => live,
    points: () => points,
    visit: async (point, signal) => { await visit(transport, point, signal) }
  }, {
    ttl: options.announceTtl ?? 60_000,
    refresh: options.refreshInterval ?? 15_000,
    lookupTimeout: 2_000,
    quotaMin: Math.max(1, Math.min(3, lowWater)),
    lowWater,
    random: options.manager?.random ?? Math.random,
    clock,
    pexPerMinute: options.pexPerMinute
  })
  const boot: PeerInput[] = bootstrap.map((address) => ({ id: parseTcpAddress(address).peer, address, bootstrap: true }))
  // The bootstrap peers whose id we know are the rendezvous points we keep our registrations at.
  const points = boot.flatMap((b) => b.id !== undefined && b.address !== undefined ? [{ id: b.id, address: b.address }] : [])
  try {
    if (boot.length > 0) manager.addPeers(boot)
    manager.start()
    await manager.ready()
  } catch (err) {
    // A start that fails once listening leaves nothing running behind it.
    discovery.leaveAll()
    await manager.close().catch(() => {})
    await transport.close()
    throw err
  }

  let closed = false
  return {
    id,
    get addresses () { return addresses.slice() },
    get advertised () { return advertised.list().slice() },
    manager,
    events,
    join: async (topic, opts) => { assertTopic(topic); await discovery!.join(topic, opts) },
    leave: async (topic) => { assertTopic(topic); await discovery!.leave(topic) },
    joined: (topic) => discovery!.isJoined(topic),
    flushed: (topic) => discovery!.flushed(topic),
    connections: () => manager.listConnections(),
    protocol: (name, open) => {
      check.nonEmptyString('name', name)
      if (protocols.has(name)) throw PeerwardenError.invalid(`protocol ${JSON.stringify(name)} is already served`)
      protocols.set(name, open as (conn: NodeConnection) => void)
      for (const conn of live) open(conn)
    },
    stats: () => ({
      ...manager.stats(),
      ...transport.stats(),
      rendezvousTopics: rendezvous?.size ?? 0,
      rendezvousRegistrations: rendezvous?.registrations ?? 0,
      rendezvousBytes: rendezvous?.bytes ?? 0,
      rendezvousRefused: rendezvous?.refused ?? 0,
      dials: dialCounts.dials,
      dialsFailed: dialCounts.failed,
      pexDropped: discovery?.counts.pexDropped ?? 0,
      unsolicitedAnswers: discovery?.counts.unsolicitedAnswers ?? 0,
      rendezvousVisits: discovery?.counts.visits ?? 0,
      rendezvousVisitsFailed: discovery?.counts.visitsFailed ?? 0,
      rendezvousVisitsServed: discovery?.counts.visitsServed ?? 0
    }),
    close: async () => {
      if (closed) return
      closed = true
      discovery!.leaveAll()
      try {
        await discovery!.withdrawAll()
        await manager.close()
        await transport.close()
      } finally {
        dirLock?.release()
      }
    }
  }
}

/**
 * A visit to a rendezvous point: a handshake whose hello says "visit" and carries our topics; the
 * point takes it and closes ('visit'). A point too old to know visits accepts it as a connection,
 * which we close at once (it saw our hello all the same).
 */
async function visit (transport: TcpTransport, point: { id: string; address: string }, signal: AbortSignal): Promise<void> {
  const conn = await transport.dial(point.address, { peer: point.id, signal, visit: true })
  try {
    await abortable(conn.verdict(), signal, () => { conn.close() })
  } catch (err) {
    if (err instanceof PeerwardenError && err.code === 'ERR_REFUSED' && err.cause === 'visit') return
    throw err
  } finally {
    conn.close('visit')
  }
}

/** `p`, or ERR_ABORTED (after `onAbort`) when `signal` aborts first. */
async function abortable<T> (p: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  if (signal.aborted) { onAbort(); throw new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: signal.reason }) }
  let listener: (() => void) | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      listener = () => { onAbort(); reject(new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: signal.reason })) }
      signal.addEventListener('abort', listener, { once: true })
    })])
  } finally {
    if (listener !== undefined) signal.removeEventListener('abort', listener)
  }
}

/** A problem the store survived (a corrupt file moved aside, rows skipped): 'store:error' when someone listens, else a process warning (at start-up nobody listens yet). */
function storeProblem (manager: ConnectionManager, error: Error): void {
  if ((manager.events as unknown as { listens(type: string): boolean }).listens('store:error')) manager.events.dispatchEvent(new CustomEvent('store:error', { detail: { error } }))
  else process.emitWarning(error)
}

function assertTopic (topic: unknown): void {
  if (!(typeof topic === 'string' && topic.length > 0) && !(topic instanceof Uint8Array && topic.length > 0)) {
    throw PeerwardenError.invalid('topic must be a non-empty string or Uint8Array')
  }
}
