/**
 * `peerwarden/hyperswarm`: a Hyperswarm (v4) instance under a peerwarden connection manager.
 * Contract: shared/design/API.md section 5.
 *
 * What the adapter does to the swarm:
 * - Every swarm 'connection' (both directions) becomes a {@link Connection} reported to
 *   `manager.connected()`; its 'close' to `manager.disconnected()`. A refused or trimmed
 *   connection is destroyed (`conn.destroy()`), which Hyperswarm sees as an ordinary close.
 * - The bound is the manager's. Hyperswarm's own limits are lifted: `maxPeers` becomes Infinity
 *   (it only ever gated Hyperswarm's outbound topic dials anyway, never inbound connections), and
 *   Hyperswarm's own dialing of topic peers is switched off (`maxClientConnections = 0`). Topic
 *   lookups and announces go on as usual; the peers they find are handed to the manager
 *   (`addPeers`, with the topic), and the manager's dialer decides whom to dial: its `dial`
 *   is `swarm.joinPeer(key)` (explicit peers bypass `maxClientConnections`), followed by
 *   `swarm.leavePeer(key)` once the connection is there or the dial is given up, so that Hyperswarm
 *   never redials on its own a peer the manager trimmed.
 * - Hyperswarm's deduplication stays as it is (one connection per public key, its own tie-break).
 *   When it replaces a connection, the old one's 'close' reaches `disconnected()` before the new
 *   one reaches `connected()`; connection ids keep the two apart, so a late close never drops the
 *   new connection. Were both ever reported at once, the manager's duplicate rule (with
 *   `localPeer` = our public key) keeps one and destroys the other.
 * - The firewall: Hyperswarm consults `swarm._firewall(remotePublicKey, payload)` before the
 *   handshake completes (and before its own outbound dials). It is wrapped so that a peer the
 *   manager would refuse (priority 'banned', its id on the `deny` list, or over the bound with
 *   nothing that may give way: `manager.admits()`) is firewalled first — an over-the-bound refusal
 *   is for that handshake only (Hyperswarm's ban of the key is lifted at once);
 *   the user's own firewall (the constructor option) is still consulted afterwards. Note that
 *   Hyperswarm bans a firewalled key for the swarm's lifetime; a later manager dial of that peer
 *   (after it was unbanned in the manager) lifts Hyperswarm's ban again.
 * - `options.topicQuota`, when given, is set with `manager.setTopicQuota(topicHex, quota)` for every
 *   topic the swarm joins (and removed when it leaves).
 * - An 'error' listener is added to every connection so that a reset peer never crashes the
 *   process; add your own listeners to see the errors.
 *
 * Peer ids are Hyperswarm public keys in lowercase hex; addresses are `hyperswarm:<hex key>`.
 * The manager is started at once; connections the swarm already holds are reported to it then. `close()` closes the manager (destroying the connections it
 * holds) and restores the swarm's limits, firewall and hooks; it does not destroy the swarm.
 */
import { createConnectionManager } from '../manager/manager.js'
import { PeerwardenError } from '../errors.js'
import type { Connection, ConnectionManager, ConnectionManagerOptions } from '../manager/types.js'

