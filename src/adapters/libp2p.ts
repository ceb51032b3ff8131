/**
 * `peerwarden/libp2p`: a js-libp2p (3.x) service that puts the node's connections under a peerwarden
 * connection manager. Guide: docs/libp2p.md.
 *
 * ```ts
 * const node = await createLibp2p({ …, services: { warden: peerwarden({ lowWater: 8, highWater: 16 }) } })
 * node.services.warden.manager.tagPeer(peerId.toString(), 'app', 10)
 * ```
 *
 * What the service does to the node:
 * - Every libp2p connection ('connection:open', both directions) is reported to `manager.connected()`
 *   and its 'connection:close' to `disconnected()`, its streams opening and closing to
 *   `streamsChanged()`. A connection the manager refuses is aborted at once; one it trims or rotates
 *   is closed gracefully (aborted if that fails).
 * - Refusals happen as early as libp2p lets them, through its connection gater (the object libp2p
 *   was created with; its own methods are still consulted afterwards): before any crypto an
 *   address on the `deny` list is refused (`denyInboundConnection`); once Noise has told who the
 *   peer is, a peer the manager would refuse — banned, denied, or over the bound with nothing that
 *   may give way — is refused before the muxer is negotiated (`denyInbound/OutboundEncryptedConnection`),
 *   and libp2p never dials a banned or denied peer (`denyDialPeer`). `connected()` still decides,
 *   so the bound holds even when many connections complete at the same moment.
 * - The bound is the manager's. libp2p's own pruner would close connections by its own ranking the
 *   moment its `maxConnections` is passed, so that limit is raised (when needed) to
 *   `highWater + max(4, highWater / 2)`: room for the connections that are being refused, never a
 *   second opinion. Peers libp2p tags `keep-alive` (it redials them itself) are protected in the
 *   manager, so it never trims what libp2p would redial — no close/redial loop.
 * - Tags set in libp2p's peer store (by gossipsub, kad-dht or the application) are mirrored into
 *   the manager as `libp2p:<name>` tags, so they weigh in trimming as they did in libp2p.
 * - Proactive dialing: peers come from libp2p's peer store at start and from 'peer:discovery' /
 *   'peer:update' afterwards; the manager's dialer decides whom to dial and dials through
 *   `connectionManager.openConnection(multiaddr, { signal })`. Addresses are multiaddr strings
 *   ending in `/p2p/<peer id>`; `bootstrap` multiaddrs are dialled only when nothing better is known.
 * - Topic quotas: `protocols` and `topics` (pubsub: gossipsub, floodsub) name quotas. A peer that
 *   speaks a protocol (as identify reports it) belongs to the manager topic `protocol:<name>`; a
 *   peer subscribed to a pubsub topic belongs to `pubsub:<topic>`. The manager dials known members
 *   until `min` are connected, never trims a topic below `min`, trims peers over `max` first; with
 *   `protect: true` members are also protected (never trimmed at all).
 * - With a persistent `store` (say `sqliteStore(path)`), a restarted node redials its previous peers
 *   before the bootstrap list.
 * - Node 20 lacks `Promise.withResolvers`, which libp2p 3.x calls: importing this module installs a
 *   spec-shaped polyfill when it is missing (Node >= 22 has it natively).
 *
 * Peer ids are libp2p peer id strings; the duplicate tie-break uses them the same way on both
 * sides, so when two nodes dial each other at once both keep the same connection.
 */
import './promise-polyfill.js'
import { createConnectionManager } from '../manager/manager.js'
import { PeerwardenError } from '../errors.js'
import { importOptional, notInstalled } from '../optional-dependency.js'
import { MANAGER_OPTIONS, rejectUnknownOptions, resolveOptions } from '../manager/validate.js'
import { rejectManagerInstance } from '../options-mistakes.js'
import type { CloseReason, Connection, ConnectionManager, ConnectionManagerOptions } from '../manager/types.js'
import { PeerSync, PROTOCOL, PUBSUB, type Libp2pPeer, type MemberQuota, type MultiaddrLike, type PeerIdLike } from './libp2p-peers.js'
import type { Components, Gater, Libp2pConnection, MuxerLike, PubSubLike, StreamLike } from './libp2p-types.js'

