import c from 'compact-encoding'
import type { Channel, Message } from 'protomux'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { NodeConnection } from '../node/connection.js'
import { loadIdentity } from '../node/identity.js'
import { createNode, type PeerNode } from '../node/node.js'
import { issue, type Certificate } from './certificate.js'
import { Schema, type MeshSchema } from './schema.js'

export const REGISTRY_PROTOCOL = 'peerwarden/mesh-registry/1'

/** A mesh node as the registry lists it. */
export interface DirectoryEntry { peer: string; role: string; variant: string; addresses: string[] }

export type RegistryMessage =
  | { t: 'register'; role: string; variant: string; addresses: string[] }
  | { t: 'registered'; cert: Certificate; directory: DirectoryEntry[] }
  | { t: 'refused'; reason: string }
  | { t: 'joined'; entry: DirectoryEntry }
  | { t: 'left'; peer: string }

export interface RegistryOptions {
  schema: MeshSchema
  listen?: string[]
  networkKey?: string | Uint8Array
  dataDir?: string
  /** How long a certificate is valid. Default 24 h; nodes re-register as it nears expiry. */
  certificateTtl?: number
  /**
   * Who may hold which role. Default: any node that reached the registry (it passed the network
   * key). Return false to refuse the registration.
   */
  authorize?: (peer: string, role: string, variant: string) => boolean
  /** Certificates' expiry, and the node under the registry, run on it. Default: the system clock. */
  clock?: Clock
}

export interface MeshRegistry {
  readonly id: string
  readonly addresses: string[]
  /** The current members. */
  members(): DirectoryEntry[]
  close(): Promise<void>
}

/**
 * The seed's Master Node: every mesh node registers with it (role, variant, addresses); it signs a
 * certificate binding the role to the node's key, tells the node which others it may connect to,
 * and tells those about newcomers and departures. It is itself a peerwarden node.
 *
 * Rules:
 * - A role that is not in the schema, or that `authorize` refuses, is refused with a reason.
 * - A member's connection is protected while it is registered; when it goes, the member leaves
 *   and the nodes related to it by the schema hear `left`.
 */
export async function createRegistry (options: RegistryOptions): Promise<MeshRegistry> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  const schema = new Schema(options.schema)
  const seed = randomSeed(options.dataDir)
  const keyPair = loadIdentity({ seed: options.dataDir === undefined ? seed : undefined, dataDir: options.dataDir })
  const ttl = options.certificateTtl ?? 24 * 3_600_000
  const node: PeerNode = await createNode({
    seed: options.dataDir === undefined ? seed : undefined,
    dataDir: options.dataDir,
    listen: options.listen,
    networkKey: options.networkKey,
    manager: { lowWater: 0, highWater: 4096, clock: options.clock }
  })
  const members = new Map<string, { entry: DirectoryEntry; send: Message<RegistryMessage> }>()

  const related = (role: string): Set<string> => new Set(schema.peersOf(role))

  node.protocol(REGISTRY_PROTOCOL, (conn: NodeConnection) => {
    let send: Message<RegistryMessage> | undefined
    const channel: Channel | null = conn.mux.createChannel({
      protocol: REGISTRY_PROTOCOL,
      onclose: () => { leave(conn.peer, send) }
    })
    if (channel === null) return
    send = channel.addMessage<RegistryMessage>({
      encoding: c.json,
      onmessage: (msg) => {
        if (msg?.t !== 'register') return
        const role = schema.role(String(msg.role))
        const variant = typeof msg.variant === 'string' && msg.variant.length > 0 ? msg.variant.slice(0, 64) : conn.peer.slice(0, 8)
        if (role === undefined) { send!.send({ t: 'refused', reason: `unknown role ${JSON.stringify(msg.role)}` }); return }
        if (options.authorize !== undefined && !options.authorize(conn.peer, role.name, variant)) {
          send!.send({ t: 'refused', reason: `peer may not hold role ${role.name}` })
          return
        }
        const addresses = Array.isArray(msg.addresses) ? msg.addresses.filter((a) => typeof a === 'string').slice(0, 8) : conn.remoteListen
        const entry: DirectoryEntry = { peer: conn.peer, role: role.name, variant, addresses }
        const cert = issue(keyPair.secretKey, { role: role.name, variant, peer: conn.peer, registry: node.id, expires: (options.clock ?? systemClock).now() + ttl })
        const mine = related(role.name)
        const directory = [...members.values()].map((m) => m.entry).filter((m) => m.peer !== conn.peer && mine.has(m.role))
        members.set(conn.peer, { entry, send: send! })
        node.manager.protect(conn.peer, 'mesh-member')
        send!.send({ t: 'registered', cert, directory })
        for (const m of members.values()) {
          if (m.entry.peer !== conn.peer && related(m.entry.role).has(role.name)) m.send.send({ t: 'joined', entry })
        }
      }
    })
    channel.open()
  })

  const leave = (peer: string, send: Message<RegistryMessage> | undefined): void => {
    const m = members.get(peer)
    if (m === undefined || m.send !== send) return
    members.delete(peer)
    node.manager.unprotect(peer, 'mesh-member')
    for (const other of members.values()) {
      if (related(other.entry.role).has(m.entry.role)) other.send.send({ t: 'left', peer })
    }
  }

  return {
    id: node.id,
    get addresses () { return node.addresses.map((a) => `${a}#${node.id}`) },
    members: () => [...members.values()].map((m) => ({ ...m.entry })),
    close: async () => { await node.close() }
  }
}

function randomSeed (dataDir: string | undefined): Buffer | undefined {
  if (dataDir !== undefined) return undefined
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32)))
}
