/**
 * The mesh node's orchestrator: registration, connections and certificates, wired to the caller
 * side (caller.ts) and the serving side (responder.ts). It holds no call or handler policy itself.
 *
 * Rules:
 * - An RPC channel's instance is listed only once both sides accepted each other's certificate; it
 *   is handed to the responder then, and taken from both sides when the channel closes.
 * - Every incoming RPC message is dispatched here by type: calls and cancels to the responder,
 *   acks and results to the caller.
 */

import type { Message } from '../node/vendor/protomux.js'
import { PeerwardenError } from '../errors.js'
import { systemClock } from '../clock.js'
import { ManagerEventTarget, type TypedEventTarget } from '../manager/events.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { NodeConnection } from '../node/connection.js'
import { createNode } from '../node/node.js'
import { parseTcpAddress } from '../node/transport.js'
import { MAX_ADDRESSES, peerHandler, safeJson } from '../node/wire.js'
import { Caller } from './caller.js'
import { check, type Certificate } from './certificate.js'
import type { Instance } from './instance.js'
import { decodeFromRegistry, decodeHello, decodeRpc, MAX_VARIANT_LENGTH, type FromRegistry, type RegistryMessage, type RpcMessage } from './messages.js'
import { RedisQueue } from './redis-queue.js'
import { REGISTRY_PROTOCOL, type DirectoryEntry } from './registry.js'
import { ReadyWaiters } from './ready.js'
import { Responder } from './responder.js'
import { jsonOnce, Outbox, type OutgoingRpc } from './rpc-wire.js'
import { Schema, type CallContext, type MeshSchema } from './schema.js'
import type { MeshEvents, MeshNode, MeshNodeOptions } from './types.js'

export type { MeshEvents, MeshNode, MeshNodeOptions } from './types.js'

export const RPC_PROTOCOL = 'peerwarden/mesh-rpc/1'

/**
 * A mesh node (socketmesh's SocketNode): registers with the registry, connects to the peers the schema lets it
 * reach (protected and redialled while the schema needs them), and calls their commands.
 *
 * Rules:
 * - Roles are bound to keys: each side shows the certificate the registry signed for it when the RPC
 *   channel opens; a missing, forged, expired or foreign certificate, or a role the schema does not
 *   relate to ours, closes the connection.
 * - Balanced: one instance, the one with the fewest calls outstanding, round-robin among equals,
 *   draining ones skipped. Broadcast: every instance at send time; with `responds`, one settled entry
 *   per instance. Queued broadcast (in memory: at most once): each receiver runs the messages of a
 *   command one at a time, in order.
 * - Deadlines: `timeout` (call, else command, else 10 s) on the caller; the receiver's `ctx.signal`
 *   aborts at the deadline or when the caller cancels; `ctx.call` passes what is left of it on.
 * - Errors: ERR_UNKNOWN_COMMAND and ERR_NOT_ALLOWED fail at once, without the network;
 *   ERR_NO_INSTANCE, ERR_TIMEOUT, ERR_ABORTED, and ERR_REMOTE for a handler's throw.
 */
/** Every option `createMeshNode` knows: others are refused with the closest name. */
const MESH_NODE_OPTIONS: ReadonlyArray<keyof MeshNodeOptions> = ['schema', 'role', 'variant', 'registry', 'handlers', 'networkKey', 'timeout', 'listen', 'redis', 'limits', 'queue', 'clock']

