/**
 * The registry's status channel ('peerwarden/mesh-status/1'): what `peerwarden mesh status` and
 * `peerwarden mesh call` ask a registry — its members and the outline of its schema.
 *
 * Rules:
 * - A registry answers whoever may register with it: any peer that reached it when it has no
 *   `authorize` hook (the network key, or `open`, already decided), else only a peer registered now.
 *   Others get `{ t: 'refused' }` with the reason.
 * - The schema travels as its outline: roles, `_allow`, `_connect`, command names with `responds`,
 *   `queued` and `timeout` — never a handler. The outline is itself a schema (commands without
 *   methods): a node built on it can call every command.
 * - Each member carries its last health report when it sent one (`health`; an older client drops the
 *   field, an older registry sends none).
 * - Both sides decode what they receive (one valibot schema per message); a message that does not
 *   decode closes the connection ('protocol'). Budgets: at most `MAX_DIRECTORY` members, 1024 roles,
 *   1024 names per list or command group.
 * - The members listed are those that fit in one message with the outline (at most `MAX_DIRECTORY`).
 * - A client asks once per connection (`askStatus` does). An answer can be megabytes for a request of
 *   a few bytes, so a peer that asks more than `MAX_STATUS_REQUESTS` (8) times on one connection is
 *   closed ('protocol') instead of answered again.
 * - Across connections, answers are budgeted per source address range (an IPv4 /24, an IPv6 /48):
 *   `bytesPerMinute` of answers (16 MiB by default; 256 MiB for a local range: loopback, where every
 *   local tool shares one address, or a private network), each answer counted as at least
 *   `MIN_STATUS_COST` bytes. Past it the asker
 *   gets `{ t: 'refused' }` with when to ask again — never silence that hangs it.
 */
import * as v from 'valibot'
import type { Message } from '../node/vendor/protomux.js'
import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import type { NodeConnection } from '../node/connection.js'
import type { PeerNode } from '../node/node.js'
import { addressList, decoder, MAX_MESSAGE_BYTES, peerHandler, peerIdField, safeJson, smallJson } from '../node/wire.js'
import { healthShape, MAX_COMMAND_LENGTH, MAX_DIRECTORY, MAX_REASON_LENGTH, MAX_ROLE_LENGTH, MAX_VARIANT_LENGTH, type HealthReport } from './messages.js'
import type { RangeBudget } from '../node/range-budget.js'
import type { MeshSchema, Schema } from './schema.js'

export const STATUS_PROTOCOL = 'peerwarden/mesh-status/1'

/** Status requests one connection may make; the next one closes it ('protocol'). */
export const MAX_STATUS_REQUESTS = 8

/** Default status answer bytes a minute per source address range (an IPv4 /24, an IPv6 /48). */
export const STATUS_BYTES_PER_MINUTE = 16 * 1024 * 1024
/** Default status answer bytes a minute per local range (loopback: every local tool and dashboard shares it; a private network). */
export const LOCAL_STATUS_BYTES_PER_MINUTE = 256 * 1024 * 1024
/** What one status answer costs a range at least (bytes): small answers are not free. */
export const MIN_STATUS_COST = 4096

/** At most this many roles, and names in one list or command group, in a schema outline. */
export const MAX_OUTLINE_NAMES = 1024

/** A member as the registry's status lists it. */
export interface MemberStatus {
  peer: string
  role: string
  variant: string
  addresses: string[]
  /** When it (last) registered, ms since epoch on the registry's clock. */
  since: number
  /** When the certificate the registry signed for it expires. */
  expires: number
  /**
   * Its last health report: draining, and the breakers it holds that are not closed (by the peer id
   * of the instance each is against). Absent until it sent one (a node that is up and has no breaker
   * open sends none), or from an older node or registry.
   */
  health?: HealthReport
}

/** At most this many breakers, over all members, in one status answer (the rest are left out). */
export const MAX_STATUS_BREAKERS = 16_384

/**
 * The members as the status shows them, each with its last health report if it sent one. The
 * breakers of all members are bounded together by `budget` (one answer must fit one message): past
 * it, a member's report keeps only whether it drains.
 */
export function memberStatuses (members: Iterable<{ entry: Omit<MemberStatus, 'since' | 'expires' | 'health'>; since: number; expires: number; health?: HealthReport }>, budget = MAX_STATUS_BREAKERS): MemberStatus[] {
  const out: MemberStatus[] = []
  for (const m of members) {
    const row: MemberStatus = { ...m.entry, since: m.since, expires: m.expires }
    if (m.health !== undefined) {
      const breakers = m.health.breakers.slice(0, Math.max(0, budget))
      budget -= breakers.length
      row.health = { draining: m.health.draining, breakers }
    }
    out.push(row)
  }
  return out
}

