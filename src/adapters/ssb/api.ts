/**
 * The sbot-connection-manager API (its names: `peers.add`, `connections.setMax`,
 * `connection.errors()`…) over a peerwarden connection manager. The plugin and the standalone
 * `Manager` both hand this out; only how connections are reported differs.
 *
 * Rules:
 * - A peer is named by its multiserver address or its feed id. An address whose `shs` key names a
 *   feed id is filed under that id (so a ban by address also refuses the id inbound); any other
 *   address stands for its peer until a handshake tells the id.
 * - Priorities take either spelling: `HIGH`/`MED`/`MEDIUM`/`LOW`/`BANNED` or the manager's
 *   `high`/`medium`/`low`/`banned`. Anything else is refused with ERR_INVALID_ARGUMENT naming the field.
 * - Methods that finish later (`connections.stop`, `connectNow`) return a promise and also take a
 *   trailing node-style callback (muxrpc's `async`); with a callback the promise never rejects.
 * - Long-term and permanent peers are off by default (a peer is neither until the application says so).
 */
import { PeerwardenError } from '../../errors.js'
import type { ConnectionManager, DialFailure, PeerInput, Priority } from '../../manager/types.js'
import { feedIdOf, isFeedId, isMultiserverAddress } from './addresses.js'
import { pullSource } from './pull-source.js'
import type { RpcConnections } from './rpc-connections.js'
import type { RoomStats } from '../room-policy.js'
import type { NodeCallback, OnPrioritise, RpcLike, SsbConnectionError, SsbConnectionManager, SsbPeerInput, SsbPriorityUpdate } from './types.js'

/** The priorities under sbot-connection-manager's names (`priority.MED` is the manager's `'medium'`). */
export const priority = { HIGH: 'high', MED: 'medium', MEDIUM: 'medium', LOW: 'low', BANNED: 'banned' } as const satisfies Record<string, Priority>

const PRIORITIES: Readonly<Record<string, Priority>> = {
  ...priority,
  high: 'high',
  medium: 'medium',
  low: 'low',
  banned: 'banned'
}

/** The manager's priority for either spelling; throws ERR_INVALID_ARGUMENT naming `field` otherwise. */
export function toPriority (name: unknown, field: string): Priority {
  const p = typeof name === 'string' && Object.hasOwn(PRIORITIES, name) ? PRIORITIES[name] : undefined
  if (p === undefined) throw PeerwardenError.invalid(`${field} must be one of HIGH, MED, LOW, BANNED (or high, medium, low, banned), got ${JSON.stringify(name)}`)
  return p
}

/** A peer named by address or id, as the manager knows it: the feed id when one is known, else the address. */
function peerKey (peer: unknown, field: string): string {
  if (isFeedId(peer)) return peer
  if (isMultiserverAddress(peer)) return feedIdOf(peer) ?? peer
  throw PeerwardenError.invalid(`${field} must be a feed id (@…=.ed25519) or a multiserver address, got ${JSON.stringify(peer)}`)
}

/** `{ address, id }` checked; the id read from the address when not given. */
function identify (p: { address?: unknown; id?: unknown }, field: string): { id?: string; address?: string } {
  if (p == null || typeof p !== 'object') throw PeerwardenError.invalid(`${field} must be an object with an address or an id`)
  const { address, id } = p
  if (address !== undefined && !isMultiserverAddress(address)) throw PeerwardenError.invalid(`${field}.address must be a multiserver address (net:HOST:PORT~shs:KEY), got ${JSON.stringify(address)}`)
  if (id !== undefined && !isFeedId(id)) throw PeerwardenError.invalid(`${field}.id must be a feed id (@…=.ed25519), got ${JSON.stringify(id)}`)
  if (address === undefined && id === undefined) throw PeerwardenError.invalid(`${field} needs an address or an id`)
  const resolved = id ?? (address !== undefined ? feedIdOf(address) : undefined)
  return { ...(resolved !== undefined ? { id: resolved } : {}), ...(address !== undefined ? { address } : {}) }
}

function list<T> (value: unknown, field: string): T[] {
  if (!Array.isArray(value)) throw PeerwardenError.invalid(`${field} must be an array`)
  return value as T[]
}

function withCallback (promise: Promise<void>, cb: NodeCallback | undefined): Promise<void> {
  if (typeof cb !== 'function') return promise
  return promise.then(() => { cb(null) }, (err: unknown) => { cb(err instanceof Error ? err : new Error(String(err))) })
}

/** What the API needs besides the manager. */
export interface SsbApiHost {
  readonly manager: ConnectionManager
  readonly rpcs: RpcConnections
  /** The open RPCs of a peer the server knows of (the plugin: secret-stack's `peers` table); none standalone. */
  openRpcs(peer: string): RpcLike[]
  /** Replaces the `prioritise` hook the manager consults. */
  setPrioritise(hook: OnPrioritise | undefined): void
  /** The room's figures (the plugin's; the standalone manager makes no room). */
  roomStats?: () => RoomStats
}

