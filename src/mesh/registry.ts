import type { Channel, Message } from '../node/vendor/protomux.js'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { childOf, silentLogger } from '../logger.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { NodeConnection } from '../node/connection.js'
import { loadIdentity } from '../node/identity.js'
import { createNode, type PeerNode } from '../node/node.js'
import { MAX_ADDRESS_LENGTH, MAX_ADDRESSES, MAX_MESSAGE_BYTES, peerHandler, smallJson } from '../node/wire.js'
import { issue } from './certificate.js'
import { HEALTH_INTERVAL } from './health.js'
import { decodeToRegistry, MAX_DIRECTORY, type HealthReport, type RegistryMessage, type ToRegistry } from './messages.js'
import { Schema } from './schema.js'
import { loggerOption } from './log-option.js'
import { vetAddresses } from './directory-addresses.js'
import { RegistryNotices } from './registry-notices.js'
import { RangeBudget } from '../node/range-budget.js'
import type { DirectoryEntry, MeshRegistry, RegistryOptions } from './registry-types.js'
import { fitting, LOCAL_STATUS_BYTES_PER_MINUTE, memberStatuses, schemaOutline, serveStatus, STATUS_BYTES_PER_MINUTE, type MemberStatus } from './registry-status.js'

export const REGISTRY_PROTOCOL = 'peerwarden/mesh-registry/1'

/** The window over which a member's health reports are counted (ms), and how many it may send in it: twice an honest member's most. */
const REPORT_WINDOW = 10 * HEALTH_INTERVAL
const MAX_REPORTS = 2 * (REPORT_WINDOW / HEALTH_INTERVAL)

/** Default new registrations a minute per source address range, and per local one (loopback, a private network: `registrationBudget`). */
const REGISTRATIONS_PER_MINUTE = 256
const LOCAL_REGISTRATIONS_PER_MINUTE = 4096
/** Default registration bytes a minute per source address range, and per local one (`registrationBudget`). */
const REGISTRATION_BYTES_PER_MINUTE = 64 * 1024 * 1024
const LOCAL_REGISTRATION_BYTES_PER_MINUTE = 4 * 1024 * 1024 * 1024

export type { RegistryMessage } from './messages.js'
export type { DirectoryEntry, MeshRegistry, RegistryOptions, RegistryStats } from './registry-types.js'

/** Every option `createRegistry` knows: others are refused with the closest name. */
const REGISTRY_OPTIONS: ReadonlyArray<keyof RegistryOptions> = ['schema', 'listen', 'networkKey', 'dataDir', 'certificateTtl', 'authorize', 'open', 'clock', 'maxMembers', 'logger', 'logLevel', 'statusBudget', 'registrationBudget']

/**
 * The registry (socketmesh's Master Node): every mesh node registers with it (role, variant, addresses); it signs a
 * certificate binding the role to the node's key, tells the node which others it may connect to,
 * and tells those about newcomers and departures. It is itself a peerwarden node.
 *
 * Rules:
 * - It signs roles only when told who may hold them: `networkKey` (whoever holds the key),
 *   `authorize` (the operator's hook), or `open: true` (anyone; warned at start). Without one of
 *   them it does not start (ERR_INVALID_ARGUMENT).
 * - A role that is not in the schema, or that `authorize` refuses (or throws for), is refused with a
 *   reason.
 * - Every message is decoded (messages.ts); one that does not decode closes that connection
 *   ('protocol').
 * - A member's connection is protected while it is registered; when it goes, the member leaves
 *   and the nodes related to it by the schema hear `left`. At most `maxMembers` members.
 * - A connection registers once, then renews when four fifths of its certificate's life have
 *   passed: a registration on the same connection within half a certificate's life of the last one
 *   it answered (signed or refused) closes that connection ('protocol'). (Each registration costs a
 *   signature, the directory sent back, a 'joined' to every related member, or a logged refusal: a
 *   flood would be multiplied.) New registrations (not renewals) are budgeted per source address
 *   range too (`registrationBudget`): identities churned from one range are refused with when to try
 *   again.
 * - The addresses a member registers are its word: the directory lists first those on the host its
 *   connection comes from, then at most 2 others marked `unproven`, which members take as hints
 *   (directory-addresses.ts): a member cannot make every related member dial a third party.
 * - It answers status questions (registry-status.ts) from whoever may register, with each member's
 *   last health report (draining, breakers not closed: health.ts); its 'registered' says
 *   `health: true` so that nodes send them. One status answer carries at most
 *   `MAX_STATUS_BREAKERS` (registry-status.ts) breakers over all members. A report from a peer that
 *   is not a member on that channel is ignored; one that does not decode closes the connection like
 *   any other message, and so do more than 20 reports from a member within 10 s (it sends one a
 *   second at most).
 * - Several registries may serve one mesh: each signs with its own key, and nodes given all of
 *   their addresses trust every one of them (mesh-node.ts). They share nothing but the schema.
 */