export { dialAddress, type MemberQuota } from './libp2p-peers.js'

/** The manager's options but `dial`; `localPeer` is accepted and ignored: the node's own peer id is used. */
export interface PeerwardenLibp2pOptions extends Partial<Omit<ConnectionManagerOptions, 'dial'>> {
  /** Multiaddrs ending in `/p2p/<peer id>`, dialled only when nothing better is known. */
  bootstrap?: string[]
  /** Quotas per protocol (e.g. '/ipfs/kad/1.0.0'); membership comes from identify. */
  protocols?: Record<string, MemberQuota>
  /** Quotas per pubsub topic; membership comes from the pubsub service's subscriptions. */
  topics?: Record<string, MemberQuota>
  /** The name of the pubsub service in `services`. Default 'pubsub'. */
  pubsub?: string
}

/** The service object: `libp2p.services.warden`. */
export interface PeerwardenService {
  readonly manager: ConnectionManager
  readonly [Symbol.toStringTag]: string
  /** libp2p's service life cycle: starts the manager's bookkeeping (libp2p calls it). */
  start(): void
  /** libp2p's service life cycle: once libp2p runs, follows its connections and starts dialing (libp2p calls it; the store was read when the service was made). */
  afterStart(): Promise<void>
  /** libp2p's service life cycle: stops and closes the manager (libp2p calls it). */
  stop(): Promise<void>
}

const REFUSALS: ReadonlySet<string> = new Set<CloseReason>(['banned', 'denied', 'over-limit', 'stopped'])
const CLOSE_TIMEOUT = 2_000
/** The dial `peerwarden()` checks the manager's options with (the service dials through libp2p). */
const noDial = async (): Promise<never> => { throw new PeerwardenError('ERR_DIAL_FAILED', 'no dial while checking options') }

// @multiformats/multiaddr is an optional peer dependency (libp2p brings it): loaded at the first
// dial, so this module imports without it (and from CommonJS through require), and checked when
// the service is made, so a missing libp2p fails there, naming what to install.
const MULTIADDR = '@multiformats/multiaddr'
const LIBP2P_PACKAGES = ['libp2p', MULTIADDR]
let multiaddrModule: Promise<{ multiaddr: (address: string) => unknown }> | undefined

async function loadMultiaddr (): Promise<{ multiaddr: (address: string) => unknown }> {
  multiaddrModule ??= importOptional(MULTIADDR, 'peerwarden/libp2p', LIBP2P_PACKAGES)
  return await multiaddrModule
}

function checkMultiaddr (): void {
  try {
    import.meta.resolve(MULTIADDR)
  } catch (err) {
    throw notInstalled(err, MULTIADDR, 'peerwarden/libp2p', LIBP2P_PACKAGES) ?? err
  }
}

function checkQuotas (name: string, quotas: Record<string, MemberQuota> | undefined): void {
  if (quotas === undefined) return
  if (typeof quotas !== 'object' || quotas === null) throw PeerwardenError.invalid(`${name} must be an object of quotas`)
  for (const [key, q] of Object.entries(quotas)) {
    if (typeof q !== 'object' || q === null || !Number.isInteger(q.min) || q.min < 0) {
      throw PeerwardenError.invalid(`${name}['${key}'].min must be an integer >= 0`)
    }
    if (q.max !== undefined && (!Number.isInteger(q.max) || q.max < q.min)) {
      throw PeerwardenError.invalid(`${name}['${key}'].max must be an integer >= min`)
    }
  }
}