/** What a registry answers on its status channel. */
export interface RegistryStatus {
  /** The registry's id. */
  registry: string
  members: MemberStatus[]
  /** The registry's schema without its handlers: usable as the `schema` of a node that only calls. */
  schema: MeshSchema
}

const roleName = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ROLE_LENGTH))
const commandName = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_COMMAND_LENGTH))
const time = v.pipe(v.number(), v.finite(), v.minValue(0))
const names = v.pipe(v.array(roleName), v.maxLength(MAX_OUTLINE_NAMES))
/** A record of at most MAX_OUTLINE_NAMES keys. */
const bounded = <S extends v.GenericSchema>(key: v.GenericSchema<string, string>, value: S) =>
  v.pipe(v.record(key, value), v.check((o) => Object.keys(o).length <= MAX_OUTLINE_NAMES, `more than ${MAX_OUTLINE_NAMES} entries`))
const command = v.object({ responds: v.optional(v.boolean()), queued: v.optional(v.boolean()), timeout: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0))) })
type CommandOutline = v.InferOutput<typeof command>
const roleOutline = v.object({
  _allow: v.optional(v.union([v.literal('anyNode'), names])),
  _connect: v.optional(names),
  _commands: v.optional(v.object({ _balanced: v.optional(bounded(commandName, command)), _broadcast: v.optional(bounded(commandName, command)) }))
})
const outlineShape = bounded(roleName, roleOutline)
/** A schema's outline (what `schemaOutline` makes): a schema whose commands have no method. */
export type SchemaOutline = v.InferOutput<typeof outlineShape>
const member = v.object({ peer: peerIdField, role: roleName, variant: v.pipe(v.string(), v.maxLength(MAX_VARIANT_LENGTH)), addresses: addressList, since: time, expires: time, health: v.optional(healthShape) })

const toRegistry = v.variant('t', [v.object({ t: v.literal('status') })])
const fromRegistry = v.variant('t', [
  v.object({ t: v.literal('status'), registry: peerIdField, members: v.pipe(v.array(member), v.maxLength(MAX_DIRECTORY)), schema: outlineShape }),
  v.object({ t: v.literal('refused'), reason: v.pipe(v.string(), v.maxLength(MAX_REASON_LENGTH)) })
])
type StatusMessage = v.InferOutput<typeof toRegistry> | v.InferOutput<typeof fromRegistry>
const decodeToRegistry = decoder(toRegistry)
const decodeFromRegistry = decoder(fromRegistry)

/** The outline of a validated schema: roles, relations and command settings, no handler. */
export function schemaOutline (schema: Schema): SchemaOutline {
  const out: SchemaOutline = {}
  for (const role of schema.roles.values()) {
    const balanced: Record<string, CommandOutline> = {}
    const broadcast: Record<string, CommandOutline> = {}
    for (const c of role.commands.values()) {
      const entry: CommandOutline = { responds: c.responds, ...(c.queued ? { queued: true } : {}), ...(c.timeout !== undefined ? { timeout: c.timeout } : {}) }
      if (c.kind === 'balanced') balanced[c.name] = entry
      else broadcast[c.name] = entry
    }
    out[role.name] = {
      _allow: role.allow === undefined ? 'anyNode' : [...role.allow],
      _connect: [...role.connect],
      _commands: { _balanced: balanced, _broadcast: broadcast }
    }
  }
  return out
}

/** What the registry's side of the channel needs. */
export interface StatusSource {
  id: string
  /** Whether `peer` may see the status (see the rules above). */
  mayAsk: (peer: string) => boolean
  members: () => MemberStatus[]
  outline: SchemaOutline
  /** Answer bytes per source address range (see the rules above). Default: none. */
  budget?: RangeBudget
}