/** The sbot-connection-manager API over `host.manager` (see the module comment). */
export function createSsbApi (host: SsbApiHost): SsbConnectionManager {
  const { manager, rpcs } = host

  const addPeers = (peers: unknown): void => {
    const inputs: PeerInput[] = list<SsbPeerInput>(peers, 'peers').map((p, i) => {
      const { id, address } = identify(p, `peers[${i}]`)
      return {
        ...(id !== undefined ? { id } : {}),
        ...(address !== undefined ? { address } : {}),
        ...(p.priority !== undefined ? { priority: toPriority(p.priority, `peers[${i}].priority`) } : {}),
        ...(p.longTerm !== undefined ? { longTerm: p.longTerm } : {})
      }
    })
    manager.addPeers(inputs)
  }

  /** The manager's key for `peer`, after teaching it the address's id (so both name one record). */
  const known = (peer: unknown, field: string): string => {
    const key = peerKey(peer, field)
    if (key !== peer && typeof peer === 'string') manager.addPeers([{ id: key, address: peer }])
    return key
  }

  const api: Omit<SsbConnectionManager, 'manager'> = {
    peers: {
      add: (peers: SsbPeerInput[]): void => { addPeers(peers) },
      setPriority: (updates: SsbPriorityUpdate[]): void => {
        const checked = list<SsbPriorityUpdate>(updates, 'peers').map((u, i) => {
          const { id, address } = identify(u, `peers[${i}]`)
          return { id, address, priority: toPriority(u.priority, `peers[${i}].priority`) }
        })
        for (const { id, address } of checked) if (id !== undefined && address !== undefined) manager.addPeers([{ id, address }])
        manager.setPriority(checked.map(({ id, address, priority }) => ({ peer: (id ?? address)!, priority })))
      },
      setLongTerm: (peer: string, longTerm: boolean): void => { manager.setLongTerm(known(peer, 'peer'), longTerm) },
      forget: (peer: string): void => { manager.forgetPeer(peerKey(peer, 'peer')) },
      observe: (listener) => manager.observePeers(listener),
      list: () => manager.listPeers()
    },
    connections: {
      start: (): void => { manager.start() },
      stop: async (cb?: NodeCallback): Promise<void> => { await withCallback(manager.stop(), cb) },
      setMax: (max: number): void => { manager.setMaxConnections(max) },
      setLifetime: (ms: number | undefined): void => { manager.setLifetime(ms) },
      remotePeerConnected: (peerId: string, rpc?: RpcLike): void => {
        if (!isFeedId(peerId)) throw PeerwardenError.invalid(`peerId must be a feed id (@…=.ed25519), got ${JSON.stringify(peerId)}`)
        const open = rpc !== undefined ? [rpc] : host.openRpcs(peerId)
        if (open.length === 0) { manager.addPeers([{ id: peerId }]); return }
        for (const r of open) if (r?.id === undefined || r.id === peerId) rpcs.report(r, 'inbound')
      },
      connectNow: async (peer: string, opts?: { permanent?: boolean } | NodeCallback, cb?: NodeCallback): Promise<void> => {
        if (typeof opts === 'function') { cb = opts; opts = undefined }
        const permanent = opts?.permanent === true
        const dial = (async () => { await manager.connectNow(known(peer, 'peer'), { permanent }) })()
        await withCallback(dial, cb)
      }
    },
    connection: {
      errors: () => pullSource(failures(manager))
    },
    initialSync: {
      start: (peer?: string): void => { manager.initialSync.start(peer === undefined ? undefined : known(peer, 'peer')) },
      stop: (): void => { manager.initialSync.stop() }
    },
    onPrioritise: (hook: OnPrioritise | undefined): void => {
      if (hook !== undefined && typeof hook !== 'function') throw PeerwardenError.invalid('onPrioritise takes a function or undefined')
      host.setPrioritise(hook)
    }
  }
  // Not enumerable: secret-stack copies a plugin's API object by its enumerable fields, and would
  // flatten the manager into a plain object without its methods.
  Object.defineProperty(api, 'manager', { value: manager, enumerable: false })
  if (host.roomStats !== undefined) Object.defineProperty(api, 'roomStats', { value: host.roomStats, enumerable: false })
  return api as SsbConnectionManager
}

/** The manager's dial failures from now on, as `connection.errors()` yields them. */
function failures (manager: ConnectionManager): AsyncIterator<SsbConnectionError> {
  // Subscribed now (not at the first read): the failures after the call are the stream's.
  const inner = manager.errors()[Symbol.asyncIterator]()
  const shape = (f: DialFailure): SsbConnectionError => ({
    peer: f.address,
    ...(f.peer !== undefined && isFeedId(f.peer) ? { id: f.peer } : {}),
    error: f.error,
    at: f.at
  })
  return {
    next: async () => {
      const r = await inner.next()
      return r.done === true ? { done: true, value: undefined } : { done: false, value: shape(r.value) }
    },
    return: async () => {
      await inner.return?.()
      return { done: true, value: undefined }
    }
  }
}