export async function createRegistry (options: RegistryOptions): Promise<MeshRegistry> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  rejectUnknownOptions('createRegistry options', options, REGISTRY_OPTIONS)
  if (options.networkKey === undefined && options.authorize === undefined && options.open !== true) {
    throw PeerwardenError.invalid('createRegistry needs networkKey, authorize, or open: true (without them it would sign any role for anyone who can connect)')
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') throw PeerwardenError.invalid('authorize must be a function')
  if (options.open !== undefined && typeof options.open !== 'boolean') throw PeerwardenError.invalid('open must be a boolean')
  const schema = new Schema(options.schema)
  const maxMembers = options.maxMembers ?? MAX_DIRECTORY
  if (!Number.isInteger(maxMembers) || maxMembers < 1) throw PeerwardenError.invalid('maxMembers must be a positive integer')
  const clock = options.clock ?? systemClock
  const statusBudget = new RangeBudget(
    positive('statusBudget.bytesPerMinute', options.statusBudget?.bytesPerMinute ?? STATUS_BYTES_PER_MINUTE),
    positive('statusBudget.localBytesPerMinute', options.statusBudget?.localBytesPerMinute ?? LOCAL_STATUS_BYTES_PER_MINUTE),
    clock
  )
  rejectUnknownOptions('registrationBudget', options.registrationBudget ?? {}, ['perMinute', 'localPerMinute', 'bytesPerMinute', 'localBytesPerMinute'])
  const registrations = new RangeBudget(
    positive('registrationBudget.perMinute', options.registrationBudget?.perMinute ?? REGISTRATIONS_PER_MINUTE),
    positive('registrationBudget.localPerMinute', options.registrationBudget?.localPerMinute ?? LOCAL_REGISTRATIONS_PER_MINUTE),
    clock
  )
  const registrationBytes = new RangeBudget(
    positive('registrationBudget.bytesPerMinute', options.registrationBudget?.bytesPerMinute ?? REGISTRATION_BYTES_PER_MINUTE),
    positive('registrationBudget.localBytesPerMinute', options.registrationBudget?.localBytesPerMinute ?? LOCAL_REGISTRATION_BYTES_PER_MINUTE),
    clock
  )
  const logger = loggerOption(options)
  if (options.networkKey === undefined && options.authorize === undefined) {
    process.emitWarning('the mesh registry is open: it signs any role for any node that can connect (give it networkKey or authorize)', { code: 'PEERWARDEN_OPEN_REGISTRY' })
  }
  const seed = randomSeed(options.dataDir)
  const keyPair = loadIdentity({ seed: options.dataDir === undefined ? seed : undefined, dataDir: options.dataDir })
  const ttl = options.certificateTtl ?? 24 * 3_600_000
  // A certificate's expiry must decode at the nodes (a finite time): NaN or Infinity would be refused by every node.
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) throw PeerwardenError.invalid('certificateTtl must be a finite number of ms > 0')
  const node: PeerNode = await createNode({
    seed: options.dataDir === undefined ? seed : undefined,
    dataDir: options.dataDir,
    listen: options.listen,
    networkKey: options.networkKey,
    manager: { lowWater: 0, highWater: 4096, clock: options.clock },
    // The registry's node writes its own lines (connections, handshakes) to the same logger.
    logger: logger === silentLogger ? undefined : childOf(logger, { component: 'node' })
  })
  const log = childOf(logger, { component: 'mesh-registry', registry: node.id.slice(0, 12) })
  const members = new Map<string, { entry: DirectoryEntry; send: Message<RegistryMessage>; since: number; expires: number; health?: HealthReport; reports?: { start: number; count: number } }>()

  const related = (role: string): Set<string> => new Set(schema.peersOf(role))
  // A member's joined/left goes to the members related to it when it goes out: coalesced per member
  // (registry-notices.ts), so that a member flapping its registration is not multiplied by its watchers.
  const notices = new RegistryNotices(clock, (notice) => {
    const [peer, role] = notice.t === 'joined' ? [notice.entry.peer, notice.entry.role] : [notice.peer, notice.role]
    const message: RegistryMessage = notice.t === 'joined' ? notice : { t: 'left', peer }
    for (const m of members.values()) {
      if (m.entry.peer !== peer && related(m.entry.role).has(role)) m.send.send(message)
    }
  })
  let registrationsOverBudget = 0
  let healthClaimsDropped = 0

  node.protocol(REGISTRY_PROTOCOL, (conn: NodeConnection) => {
    let send: Message<RegistryMessage> | undefined
    const channel: Channel | null = conn.mux.createChannel({
      protocol: REGISTRY_PROTOCOL,
      onclose: () => { leave(conn.peer, send) }
    })
    if (channel === null) return
    /** When this connection's last registration was answered (signed or refused). */
    let answeredAt = -Infinity
    send = channel.addMessage<RegistryMessage>({
      // What a member sends (a registration, a health report) is a few KiB: a larger message is not parsed.
      encoding: smallJson,
      onmessage: peerHandler(decodeToRegistry, (msg) => {
        if (msg.t === 'register') {
          if (clock.now() - answeredAt < ttl / 2) { conn.protocolError('registry channel: registered again within half a certificate\'s life'); return }
          answeredAt = clock.now()
          register(conn, msg, send!)
        } else reported(conn, msg, send!)
      }, (why) => { conn.protocolError(`registry channel: ${why}`) })
    })
    channel.open()
  })

  /** Signs `msg`'s registration, or refuses it. */
  const register = (conn: NodeConnection, msg: Extract<ToRegistry, { t: 'register' }>, send: Message<RegistryMessage>): void => {
    const role = schema.role(msg.role)
    const variant = msg.variant !== undefined && msg.variant.length > 0 ? msg.variant : conn.peer.slice(0, 8)
    const refuse = (reason: string): void => {
      log.warn({ peer: conn.peer, role: msg.role, variant, reason }, 'registration refused')
      send.send({ t: 'refused', reason })
    }
    if (role === undefined) { refuse(`unknown role ${JSON.stringify(msg.role)}`); return }
    if (options.authorize !== undefined && !allowed(conn.peer, role.name, variant)) { refuse(`peer may not hold role ${role.name}`); return }
    if (!members.has(conn.peer) && members.size >= maxMembers) { refuse(`the registry is full (${maxMembers} members)`); return }
    // Its bytes (renewals too), then, for a new one, the count: each is refused with when to try again.
    const bytesWait = registrationBytes.take(conn.address, Buffer.byteLength(JSON.stringify(msg)), conn.peer)
    const wait = bytesWait > 0 ? bytesWait : members.get(conn.peer)?.send !== send ? registrations.take(conn.address, 1, conn.peer) : 0
    if (wait > 0) {
      registrationsOverBudget++
      refuse(`registration${bytesWait > 0 ? ' bytes' : 's'} from this address range are over budget: try again in ${Math.ceil(wait / 1000)} s`)
      return
    }
    // What the node said in its hello, held to what the directory's decoder takes (each member reads it).
    const claimed = msg.addresses ?? conn.remoteListen.filter((a) => typeof a === 'string' && a.length >= 1 && a.length <= MAX_ADDRESS_LENGTH).slice(0, MAX_ADDRESSES)
    // Every related member dials these: the ones not on the host the member connects from are its word only.
    const { addresses, unproven } = vetAddresses(claimed, conn.address)
    const entry: DirectoryEntry = { peer: conn.peer, role: role.name, variant, addresses, ...(unproven > 0 ? { unproven } : {}) }
    const now = clock.now()
    const cert = issue(keyPair.secretKey, { role: role.name, variant, peer: conn.peer, registry: node.id, expires: now + ttl })
    const mine = related(role.name)
    const directory = [...members.values()].map((m) => m.entry).filter((m) => m.peer !== conn.peer && mine.has(m.role)).slice(0, MAX_DIRECTORY)
    const before = members.get(conn.peer)
    const renewal = before?.send === send
    members.set(conn.peer, { entry, send, since: renewal ? before.since : now, expires: cert.expires, health: renewal ? before.health : undefined })
    node.manager.protect(conn.peer, 'mesh-member')
    if (renewal) log.debug({ peer: conn.peer, role: role.name, variant }, 'certificate renewed')
    else log.info({ peer: conn.peer, role: role.name, variant, addresses }, 'member registered')
    // A directory that would not fit one message goes in parts: what fits, then a 'joined' per entry left.
    const [head, rest] = splitDirectory(directory)
    send.send({ t: 'registered', cert, directory: head, health: true })
    for (const e of rest) send.send({ t: 'joined', entry: e })
    notices.notify({ t: 'joined', entry })
  }

  /**
   * A member's health report: kept (the last one) while it is a member on this channel; from anyone
   * else, ignored. Its breakers are kept only against current members of a role its role may call.
   * A member sends one per `HEALTH_INTERVAL` at most: more than `MAX_REPORTS` within
   * `REPORT_WINDOW` is a flood (each flip of `draining` is a log line), and closes the connection.
   */
  const reported = (conn: NodeConnection, msg: Extract<ToRegistry, { t: 'health' }>, send: Message<RegistryMessage>): void => {
    const peer = conn.peer
    const m = members.get(peer)
    if (m === undefined || m.send !== send) return
    const now = clock.now()
    if (m.reports === undefined || now - m.reports.start >= REPORT_WINDOW) m.reports = { start: now, count: 0 }
    if (++m.reports.count > MAX_REPORTS) { conn.protocolError(`registry channel: over ${MAX_REPORTS} health reports within ${REPORT_WINDOW} ms`); return }
    if (m.health?.draining !== msg.draining) log.info({ peer, role: m.entry.role, variant: m.entry.variant, draining: msg.draining }, msg.draining ? 'member draining' : 'member up')
    // A breaker is the reporter's word: kept only against a current member whose role its role may
    // call (one it could have called), never against itself; the rest is dropped and counted.
    const breakers = msg.breakers.filter((b) => {
      const target = members.get(b.peer)
      return target !== undefined && b.peer !== peer && schema.canCall(m.entry.role, target.entry.role)
    })
    healthClaimsDropped += msg.breakers.length - breakers.length
    m.health = { draining: msg.draining, breakers }
  }

  /** The operator's hook; one that throws refuses (it never throws into the channel). */
  const allowed = (peer: string, role: string, variant: string): boolean => {
    try { return options.authorize!(peer, role, variant) === true } catch { return false }
  }

  const leave = (peer: string, send: Message<RegistryMessage> | undefined): void => {
    const m = members.get(peer)
    if (m === undefined || m.send !== send) return
    members.delete(peer)
    node.manager.unprotect(peer, 'mesh-member')
    log.info({ peer, role: m.entry.role, variant: m.entry.variant }, 'member left')
    notices.notify({ t: 'left', peer, role: m.entry.role })
  }

  const status = (): MemberStatus[] => memberStatuses(members.values())
  serveStatus(node, {
    id: node.id,
    // Whoever may register may see the status: with an authorize hook, only the members.
    mayAsk: (peer) => options.authorize === undefined || members.has(peer),
    members: status,
    outline: schemaOutline(schema),
    budget: statusBudget
  })

  return {
    id: node.id,
    get addresses () { return node.addresses.map((a) => `${a}#${node.id}`) },
    members: () => [...members.values()].map((m) => ({ ...m.entry })),
    status,
    stats: () => ({ members: members.size, registrationsOverBudget, healthClaimsDropped, notices: notices.stats() }),
    close: async () => { notices.close(); await node.close() }
  }
}

/** Bytes of directory entries one 'registered' message carries at most (room left for the certificate). */
export const DIRECTORY_BYTES = MAX_MESSAGE_BYTES - 64 * 1024

/**
 * `entries` split where their JSON reaches `maxBytes`: what goes in the 'registered' message, and
 * what follows as 'joined' messages. 4096 entries of 8 addresses of 256 characters are about 10 MB,
 * over what one message may be (the member's transport would close the connection on it).
 */
export function splitDirectory (entries: DirectoryEntry[], maxBytes = DIRECTORY_BYTES): [DirectoryEntry[], DirectoryEntry[]] {
  const head = fitting(entries, maxBytes)
  return [head, entries.slice(head.length)]
}

function randomSeed (dataDir: string | undefined): Buffer | undefined {
  if (dataDir !== undefined) return undefined
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32)))
}

/** `value` when it is a positive finite number, else ERR_INVALID_ARGUMENT naming `name`. */
function positive (name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw PeerwardenError.invalid(`${name} must be a positive number`)
  return value
}
