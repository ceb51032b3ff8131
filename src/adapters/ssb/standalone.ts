/**
 * `Manager({ connectToPeer })`: sbot-connection-manager's factory, for an application that wires
 * the connections itself (`connectToPeer` is normally `sbot.connect`).
 *
 * Rules:
 * - Outbound RPCs are the ones `connectToPeer` calls back with: counted, and closed by the manager
 *   (`rpc.close(true)`) when it trims or bans. An RPC is forgotten on its 'closed' event, so the
 *   RPC must be an event emitter (secret-stack's are).
 * - Inbound connections are the application's to report: `connections.remotePeerConnected(id, rpc)`.
 *   Without the `rpc`, the manager only learns the peer (it cannot count or close what it cannot see).
 * - Off by default: nothing is dialled before `connections.start()`. `close()` closes the manager.
 */
import { PeerwardenError } from '../../errors.js'
import { createConnectionManager } from '../../manager/manager.js'
import { ACCESS_ENTRY } from '../../manager/access-list.js'
import { MANAGER_OPTIONS, rejectUnknownOptions } from '../../manager/validate.js'
import { isFeedId, ssbAccessEntry } from './addresses.js'
import { createSsbApi } from './api.js'
import { dialRpc } from './dial.js'
import { managerOptions } from './plugin.js'
import { RpcConnections } from './rpc-connections.js'
import type { ConnectionManagerOptions } from '../../manager/types.js'
import type { SsbConnectionManager, StandaloneOptions } from './types.js'

/** What `Manager` returns: the API, plus `close()`. */
export interface SsbStandaloneManager extends SsbConnectionManager {
  /** Closes the manager: its connections, timers and store. Idempotent. */
  close(): Promise<void>
}

const MADE_HERE = new Set(['dial', 'localPeer', 'prioritise'])

/** sbot-connection-manager's factory (see the module comment). */
export function Manager (opts: StandaloneOptions): SsbStandaloneManager {
  if (opts == null || typeof opts !== 'object') throw PeerwardenError.invalid('Manager options must be an object with connectToPeer')
  rejectUnknownOptions('Manager options', opts, [...MANAGER_OPTIONS.filter((n) => !MADE_HERE.has(n)), 'connectToPeer', 'id', 'onPrioritise', 'logger'])
  const { connectToPeer, id, ...rest } = opts
  if (typeof connectToPeer !== 'function') throw PeerwardenError.invalid('connectToPeer must be a function (address, cb)')
  if (id !== undefined && !isFeedId(id)) throw PeerwardenError.invalid(`id must be a feed id (@…=.ed25519), got ${JSON.stringify(id)}`)
  const made = managerOptions(rest)
  const manager = createConnectionManager({
    ...made.manager,
    ...(id !== undefined ? { localPeer: id } : {}),
    dial: async (address, { signal }) => await dialRpc(connectToPeer, rpcs, address, signal),
    // Run-time entries (deny, allow, a ban by IP): feed ids, IPs; an address is the feed id it names.
    [ACCESS_ENTRY]: ssbAccessEntry
  } as ConnectionManagerOptions)
  const rpcs = new RpcConnections(manager, () => id)
  const api = createSsbApi({ manager, rpcs, openRpcs: () => [], setPrioritise: made.setPrioritise }) as SsbStandaloneManager
  Object.defineProperty(api, 'close', { value: async () => { await manager.close() }, enumerable: false })
  return api
}