/** The libp2p service factory: `services: { warden: peerwarden({ lowWater: 8, highWater: 16 }) }`. */
export function peerwarden (options: PeerwardenLibp2pOptions = {}): (components: any) => PeerwardenService {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('peerwarden options must be an object')
  rejectManagerInstance('peerwarden options', options, 'peerwarden()')
  if ((options as { dial?: unknown }).dial !== undefined) {
    throw PeerwardenError.invalid('peerwarden (libp2p) options: dial is not accepted: the manager dials through libp2p (node.dial); leave it out (for a transport of your own, use createConnectionManager)')
  }
  rejectUnknownOptions('peerwarden (libp2p) options', options, [...MANAGER_OPTIONS, 'bootstrap', 'protocols', 'topics', 'pubsub'])
  const { bootstrap = [], protocols, topics, pubsub = 'pubsub', ...managerOptions } = options
  delete (managerOptions as { dial?: unknown }).dial
  delete (managerOptions as { localPeer?: unknown }).localPeer
  // js-libp2p's allow/deny form (IP multiaddrs) is the manager's too (access-list.ts).
  // Checked here, where the mistake is written, rather than when libp2p builds its services.
  resolveOptions({ ...managerOptions, dial: noDial })
  if (typeof pubsub !== 'string' || pubsub.length === 0) throw PeerwardenError.invalid(`pubsub must be the name of libp2p's pubsub service, got ${JSON.stringify(pubsub) ?? String(pubsub)}`)
  if (!Array.isArray(bootstrap) || bootstrap.some((a) => typeof a !== 'string' || !/\/p2p\/[^/]+$/.test(a))) {
    throw PeerwardenError.invalid('bootstrap must be an array of multiaddrs ending in /p2p/<peer id>')
  }
  checkQuotas('protocols', protocols)
  checkQuotas('topics', topics)
  checkMultiaddr()
  return (components: Components) => new Libp2pWarden(components, managerOptions, bootstrap, protocols ?? {}, topics ?? {}, pubsub)
}

class Libp2pWarden implements PeerwardenService {
  readonly manager: ConnectionManager
  readonly [Symbol.toStringTag] = '@peerwarden/libp2p'
  private readonly localPeer: string
  /** libp2p connection id -> what the manager was handed. */
  private readonly byId = new Map<string, Connection>()
  private readonly peers: PeerSync
  private pubsubService: PubSubLike | undefined
  private readonly restoreGater: Array<() => void> = []
  private running = false
  /** True while `connected()` decides on a newcomer: a close it asks for then is an eviction at the bound. */
  private admitting = false
  /** The highWater libp2p's limit was last checked against. */
  private liftedFor = -1

  constructor (
    private readonly components: Components,
    managerOptions: Partial<Omit<ConnectionManagerOptions, 'dial'>>,
    private readonly bootstrap: string[],
    protocols: Record<string, MemberQuota>,
    topics: Record<string, MemberQuota>,
    private readonly pubsubName: string
  ) {
    this.localPeer = components.peerId.toString()
    this.manager = createConnectionManager({
      ...managerOptions,
      localPeer: this.localPeer,
      dial: async (address, opts) => await this.dial(address, opts.signal)
    })
    const quotas = new Map<string, MemberQuota>()
    for (const [p, q] of Object.entries(protocols)) quotas.set(PROTOCOL + p, q)
    for (const [t, q] of Object.entries(topics)) quotas.set(PUBSUB + t, q)
    for (const [topic, q] of quotas) this.manager.setTopicQuota(topic, { min: q.min, max: q.max })
    this.peers = new PeerSync(this.manager, this.localPeer, quotas)
  }

  // ── lifecycle (libp2p calls these) ────────────────────────────────────────

  start (): void {
    if (this.running) return
    this.running = true
    const { events } = this.components
    events.addEventListener('connection:open', this.onOpen)
    events.addEventListener('connection:close', this.onClose)
    events.addEventListener('peer:discovery', this.onDiscovery)
    events.addEventListener('peer:update', this.onUpdate)
    this.wrapGater()
    this.liftLibp2pLimit()
  }

  async afterStart (): Promise<void> {
    if (!this.running) return
    if (this.bootstrap.length > 0) {
      this.manager.addPeers(this.bootstrap.map((address) => ({ id: address.slice(address.lastIndexOf('/p2p/') + 5), address, bootstrap: true })))
    }
    try {
      for (const peer of await this.components.peerStore.all()) this.peers.learn(peer)
    } catch {}
    this.attachPubsub()
    for (const conn of this.components.connectionManager.getConnections()) this.report(conn)
    this.manager.start()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    const { events } = this.components
    events.removeEventListener('connection:open', this.onOpen)
    events.removeEventListener('connection:close', this.onClose)
    events.removeEventListener('peer:discovery', this.onDiscovery)
    events.removeEventListener('peer:update', this.onUpdate)
    this.pubsubService?.removeEventListener('subscription-change', this.onSubscription)
    this.pubsubService = undefined
    for (const restore of this.restoreGater.splice(0)) restore()
    await this.manager.stop() // closes what it holds ('stopped') and flushes the store
    this.byId.clear()
  }