/** Starts a mesh node of `options.role`: registers with the registry, connects to the instances the schema relates it to, serves its role's commands. Resolves once registered. */
export async function createMeshNode<S extends MeshSchema> (options: MeshNodeOptions<S>): Promise<MeshNode<S>> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  rejectUnknownOptions('createMeshNode options', options, MESH_NODE_OPTIONS)
  const schema = new Schema(options.schema)
  const me = schema.role(options.role)
  if (me === undefined) throw PeerwardenError.invalid(`role ${JSON.stringify(options.role)} is not in the schema`)
  const registryId = parseTcpAddress(options.registry).peer
  if (registryId === undefined) throw PeerwardenError.invalid('registry must be tcp://host:port#<registry id> (the id binds the certificates)')
  if (options.variant !== undefined && (typeof options.variant !== 'string' || options.variant.length === 0 || options.variant.length > MAX_VARIANT_LENGTH)) {
    throw PeerwardenError.invalid(`variant must be a string of 1 to ${MAX_VARIANT_LENGTH} characters`)
  }
  const variant = options.variant ?? Math.random().toString(36).slice(2, 10)
  // An EventTarget that knows who listens (manager/events.ts); the type gives each event's detail.
  const events = new ManagerEventTarget() as unknown as TypedEventTarget<MeshEvents> & { listens(type: string): boolean }
  const clock = options.clock ?? systemClock
  const maxRunning = positive(options.limits?.runningPerPeer, 'limits.runningPerPeer')
  const maxQueued = positive(options.limits?.queuedPerCommand, 'limits.queuedPerCommand')
  const node = await createNode({ listen: options.listen, networkKey: options.networkKey, manager: { lowWater: 0, highWater: 1024, clock } })
  const instances = new Map<string, Instance>()
  let cert: Certificate | undefined
  let closed = false
  // What the queue survived is the application's to know: an event when it listens, else a warning.
  const onQueueError = (error: Error): void => {
    if (events.listens('queue:error')) events.dispatchEvent(new CustomEvent('queue:error', { detail: { error } }))
    else process.emitWarning(error)
  }
  const queue = options.redis === undefined ? undefined : new RedisQueue(options.redis, { clock, onError: onQueueError, ...options.queue })
  const caller = new Caller<S>({ schema, me, instances, timeout: options.timeout, queue, from: `${me.name}/${variant}`, clock })
  const responder = new Responder({ me, handlers: options.handlers, calls: (deadline) => caller.calls(deadline) as unknown as CallContext['call'], clock, maxRunning, maxQueued })
  let renewal: unknown
  const related = new Set(schema.peersOf(me.name))
  const waiters = new ReadyWaiters({
    instances,
    related,
    calls: [...schema.roles.keys()].filter((r) => schema.canCall(me.name, r)),
    isRole: (r) => schema.roles.has(r),
    clock,
    closed: () => closed
  })
  let registered: (() => void) | undefined
  let failed: ((err: Error) => void) | undefined

  // ── the registry ────────────────────────────────────────────────────────
  const learn = (entry: DirectoryEntry): void => {
    if (entry.peer === node.id || !related.has(entry.role)) return
    node.manager.addPeers([{ id: entry.peer, addresses: entry.addresses, longTerm: true }])
    node.manager.protect(entry.peer, 'mesh')
  }

  const onRegistryConnection = (conn: NodeConnection): void => {
    const channel = conn.mux.createChannel({ protocol: REGISTRY_PROTOCOL })
    if (channel === null) return
    const onMessage = (msg: FromRegistry): void => {
      if (msg.t === 'registered') {
        try {
          cert = check(msg.cert, { registry: registryId, peer: node.id, now: clock.now() })
        } catch (err) { failed?.(err as Error); return }
        for (const e of msg.directory) learn(e)
        // Register again when four fifths of the certificate's life have passed.
        clock.clearTimeout(renewal)
        renewal = clock.setTimeout(() => { if (!closed) send.send({ t: 'register', role: me.name, variant, addresses: node.addresses.slice(0, MAX_ADDRESSES) }) }, Math.max(50, (cert.expires - clock.now()) * 0.8))
        registered?.()
      } else if (msg.t === 'refused') {
        failed?.(new PeerwardenError('ERR_NOT_ALLOWED', `the registry refused the registration: ${msg.reason}`))
      } else if (msg.t === 'joined') {
        learn(msg.entry)
      } else {
        node.manager.unprotect(msg.peer, 'mesh')
      }
    }
    const send: Message<RegistryMessage> = channel.addMessage<RegistryMessage>({
      encoding: safeJson,
      onmessage: peerHandler(decodeFromRegistry, onMessage, (why) => { conn.protocolError(`registry channel: ${why}`) })
    })
    channel.open()
    send.send({ t: 'register', role: me.name, variant, addresses: node.addresses.slice(0, MAX_ADDRESSES) })
  }

  // ── RPC channels ────────────────────────────────────────────────────────
  const onPeerConnection = (conn: NodeConnection): void => {
    if (cert === undefined) return
    let instance: Instance | undefined
    const channel = conn.mux.createChannel({
      protocol: RPC_PROTOCOL,
      handshake: safeJson,
      onopen: (raw: unknown) => {
        // A connection that already lost a duplicate tie-break may still open its channel: ignore it.
        if (!conn.open) return
        let remote: Certificate
        try {
          // A missing or malformed certificate is refused as a forged one is ('denied').
          const hello = decodeHello(raw)
          if (!hello.ok) throw new PeerwardenError('ERR_CERTIFICATE', `handshake: ${hello.why}`)
          remote = check(hello.value.cert, { registry: registryId, peer: conn.peer, now: clock.now() })
          if (!related.has(remote.role)) throw new PeerwardenError('ERR_NOT_ALLOWED', `role ${remote.role} is not related to ${me.name}`)
        } catch {
          deny(conn)
          return
        }
        candidate = {
          peer: conn.peer,
          role: remote.role,
          variant: remote.variant,
          who: Object.freeze({ role: remote.role, variant: remote.variant }),
          mayCall: schema.canCall(remote.role, me.name),
          send,
          outstanding: 0,
          lastPicked: 0,
          draining: false,
          running: new Map()
        }
        send.send({ t: 'admit' })
        if (admitted) list()
      },
      onclose: () => {
        if (instance === undefined) return
        // Calls in flight on this channel settle now, even when a newer connection to the same peer
        // (a duplicate swap) has taken its place.
        caller.gone(instance)
        // Its calls still running here: their ctx.signal aborts (nobody waits for the answer now).
        responder.detach(instance)
        if (instances.get(conn.peer) !== instance) return
        instances.delete(conn.peer)
        events.dispatchEvent(new CustomEvent('disconnection', { detail: { role: instance.role, variant: instance.variant, peer: conn.peer } }))
      }
    })
    if (channel === null) return
    let candidate: Instance | undefined
    let admitted = false
    // Listed once we accepted its certificate and it accepted ours.
    const list = (): void => {
      if (instance !== undefined || candidate === undefined || !conn.open) return
      instance = candidate
      responder.attach(instance)
      const replaced = instances.has(conn.peer)
      instances.set(conn.peer, instance)
      // A connection that replaced a duplicate: the peer never left, so no second 'connection'.
      if (!replaced) events.dispatchEvent(new CustomEvent('connection', { detail: { role: instance.role, variant: instance.variant, peer: conn.peer } }))
      waiters.check()
    }
    const message: Message<OutgoingRpc> = channel.addMessage<OutgoingRpc>({
      encoding: jsonOnce,
      onmessage: peerHandler(decodeRpc, (msg) => {
        if (msg.t === 'admit') { admitted = true; list(); return }
        onRpc(msg, instance)
      }, (why) => { conn.protocolError(`rpc channel: ${why}`) })
    })
    // Messages sent in the same tick leave in one batch: one encryption and one write for many calls.
    const send = new Outbox(channel, message)
    channel.open({ cert })
  }

  /**
   * Refuses a peer whose certificate we do not accept, and stops redialling it until the registry
   * vouches for it again (no reconnect storm between two nodes that disagree).
   */
  const deny = (conn: NodeConnection): void => {
    node.manager.unprotect(conn.peer, 'mesh')
    node.manager.setLongTerm(conn.peer, false)
    conn.close('denied')
  }
  // Denied by the other side (our certificate expired, or it does not know us): stop redialling it too.
  node.events.addEventListener('disconnection', (e) => {
    const { peer, reason } = e.detail
    if (reason === 'denied' && peer !== registryId) {
      node.manager.unprotect(peer, 'mesh')
      node.manager.setLongTerm(peer, false)
    }
  })

  node.protocol(REGISTRY_PROTOCOL, (conn) => { if (conn.peer === registryId) onRegistryConnection(conn) })
  node.protocol(RPC_PROTOCOL, (conn) => { if (conn.peer !== registryId) onPeerConnection(conn) })

  const onRpc = (msg: RpcMessage, from: Instance | undefined): void => {
    if (from === undefined) return
    if (msg.t === 'call') { responder.serve(msg, from); return }
    if (msg.t === 'cancel') { responder.cancel(msg.id, from); return }
    if (msg.t === 'admit') return
    caller.onReply(msg, from)
  }

  // ── queued commands on Redis: our consumer groups exist before we say we are here ──
  if (queue !== undefined) {
    try {
      await responder.consume(queue, variant)
    } catch (err) {
      await queue.close()
      await node.close()
      throw err
    }
  }

  // ── register, then resolve ──────────────────────────────────────────────
  await new Promise<void>((resolve, reject) => {
    registered = resolve
    failed = reject
    node.manager.connectNow(options.registry, { permanent: true }).catch(reject)
  }).catch(async (err) => { await queue?.close(); await node.close(); throw err })
  registered = undefined
  failed = undefined

  return {
    id: node.id,
    role: me.name,
    variant,
    call: caller.calls(Infinity),
    events,
    node,
    stats: () => ({ calls: caller.inFlight, running: responder.running, queued: responder.queued }),
    ready: async (role, opts) => { await waiters.wait(role === undefined ? undefined : (schema.role(role)?.name ?? role), opts) },
    instances: (role) => [...instances.values()].filter((i) => i.role === role).map((i) => ({ peer: i.peer, variant: i.variant, outstanding: i.outstanding })),
    close: async () => {
      if (closed) return
      closed = true
      clock.clearTimeout(renewal)
      caller.close()
      responder.close()
      waiters.check()
      await queue?.close()
      await node.close()
    }
  }
}

/** An optional budget: undefined, or a positive integer (else ERR_INVALID_ARGUMENT naming it). */
function positive (value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < 1) throw PeerwardenError.invalid(`${name} must be a positive integer`)
  return value
}
