import { join } from 'node:path'
import { systemClock } from '../clock.js'
import { checkLogger } from '../logger.js'
import { PeerwardenError } from '../errors.js'
import type { TypedEventTarget } from '../manager/events.js'
import { createConnectionManager } from '../manager/manager.js'
import type { Clock, ConnectionInfo, ConnectionManager, ConnectionManagerOptions, PeerInput } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { sqliteStore } from '../store/sqlite-store.js'
import { Adoption, listens, remoteIpOf } from './adoption.js'
import { AdvertisedAddresses, observerKey } from './advertised.js'
import type { NodeConnection } from './connection.js'
import { lockDataDir, type DataDirLock } from './data-dir-lock.js'
import { DialBack } from './dial-back.js'
import { Discovery } from './discovery.js'
import { assertTopic } from './discovery-key.js'
import { decodeHello, helloFlags, PROBE_FLAG } from './hello.js'
import { loadIdentity, peerIdOf } from './identity.js'
import { NetworkKey } from './network-key.js'
import { NodeDialer } from './node-dial.js'
import { NodeLog } from './node-log.js'
import { addressOptions, checkLocalPeer, checkNodeOptions, nodeWatermarks, transportBudgets } from './node-options.js'
import { Punching } from './punch.js'
import { RelayHub } from './relay.js'
import { RelayClient } from './relay-client.js'
import { RelayTopic } from './relay-topic.js'
import { RendezvousTable } from './rendezvous.js'
import { isLoopbackHost } from './tcp-address.js'
import { parseTcpAddress, TcpTransport } from './transport.js'
import { nodeStats } from './node-stats.js'
import { type NodeEvents, type NodeOptions, type NodeStats, type PeerNode } from './types.js'

export type { NodeEvents, NodeOptions, NodeStats, PeerNode } from './types.js'

/**
 * A runnable peer: TCP + Noise transport, an ed25519 identity, topics with rendezvous and peer
 * exchange, and a connection manager with a peer store on disk.
 */
export async function createNode (options: NodeOptions = {}): Promise<PeerNode> {
  checkNodeOptions(options)
  // One node per dataDir (data-dir-lock.ts): held until close(), let go when the start fails.
  const dirLock = options.dataDir !== undefined ? lockDataDir(options.dataDir) : undefined
  try {
    const { listen, bootstrap } = addressOptions(options)
    const node = new Node(options, dirLock)
    await node.start(listen, bootstrap)
    return node
  } catch (err) {
    dirLock?.release()
    throw err
  }
}

/**
 * The node: wiring only. Each part owns its piece: the transport (sockets, Noise, inbound budgets),
 * the dialer (the manager's dial, and its counts), the manager (whom to keep), the adoption (the
 * connections kept and the protocols served on them), discovery (topics, rendezvous, peer exchange).
 *
 * The parts call each other through the callbacks given here, and none of those runs before
 * `start()` listens: by then every part exists. Discovery alone is made in `start()` (it needs the
 * manager's lowWater), so the callbacks that reach it allow for its absence. The parts are readable
 * (not private) for `nodeStats` (node-stats.ts); the class is not exported.
 */
class Node implements PeerNode {
  readonly id: string
  readonly manager: ConnectionManager
  readonly events: TypedEventTarget<NodeEvents>
  /** One clock for the whole node: the manager's, when the application injects one (virtual time). */
  private readonly clock: Clock
  private readonly announced: AdvertisedAddresses
  readonly rendezvous: RendezvousTable | undefined
  readonly transport: TcpTransport
  readonly dialer: NodeDialer
  private readonly adoption: Adoption
  readonly dialBack: DialBack
  readonly relays: RelayHub
  readonly relayClient: RelayClient
  readonly punching: Punching
  /** Writes to the `logger` option; undefined without one. */
  private readonly log: NodeLog | undefined
  /** Made once listening (see the class comment). */
  discovery: Discovery | undefined
  /** Relays announce the relay topic, private nodes look it up (relay-topic.ts); made with discovery. */
  private relayTopic: RelayTopic | undefined
  private bound: string[] = []
  private closed = false