  // ── connections ───────────────────────────────────────────────────────────

  private readonly onOpen = (evt: { detail: Libp2pConnection }): void => { this.report(evt.detail) }

  private readonly onClose = (evt: { detail: Libp2pConnection }): void => {
    const c = this.byId.get(evt.detail.id)
    if (c === undefined) return
    this.byId.delete(evt.detail.id)
    this.manager.disconnected(c)
  }

  private report (conn: Libp2pConnection): void {
    if (this.byId.has(conn.id) || conn.status !== 'open') return
    this.liftLibp2pLimit() // highWater may have been raised since (setWatermarks)
    const peer = conn.remotePeer.toString()
    const c: Connection = {
      id: conn.id,
      peer,
      direction: conn.direction,
      address: conn.remoteAddr.toString(),
      get streams () { return conn.streams?.length },
      close: (reason?: string) => { closeConnection(conn, reason, this.admitting) }
    }
    this.byId.set(conn.id, c)
    // A peer evicted to make room for this one is aborted, not closed gracefully: libp2p lists a
    // closing connection until it is gone, and would hold highWater + 1 meanwhile.
    this.admitting = true
    try {
      if (this.manager.connected(c)) this.watchStreams(conn, c)
      else this.byId.delete(conn.id)
    } finally {
      this.admitting = false
    }
  }

  /**
   * Reports every stream the connection opens or closes to the manager (`streamsChanged`), and once
   * now: a connection that reports is re-ranked on each change and never sampled before a trim. The
   * streams are its muxer's: the remote's come with the muxer's 'stream' event, ours from its
   * `createStream` (wrapped on this muxer), and each one's 'close' follows. A libp2p whose
   * connections have no such muxer is left alone (the manager samples `streams` before each trim).
   */
  private watchStreams (conn: Libp2pConnection, c: Connection): void {
    const muxer = (conn as unknown as { muxer?: Partial<MuxerLike> }).muxer
    if (typeof muxer?.addEventListener !== 'function' || typeof muxer.createStream !== 'function') return
    const changed = (): void => { if (this.byId.get(conn.id) === c) this.manager.streamsChanged(c) }
    const watch = (stream: StreamLike | undefined): void => {
      stream?.addEventListener?.('close', changed)
      changed()
    }
    muxer.addEventListener('stream', (evt) => { watch(evt.detail) })
    const create = muxer.createStream.bind(muxer)
    muxer.createStream = async (options?: unknown): Promise<StreamLike> => {
      const stream = await create(options)
      watch(stream)
      return stream
    }
    changed()
  }

  private async dial (address: string, signal: AbortSignal): Promise<Connection> {
    if (!this.running) throw new PeerwardenError('ERR_CLOSED', 'the libp2p node is stopped')
    const { multiaddr } = await loadMultiaddr()
    let target: unknown
    try {
      target = multiaddr(address)
    } catch (err) {
      throw new PeerwardenError('ERR_DIAL_FAILED', `not a multiaddr: ${address}`, { cause: err })
    }
    const conn = await this.components.connectionManager.openConnection(target, { signal })
    this.report(conn) // normally already reported by 'connection:open'
    const c = this.byId.get(conn.id)
    if (c === undefined) throw new PeerwardenError('ERR_DIAL_FAILED', `the connection to ${address} was refused by the manager`)
    return c
  }

  /** libp2p's own pruner must never act before the manager: its limit leaves room above highWater. */
  private liftLibp2pLimit (): void {
    const cm = this.components.connectionManager
    if (cm.getMaxConnections === undefined || cm.setMaxConnections === undefined) return
    const high = this.manager.stats().highWater
    if (high === this.liftedFor) return // checked for this highWater already (report() calls this per connection)
    this.liftedFor = high
    const room = high + Math.max(4, Math.ceil(high / 2))
    if (Number.isFinite(room) && cm.getMaxConnections() < room) cm.setMaxConnections(room)
  }