/** The registry's side: serves the status channel on every connection. */
export function serveStatus (node: PeerNode, source: StatusSource): void {
  node.protocol(STATUS_PROTOCOL, (conn: NodeConnection) => {
    const channel = conn.mux.createChannel({ protocol: STATUS_PROTOCOL })
    if (channel === null) return
    let asked = 0
    const send: Message<StatusMessage> = channel.addMessage<StatusMessage>({
      // Anyone may ask, in a few bytes: a larger message is not parsed.
      encoding: smallJson,
      onmessage: peerHandler(decodeToRegistry, () => {
        if (++asked > MAX_STATUS_REQUESTS) { conn.protocolError(`status channel: more than ${MAX_STATUS_REQUESTS} status requests on one connection`); return }
        if (!source.mayAsk(conn.peer)) { send.send({ t: 'refused', reason: 'only a registered member may see the status of this registry' }); return }
        const room = MAX_MESSAGE_BYTES - Buffer.byteLength(JSON.stringify(source.outline)) - 4096
        const answer: StatusMessage = { t: 'status', registry: source.id, members: fitting(source.members().slice(0, MAX_DIRECTORY), room), schema: source.outline }
        const wait = source.budget?.take(conn.address, Math.max(MIN_STATUS_COST, Buffer.byteLength(JSON.stringify(answer))), conn.peer) ?? 0
        if (wait > 0) { send.send({ t: 'refused', reason: `status answers to this address range are over budget: ask again in ${Math.ceil(wait / 1000)} s` }); return }
        send.send(answer)
      }, (why) => { conn.protocolError(`status channel: ${why}`) })
    })
    channel.open()
  })
}

/**
 * The first of `items` whose JSON fits in `maxBytes` (4096 members with 8 addresses of 256
 * characters each are about 10 MB, over what one message may be: the asker's transport would close
 * the connection on it). The status then lists the members that fit.
 */
export function fitting<T> (items: T[], maxBytes: number): T[] {
  let bytes = 2
  for (let i = 0; i < items.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(items[i])) + 1
    if (bytes > maxBytes) return items.slice(0, i)
  }
  return items
}

/** One registry's answer to {@link askStatus}: its status, or why there is none. */
export type StatusAnswer = { address: string; id: string } & ({ ok: true; status: RegistryStatus } | { ok: false; error: Error })

/**
 * Asks each registry (`tcp://host:port#id`, the id being the registry's key) for its status, from
 * `node` (which must be on the registries' network: same `networkKey`); once per node (it serves
 * the status protocol on it). One answer per registry, in order, each settled on its own: the
 * status, ERR_NOT_ALLOWED when the registry refuses, ERR_TIMEOUT after `timeout` ms (default 10 s;
 * also what a registry that does not serve the status channel gives), or the dial's error.
 */
export async function askStatus (node: PeerNode, registries: ReadonlyArray<{ address: string; id: string }>, opts: { timeout?: number; clock: Clock }): Promise<StatusAnswer[]> {
  const timeout = opts.timeout ?? 10_000
  const waiting = new Map<string, { resolve: (s: RegistryStatus) => void; reject: (e: Error) => void }>()
  const answers = registries.map(async (r) => await new Promise<RegistryStatus>((resolve, reject) => { waiting.set(r.id, { resolve, reject }) }))
  node.protocol(STATUS_PROTOCOL, (conn: NodeConnection) => {
    const settle = waiting.get(conn.peer)
    if (settle === undefined) return
    const channel = conn.mux.createChannel({ protocol: STATUS_PROTOCOL })
    if (channel === null) return
    const send: Message<StatusMessage> = channel.addMessage<StatusMessage>({
      encoding: safeJson,
      onmessage: peerHandler(decodeFromRegistry, (msg) => {
        if (msg.t === 'refused') settle.reject(new PeerwardenError('ERR_NOT_ALLOWED', `the registry refused: ${msg.reason}`))
        else if (msg.registry !== conn.peer) settle.reject(new PeerwardenError('ERR_PROTOCOL', 'the registry answered with another id'))
        else settle.resolve({ registry: msg.registry, members: msg.members, schema: msg.schema })
      }, (why) => { conn.protocolError(`status channel: ${why}`) })
    })
    channel.open()
    send.send({ t: 'status' })
  })
  const timer = opts.clock.setTimeout(() => {
    for (const s of waiting.values()) s.reject(new PeerwardenError('ERR_TIMEOUT', `no status within ${timeout} ms`))
  }, timeout)
  try {
    for (const r of registries) node.manager.connectNow(r.address).catch((err: Error) => { waiting.get(r.id)?.reject(err) })
    const settled = await Promise.allSettled(answers)
    return settled.map((s, i) => ({ address: registries[i].address, id: registries[i].id, ...(s.status === 'fulfilled' ? { ok: true as const, status: s.value } : { ok: false as const, error: s.reason as Error }) }))
  } finally {
    opts.clock.clearTimeout(timer)
  }
}