  constructor (private readonly options: NodeOptions, private readonly dirLock: DataDirLock | undefined) {
    const keyPair = loadIdentity({ seed: options.seed, dataDir: options.dataDir })
    this.id = peerIdOf(keyPair.publicKey)
    checkLocalPeer(options.manager?.localPeer, this.id)
    const clock = this.clock = options.manager?.clock ?? systemClock
    const log = this.log = options.logger === undefined ? undefined : new NodeLog(checkLogger('logger', options.logger))
    // Observations age out unless their observer is still connected (advertised.ts).
    this.announced = new AdvertisedAddresses(options.announce, undefined, {
      now: () => clock.now(),
      live: () => [...this.adoption.live].map((c) => ({ observer: observerKey(remoteIpOf(c), c.peer), ip: c.observedByRemote }))
    })
    this.rendezvous = options.rendezvous === false ? undefined : new RendezvousTable(() => clock.now(), options.rendezvousLimits)
    this.transport = new TcpTransport({
      keyPair,
      networkKey: new NetworkKey(options.networkKey),
      hello: (remoteIp, remotePort) => ({ listen: this.announced.list(), observed: remoteIp === '' ? undefined : remoteIp, observedPort: remoteIp === '' ? undefined : remotePort, rendezvous: this.rendezvous !== undefined, topics: this.discovery?.topics() ?? [], announce: this.discovery?.announcesAll() ?? false, relay: this.relays.serving }),
      gate: (address) => this.manager.accepts(address),
      onInbound: (conn) => {
        // A dial-back probe (dial-back.ts): the handshake was the answer.
        if ((helloFlags(conn.stream.remotePayload) & PROBE_FLAG) !== 0) {
          this.dialBack.probed(conn.peer, decodeHello(conn.stream.remotePayload ?? Buffer.alloc(0))?.nonce)
          conn.close('probe')
          return
        }
        if (conn.remoteVisit) {
          // A visit to our rendezvous service (rendezvous-visits.ts): never a connection for the manager.
          if (this.manager.getPeer(conn.peer)?.priority !== 'banned') this.discovery?.visited(conn)
          conn.close('visit')
          return
        }
        this.discovery?.hello(conn)
        this.manager.connected(conn)
      },
      onMessage: (conn, msg) => {
        if (msg.t === 'dialback' || msg.t === 'dialback-result') this.dialBack.message(conn, msg)
        else if (msg.t === 'punch' || msg.t === 'punch-sync') this.punching.message(conn, msg)
        else this.discovery?.message(conn, msg)
      },
      farewell: (conn, reason) => { this.discovery?.farewell(conn, reason) },
      onError: (address, error) => { this.events.dispatchEvent(new CustomEvent('handshake:failed', { detail: { address, error } })) },
      ...(log !== undefined ? { onRefused: (address: string, rule: Parameters<NodeLog['refusedEarly']>[1]) => { log.refusedEarly(address, rule) } } : {}),
      onProtocolError: (conn, reason) => {
        this.events.dispatchEvent(new CustomEvent('protocol:error', { detail: { peer: conn.peer, address: conn.address, reason } }))
      },
      clock,
      ...transportBudgets(options)
    })
    this.dialer = new NodeDialer(this.transport, {
      hello: (conn) => { this.discovery?.hello(conn) },
      settled: (peer) => { this.discovery?.dialSettled(peer) },
      relayed: async (address, opts) => await this.relayClient.dial(address, opts)
    }, { clock, random: options.manager?.random ?? Math.random }, options.failedDialLimits)
    const applicationAccepted = options.manager?.accepted === undefined ? undefined : check.fn<NonNullable<ConnectionManagerOptions['accepted']>>('manager.accepted', options.manager.accepted)
    this.manager = createConnectionManager({
      ...nodeWatermarks(options.manager),
      ...options.manager,
      dial: this.dialer.dial,
      accepted: (connection, replaced) => {
        this.adoption.adopt(connection, replaced)
        applicationAccepted?.(connection, replaced)
      },
      localPeer: this.id,
      store: options.manager?.store ?? (options.dataDir !== undefined ? sqliteStore(join(options.dataDir, 'peers.db'), { clock, onError: (error) => { storeProblem(this.manager, error) } }) : undefined)
    })
    this.events = this.manager.events
    // The manager has no ban hook: its own event is how a ban reaches our rendezvous table.
    this.events.addEventListener('peer:priority', (e) => { if (e.detail.priority === 'banned') this.discovery?.banned(e.detail.peer) })
    log?.watch(this.events)
    this.adoption = new Adoption({
      manager: this.manager,
      events: this.events,
      advertised: this.announced,
      connected: (connection) => {
        this.discovery?.connected(connection)
        this.relays.attach(connection)
        this.dialBack.connected(connection)
        this.relayClient.connected(connection)
        this.punching.connected(connection)
      },
      disconnected: (connection) => { this.discovery?.disconnected(connection) }
    })
    this.punching = new Punching({
      clock,
      localId: this.id,
      upgrade: async (socket, initiator, peer, address) => await this.transport.upgrade(socket, initiator, peer, address),
      direct: (conn) => {
        this.discovery?.hello(conn)
        this.manager.connected(conn)
      }
    })
    this.relayClient = new RelayClient({
      clock,
      manager: this.manager,
      hub: () => this.relays,
      live: () => this.adoption.live,
      relayed: (addresses) => { this.announced.setRelayed(addresses) },
      dialOver: async (stream, address, opts) => await this.transport.dialOver(stream, address, opts),
      acceptOver: (stream, address) => { this.transport.acceptOver(stream, address) }
    })
    this.relays = new RelayHub(clock, this.relayClient, options.relay, this.id)
    this.relays.reachable = () => this.dialBack.reachability !== 'private'
    this.dialBack = new DialBack({
      clock,
      ports: () => this.announced.listening.map((a) => parseTcpAddress(a).port),
      probe: async (address, peer, signal, nonce) => { await this.dialer.probe(address, peer, signal, nonce) },
      remoteIp: remoteIpOf,
      changed: (reachability) => {
        this.announced.setReachability(reachability)
        this.relayClient.setPrivate(reachability === 'private')
        this.relayTopic?.update(this.relays.serving, reachability)
        if (listens(this.events, 'reachability')) this.events.dispatchEvent(new CustomEvent('reachability', { detail: { reachability, advertised: this.advertised } }))
      }
    }, typeof options.dialBack === 'boolean' ? {} : options.dialBack)
  }