/** The part of a Hyperswarm connection (a `@hyperswarm/secret-stream` NoiseSecretStream) used here. */
export interface HyperswarmConnection {
  readonly remotePublicKey: Uint8Array
  readonly isInitiator: boolean
  destroy(err?: Error): void
  on(event: 'close', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
}

/** What Hyperswarm passes with a connection (its PeerInfo). */
export interface HyperswarmPeerInfo {
  readonly publicKey: Uint8Array
  readonly topics?: Uint8Array[]
  banned?: boolean
  attempts?: number
  disconnectedTime?: number
  ban?(value: boolean): void
}

/** The part of a Hyperswarm v4 instance the adapter drives (public API plus the few internals named). */
export interface HyperswarmLike {
  readonly keyPair: { publicKey: Uint8Array }
  readonly connections: Set<unknown>
  readonly peers: Map<string, HyperswarmPeerInfo>
  maxPeers: number
  maxClientConnections: number
  destroyed?: boolean
  joinPeer(publicKey: Uint8Array): void
  leavePeer(publicKey: Uint8Array): void
  join(topic: Uint8Array, opts?: Record<string, unknown>): unknown
  leave(topic: Uint8Array): Promise<void>
  on(event: 'connection', listener: (conn: HyperswarmConnection, info: HyperswarmPeerInfo) => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
  /** Internal (v4): the user's firewall, consulted by `_handleFirewall`. */
  _firewall?: (remotePublicKey: Uint8Array, payload: unknown) => boolean
  /** Internal (v4): called for each peer a topic lookup finds. */
  _handlePeer?: (peer: { publicKey: Uint8Array }, topic: Uint8Array) => void
  /** Internal (v4): drains the dial queue and the explicit peers. */
  _attemptClientConnections?: () => void
  /** Internal (v4): the joined topics, by hex. */
  _discovery?: Map<string, unknown>
}

export interface ManageSwarmOptions extends Partial<Omit<ConnectionManagerOptions, 'dial'>> {
  /** Set as the manager's topic quota for every topic the swarm joins. Default: none. */
  topicQuota?: { min: number; max?: number }
}

export interface ManagedSwarm {
  readonly manager: ConnectionManager
  close(): Promise<void>
}

const PREFIX = 'hyperswarm:'
const HEX_KEY = /^[0-9a-f]{64}$/
let nextId = 0

const hex = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
const noop = (): void => {}

interface Waiter { resolve: (conn: Connection) => void; reject: (err: Error) => void }

/** Puts `swarm` under a new connection manager; see the module comment for what changes. */
export function manageSwarm (swarm: HyperswarmLike, options: ManageSwarmOptions = {}): ManagedSwarm {
  const { topicQuota, ...managerOptions } = options as ManageSwarmOptions & { dial?: unknown }
  delete (managerOptions as { dial?: unknown }).dial
  const localPeer = hex(swarm.keyPair.publicKey)
  const deny = new Set((options.deny ?? []).map((d) => d.toLowerCase()))
  /** hex key -> the live connection Hyperswarm holds for it (at most one: its dedup). */
  const live = new Map<string, Connection>()
  /** hex key -> dials waiting for that key's connection. */
  const waiting = new Map<string, Set<Waiter>>()
  let closed = false

  const manager = createConnectionManager({ ...managerOptions, localPeer, dial })

  const refusedByManager = (peer: string): boolean =>
    closed || deny.has(peer) || manager.getPeer(peer)?.priority === 'banned'

  // ── limits: the manager holds the bound ─────────────────────────────────
  const saved = { maxPeers: swarm.maxPeers, maxClientConnections: swarm.maxClientConnections }
  swarm.maxPeers = Infinity
  swarm.maxClientConnections = 0

  // ── firewall ────────────────────────────────────────────────────────────
  const userFirewall = swarm._firewall
  const firewall = (remotePublicKey: Uint8Array, payload: unknown): boolean => {
    const peer = hex(remotePublicKey)
    if (refusedByManager(peer)) return true
    if (!manager.admits(peer)) {
      // Over the bound with nothing that may give way: refuse this handshake only. Hyperswarm bans a
      // firewalled key for good, right after this returns; the ban is lifted on the next microtask.
      queueMicrotask(() => {
        const info = swarm.peers.get(peer)
        if (info?.banned === true && !refusedByManager(peer)) info.ban?.(false)
      })
      return true
    }
    return userFirewall !== undefined ? userFirewall.call(swarm, remotePublicKey, payload) : false
  }
  swarm._firewall = firewall

  // ── discovery: topic peers go to the manager ────────────────────────────
  const offer = (key: Uint8Array, topics: readonly Uint8Array[] | undefined): void => {
    if (closed) return
    const id = hex(key)
    if (id === localPeer) return
    manager.addPeers([{ id, address: PREFIX + id, topics: (topics ?? []).map(hex) }])
  }
  const originalHandlePeer = Object.prototype.hasOwnProperty.call(swarm, '_handlePeer') ? swarm._handlePeer : undefined
  const protoHandlePeer = swarm._handlePeer
  if (protoHandlePeer !== undefined) {
    swarm._handlePeer = function (peer, topic) {
      protoHandlePeer.call(swarm, peer, topic)
      try { offer(peer.publicKey, [topic]) } catch {}
    }
  }
  for (const info of swarm.peers.values()) offer(info.publicKey, info.topics)

  // ── topic quotas ────────────────────────────────────────────────────────
  const originalJoin = Object.prototype.hasOwnProperty.call(swarm, 'join') ? swarm.join : undefined
  const originalLeave = Object.prototype.hasOwnProperty.call(swarm, 'leave') ? swarm.leave : undefined
  if (topicQuota !== undefined) {
    const protoJoin = swarm.join
    const protoLeave = swarm.leave
    for (const topic of swarm._discovery?.keys() ?? []) manager.setTopicQuota(topic, topicQuota)
    swarm.join = function (topic, opts) {
      const session = protoJoin.call(swarm, topic, opts)
      if (!closed) manager.setTopicQuota(hex(topic), topicQuota)
      return session
    }
    swarm.leave = async function (topic) {
      if (!closed && topic != null) manager.setTopicQuota(hex(topic), undefined)
      return await protoLeave.call(swarm, topic)
    }
  }

  // ── connections ─────────────────────────────────────────────────────────
  const onConnection = (conn: HyperswarmConnection, info: HyperswarmPeerInfo | undefined): void => {
    conn.on('error', noop)
    const peer = hex(conn.remotePublicKey)
    const c: Connection = {
      id: `hyperswarm-${++nextId}`,
      peer,
      direction: conn.isInitiator ? 'outbound' : 'inbound',
      address: PREFIX + peer,
      close: () => { conn.destroy() }
    }
    let open = true
    conn.on('close', () => {
      open = false
      if (live.get(peer) === c) live.delete(peer)
      manager.disconnected(c)
    })
    if (closed) { conn.destroy(); return }
    if (info?.topics !== undefined && info.topics.length > 0) offer(conn.remotePublicKey, info.topics)
    const accepted = manager.connected(c)
    // Our explicit join served its purpose (or the peer dialled us): Hyperswarm must not redial it on its own.
    if (waiting.has(peer)) swarm.leavePeer(conn.remotePublicKey)
    const waiters = waiting.get(peer)
    waiting.delete(peer)
    if (accepted && open) {
      live.set(peer, c)
      waiters?.forEach((w) => { w.resolve(c) })
    } else {
      const err = new PeerwardenError('ERR_DIAL_FAILED', `the connection to ${peer} was refused by the manager`)
      waiters?.forEach((w) => { w.reject(err) })
    }
  }
  swarm.on('connection', onConnection)

  // ── dialing ─────────────────────────────────────────────────────────────
  function dial (address: string, opts: { signal: AbortSignal }): Promise<Connection> {
    if (!address.startsWith(PREFIX)) return Promise.reject(new PeerwardenError('ERR_DIAL_FAILED', `not a hyperswarm address: ${address}`))
    const peer = address.slice(PREFIX.length).toLowerCase()
    if (!HEX_KEY.test(peer)) return Promise.reject(new PeerwardenError('ERR_DIAL_FAILED', `not a 32-byte hex key: ${address}`))
    if (closed || swarm.destroyed === true) return Promise.reject(new PeerwardenError('ERR_CLOSED', 'the swarm or the manager is closed'))
    if (opts.signal.aborted) return Promise.reject(opts.signal.reason)
    const existing = live.get(peer)
    if (existing !== undefined) return Promise.resolve(existing)
    const key = Buffer.from(peer, 'hex')
    return new Promise<Connection>((resolve, reject) => {
      const onAbort = (): void => {
        const set = waiting.get(peer)
        set?.delete(waiter)
        if (set !== undefined && set.size === 0) {
          waiting.delete(peer)
          swarm.leavePeer(key)
        }
        reject(opts.signal.reason)
      }
      const waiter: Waiter = {
        resolve: (c) => { opts.signal.removeEventListener('abort', onAbort); resolve(c) },
        reject: (e) => { opts.signal.removeEventListener('abort', onAbort); reject(e) }
      }
      let set = waiting.get(peer)
      if (set === undefined) waiting.set(peer, (set = new Set()))
      set.add(waiter)
      opts.signal.addEventListener('abort', onAbort, { once: true })
      // The manager owns the backoff: forget Hyperswarm's (explicit peers stop after 5 attempts, and
      // wait attempts × 1 s after a disconnect), and lift a firewall ban the manager no longer holds.
      const info = swarm.peers.get(peer)
      if (info !== undefined) {
        if (info.banned === true && !refusedByManager(peer)) info.ban?.(false)
        info.attempts = 0
        info.disconnectedTime = 0
      }
      try {
        swarm.joinPeer(key)
        // joinPeer only drains the explicit peers when the key was not queued already.
        swarm._attemptClientConnections?.()
      } catch (err) {
        waiter.reject(err instanceof Error ? err : new PeerwardenError('ERR_DIAL_FAILED', String(err)))
        onAbort() // tidy up (the promise is already settled)
      }
    })
  }

  manager.start()
  // Connections the swarm already holds are counted too (and trimmed like any other).
  for (const conn of [...swarm.connections]) {
    const c = conn as HyperswarmConnection
    if (c?.remotePublicKey instanceof Uint8Array) onConnection(c, swarm.peers.get(hex(c.remotePublicKey)))
  }

  return {
    manager,
    async close (): Promise<void> {
      if (closed) return
      closed = true
      swarm.removeListener('connection', onConnection)
      if (swarm._firewall === firewall) swarm._firewall = userFirewall
      if (originalHandlePeer !== undefined) swarm._handlePeer = originalHandlePeer
      else delete swarm._handlePeer
      if (topicQuota !== undefined) {
        if (originalJoin !== undefined) swarm.join = originalJoin
        else delete (swarm as Partial<HyperswarmLike>).join
        if (originalLeave !== undefined) swarm.leave = originalLeave
        else delete (swarm as Partial<HyperswarmLike>).leave
      }
      swarm.maxPeers = saved.maxPeers
      swarm.maxClientConnections = saved.maxClientConnections
      const err = new PeerwardenError('ERR_CLOSED', 'the manager is closed')
      for (const [peer, set] of waiting) {
        if (swarm.destroyed !== true) swarm.leavePeer(Buffer.from(peer, 'hex'))
        set.forEach((w) => { w.reject(err) })
      }
      waiting.clear()
      await manager.close()
      live.clear()
    }
  }
}