  // ── the gater ─────────────────────────────────────────────────────────────

  private wrapGater (): void {
    const gater = this.components.connectionGater
    const wrap = <K extends keyof Gater>(name: K, deny: (...args: Parameters<NonNullable<Gater[K]>>) => boolean): void => {
      const original = gater[name]
      const own = Object.prototype.hasOwnProperty.call(gater, name)
      const wrapped = (async (...args: Parameters<NonNullable<Gater[K]>>) => {
        if (this.running && deny(...args)) return true
        return original !== undefined ? await (original as (...a: unknown[]) => unknown).apply(gater, args) === true : false
      }) as unknown as NonNullable<Gater[K]>
      gater[name] = wrapped
      this.restoreGater.push(() => {
        if (gater[name] !== wrapped) return
        if (own) gater[name] = original
        else delete gater[name]
      })
    }
    wrap('denyInboundConnection', (maConn) => !this.manager.accepts(maConn.remoteAddr.toString()))
    wrap('denyInboundEncryptedConnection', (peerId, maConn) => !this.manager.admits(peerId.toString(), maConn.remoteAddr.toString()))
    wrap('denyOutboundEncryptedConnection', (peerId, maConn) => !this.manager.admits(peerId.toString(), maConn.remoteAddr.toString()))
    wrap('denyDialPeer', (peerId) => !this.manager.admits(peerId.toString()))
  }

  // ── peers, tags and topic membership ──────────────────────────────────────

  // A record the manager cannot take must not throw into libp2p's event loop.
  private readonly onDiscovery = (evt: { detail: { id: PeerIdLike; multiaddrs?: MultiaddrLike[] } }): void => {
    try { this.peers.discovered(evt.detail.id, evt.detail.multiaddrs ?? []) } catch {}
  }

  private readonly onUpdate = (evt: { detail: { peer: Libp2pPeer } }): void => {
    try { this.peers.learn(evt.detail.peer) } catch {}
  }

  // ── pubsub ────────────────────────────────────────────────────────────────

  private attachPubsub (): void {
    const topics = [...this.peers.quotas.keys()].filter((t) => t.startsWith(PUBSUB))
    if (topics.length === 0) return
    let service: unknown
    try { service = this.components[this.pubsubName] } catch {}
    const ps = service as Partial<PubSubLike> | undefined
    if (ps == null || typeof ps.getSubscribers !== 'function' || typeof ps.addEventListener !== 'function') {
      throw PeerwardenError.invalid(`topics needs a pubsub service named '${this.pubsubName}' in services (gossipsub or floodsub)`)
    }
    this.pubsubService = ps as PubSubLike
    this.pubsubService.addEventListener('subscription-change', this.onSubscription)
    for (const topic of topics) {
      for (const id of this.pubsubService.getSubscribers(topic.slice(PUBSUB.length))) this.peers.subscribe(id.toString(), topic, true)
    }
  }

  private readonly onSubscription = (evt: { detail: { peerId: PeerIdLike; subscriptions: Array<{ topic: string; subscribe: boolean }> } }): void => {
    const peer = evt.detail.peerId.toString()
    try {
      for (const { topic, subscribe } of evt.detail.subscriptions) this.peers.subscribe(peer, PUBSUB + topic, subscribe)
    } catch {}
  }
}

/**
 * A refusal, or an eviction to admit a newcomer (`admitting`), is aborted at once; a background trim
 * is closed gracefully, aborted if that does not finish.
 */
function closeConnection (conn: Libp2pConnection, reason: string | undefined, admitting: boolean): void {
  const err = new PeerwardenError('ERR_CLOSED', `closed by peerwarden: ${reason ?? 'closed'}`)
  if (reason === undefined || REFUSALS.has(reason) || admitting) {
    conn.abort(err)
    return
  }
  conn.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT) }).catch(() => { conn.abort(err) })
}