  /** Listens, makes discovery, adds the bootstrap peers and starts the manager. A failure leaves nothing running. */
  async start (listen: string[], bootstrap: string[]): Promise<void> {
    const { manager, options } = this
    try {
      this.bound = await this.transport.listen(listen)
      this.announced.setBound(this.bound)
      // Only loopback: nobody outside could dial us anyway, so no dial-back unless asked for.
      const outside = this.bound.some((a) => !isLoopbackHost(parseTcpAddress(a).host))
      this.dialBack.enabled = options.announce === undefined && (options.dialBack === undefined ? outside : options.dialBack !== false)
    } catch (err) {
      await manager.close()
      throw new PeerwardenError('ERR_LISTEN', `cannot listen on ${listen.join(', ')}: ${(err as Error).message}`, { cause: err })
    }
    const { lowWater } = manager.stats()
    const discovery = this.discovery = new Discovery({
      localId: this.id,
      manager,
      rendezvous: this.rendezvous,
      addresses: () => this.announced.list(),
      connections: () => this.adoption.live,
      points: () => points,
      visit: async (point, signal) => { await this.dialer.visit(point, signal) }
    }, {
      ttl: options.announceTtl ?? 60_000,
      refresh: options.refreshInterval ?? 15_000,
      lookupTimeout: 2_000,
      quotaMin: Math.max(1, Math.min(3, lowWater)),
      lowWater,
      random: options.manager?.random ?? Math.random,
      clock: this.clock,
      pexPerMinute: options.pexPerMinute,
      hintLimits: options.hintLimits
    })
    this.relayTopic = new RelayTopic({
      join: async (topic, opts, service) => { await discovery.join(topic, opts, service) },
      leave: async (topic) => { await discovery.leave(topic) }
    })
    this.relayTopic.update(this.relays.serving, this.dialBack.reachability)
    const boot: PeerInput[] = bootstrap.map((address) => ({ id: parseTcpAddress(address).peer, address, bootstrap: true }))
    this.dialer.retryEarlyFor(bootstrap)
    // The bootstrap peers whose id we know are the rendezvous points we keep our registrations at.
    const points = boot.flatMap((b) => b.id !== undefined && b.address !== undefined ? [{ id: b.id, address: b.address }] : [])
    try {
      if (boot.length > 0) manager.addPeers(boot)
      manager.start()
      await manager.ready()
      this.log?.listening(this.id, this.bound)
    } catch (err) {
      discovery.leaveAll()
      await manager.close().catch(() => {})
      await this.transport.close()
      throw err
    }
  }

  get addresses (): string[] { return this.bound.slice() }
  get advertised (): string[] { return this.announced.list().slice() }

  readonly join = async (topic: string | Uint8Array, opts?: { announce?: boolean; lookup?: boolean }): Promise<void> => {
    // Said in the node's words: after close() the manager's 'the connection manager is closed' came out.
    if (this.closed) throw new PeerwardenError('ERR_CLOSED', 'the node is closed')
    assertTopic(topic)
    await this.discovery!.join(topic, opts)
  }

  readonly leave = async (topic: string | Uint8Array): Promise<void> => { assertTopic(topic); await this.discovery!.leave(topic) }
  readonly joined = (topic: string | Uint8Array): boolean => this.discovery!.isJoined(topic)
  readonly flushed = (topic: string | Uint8Array): boolean => this.discovery!.flushed(topic)
  readonly connections = (): ConnectionInfo[] => this.manager.listConnections()
  readonly protocol = (name: string, open: (connection: NodeConnection) => void): void => { this.adoption.serve(name, open) }

  readonly stats = (): NodeStats => nodeStats(this)

  readonly close = async (): Promise<void> => {
    if (this.closed) return
    this.closed = true
    this.discovery!.leaveAll()
    this.dialBack.close()
    this.relayClient.close()
    this.punching.close()
    try {
      await this.discovery!.withdrawAll()
      await this.manager.close()
      this.relays.close()
      await this.transport.close()
    } finally {
      this.dirLock?.release()
    }
  }
}

/** A problem the store survived (a corrupt file moved aside, rows skipped): 'store:error' when someone listens, else a process warning (at start-up nobody listens yet). */
function storeProblem (manager: ConnectionManager, error: Error): void {
  if (listens(manager.events, 'store:error')) manager.events.dispatchEvent(new CustomEvent('store:error', { detail: { error } }))
  else process.emitWarning(error)
}
