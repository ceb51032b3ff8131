/**
 * The mesh node's orchestrator: wiring only. The parts: the registration (registration.ts: the
 * certificate and the directory), one RPC channel per connection (rpc-channel.ts: certificates,
 * listing, dispatch by message type), the caller side (caller.ts) and the serving side
 * (responder.ts), the ready waiters (ready.ts) and, with Redis, the queue (redis-queue.ts).
 */

import { PeerwardenError } from '../errors.js'
import { MAX_DELAY, systemClock } from '../clock.js'
import { childOf, silentLogger, type Logger } from '../logger.js'
import { ManagerEventTarget, type TypedEventTarget } from '../manager/events.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { createNode, type PeerNode } from '../node/node.js'
import { parseTcpAddress } from '../node/transport.js'
import { MAX_MESSAGE_BYTES, SMALL_JSON_BYTES } from '../node/wire.js'
import { breakerOptions } from './breaker.js'
import { Caller } from './caller.js'
import { Drain } from './drain.js'
import { HealthReporter } from './health.js'
import type { Instance } from './instance.js'
import { loggerOption } from './log-option.js'
import { MAX_VARIANT_LENGTH } from './messages.js'
import { OtelBridge, tracerOption } from './otel.js'
import { DEFAULT_MESSAGE_BYTES } from './peer-bytes.js'
import { RedisQueue } from './redis-queue.js'
import { REGISTRY_PROTOCOL } from './registry.js'
import { ReadyWaiters } from './ready.js'
import { Registration, type RegistryAddress } from './registration.js'
import { Responder } from './responder.js'
import { RpcChannel, RPC_PROTOCOL, stopRedialOnDenial, type RpcHost } from './rpc-channel.js'
import { Schema, type CallContext, type MeshSchema } from './schema.js'
import type { MeshEvents, MeshNode, MeshNodeOptions } from './types.js'

export type { MeshEvents, MeshNode, MeshNodeOptions } from './types.js'
export { RPC_PROTOCOL } from './rpc-channel.js'

/**
 * A mesh node (socketmesh's SocketNode): registers with the registry, connects to the peers the schema lets it
 * reach (protected and redialled while the schema needs them), and calls their commands.
 *
 * Rules:
 * - Roles are bound to keys: each side shows the certificate the registry signed for it when the RPC
 *   channel opens; a missing, forged, expired or foreign certificate, or a role the schema does not
 *   relate to ours, closes the connection.
 * - Balanced: one instance, the one with the fewest calls outstanding, round-robin among equals.
 *   Broadcast: every instance at send time; with `responds`, one settled entry
 *   per instance. Queued broadcast (in memory: at most once): each receiver runs the messages of a
 *   command one at a time, in order.
 * - Deadlines: `timeout` (call, else command, else 10 s) on the caller; the receiver's `ctx.signal`
 *   aborts at the deadline or when the caller cancels; `ctx.call` passes what is left of it on.
 * - Errors: ERR_UNKNOWN_COMMAND and ERR_NOT_ALLOWED fail at once, without the network;
 *   ERR_NO_INSTANCE, ERR_TIMEOUT, ERR_ABORTED, and ERR_REMOTE for a handler's throw.
 * - Fault tolerance (retries, breakers, bulkheads, fallbacks, validation, tracing): caller.ts,
 *   responder.ts and retry.ts state the rules; `drain()`: drain.ts and types.ts.
 */
/** Every option `createMeshNode` knows: others are refused with the closest name. */
/** A mesh node's default `maxWriteQueueBytes` (see `MeshNodeOptions`). */
const MESH_WRITE_QUEUE_BYTES = 64 * 1024 * 1024

const MESH_NODE_OPTIONS: ReadonlyArray<keyof MeshNodeOptions> = ['schema', 'role', 'variant', 'registry', 'registries', 'registerTimeout', 'handlers', 'networkKey', 'seed', 'timeout', 'listen', 'maxWriteQueueBytes', 'redis', 'limits', 'queue', 'clock', 'logger', 'logLevel', 'breaker', 'tracing', 'metrics', 'tracer']

/** Starts a mesh node of `options.role`: registers with the registry, connects to the instances the schema relates it to, serves its role's commands. Resolves once registered. */
export async function createMeshNode<S extends MeshSchema> (options: MeshNodeOptions<S>): Promise<MeshNode<S>> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  rejectUnknownOptions('createMeshNode options', options, MESH_NODE_OPTIONS)
  const schema = new Schema(options.schema)
  const me = schema.role(options.role)
  if (me === undefined) throw PeerwardenError.invalid(`role ${JSON.stringify(options.role)} is not in the schema`)
  const registries = registryAddresses(options)
  const registerTimeout = options.registerTimeout ?? 30_000
  if (typeof registerTimeout !== 'number' || !(registerTimeout > 0)) throw PeerwardenError.invalid('registerTimeout must be a number of ms > 0')
  if (options.variant !== undefined && (typeof options.variant !== 'string' || options.variant.length === 0 || options.variant.length > MAX_VARIANT_LENGTH)) {
    throw PeerwardenError.invalid(`variant must be a string of 1 to ${MAX_VARIANT_LENGTH} characters`)
  }
  if (options.handlers !== undefined) {
    const h = options.handlers as unknown
    if (h === null || typeof h !== 'object' || Array.isArray(h)) throw PeerwardenError.invalid(`handlers must be an object of functions by command name, got ${h === null ? 'null' : Array.isArray(h) ? 'an array' : typeof h}`)
    for (const [name, fn] of Object.entries(h)) {
      if (typeof fn !== 'function') throw PeerwardenError.invalid(`handlers.${name} must be a function, got ${fn === null ? 'null' : typeof fn}`)
    }
  }
  if (options.timeout !== undefined && (typeof options.timeout !== 'number' || !(options.timeout > 0))) {
    throw PeerwardenError.invalid(`timeout must be a number of ms > 0 (a call's default deadline), got ${String(options.timeout)}`)
  }
  const variant = options.variant ?? Math.random().toString(36).slice(2, 10)
  const clock = options.clock ?? systemClock
  const maxRunning = positive(options.limits?.runningPerPeer, 'limits.runningPerPeer')
  const maxQueued = positive(options.limits?.queuedPerCommand, 'limits.queuedPerCommand')
  const maxQueuedBytes = positive(options.limits?.queuedBytes, 'limits.queuedBytes')
  const maxPeerBytes = positive(options.limits?.bytesPerPeer, 'limits.bytesPerPeer')
  const messageBytes = positive(options.limits?.messageBytes, 'limits.messageBytes') ?? DEFAULT_MESSAGE_BYTES
  if (messageBytes < SMALL_JSON_BYTES || messageBytes > MAX_MESSAGE_BYTES) throw PeerwardenError.invalid(`limits.messageBytes must be ${SMALL_JSON_BYTES} to ${MAX_MESSAGE_BYTES}, got ${messageBytes}`)
  const logger = loggerOption(options)
  const log = childOf(logger, { component: 'mesh', role: me.name, variant })
  const breaker = options.breaker === undefined || options.breaker === false ? undefined : breakerOptions(options.breaker === true ? {} : options.breaker)
  const tracing = flag(options.tracing, 'tracing')
  const metrics = flag(options.metrics, 'metrics')
  const tracer = tracerOption(options.tracer)
  const otel = tracer === undefined ? undefined : new OtelBridge(tracer)

  // ── the parts, each made before whatever uses it ──
  // An EventTarget that knows who listens (manager/events.ts); the type gives each event's detail.
  const events = new ManagerEventTarget() as unknown as TypedEventTarget<MeshEvents> & { listens(type: string): boolean }
  let closed = false
  // The node under the mesh writes its own lines (connections, dials, handshakes) to the same logger.
  const nodeLog = logger === silentLogger ? undefined : childOf(logger, { component: 'node', role: me.name, variant })
  const node = await createNode({ listen: options.listen, networkKey: options.networkKey, seed: options.seed, maxWriteQueueBytes: options.maxWriteQueueBytes ?? MESH_WRITE_QUEUE_BYTES, manager: { lowWater: 0, highWater: 1024, clock }, logger: nodeLog })
  const instances = new Map<string, Instance>()
  const related = new Set(schema.peersOf(me.name))
  // What the queue survived is the application's to know: an event when it listens, else a warning.
  const onQueueError = (error: Error): void => {
    log.error({ err: error }, 'queue error')
    if (events.listens('queue:error')) events.dispatchEvent(new CustomEvent('queue:error', { detail: { error } }))
    else process.emitWarning(error)
  }
  const queue = options.redis === undefined ? undefined : new RedisQueue(options.redis, { clock, onError: onQueueError, maxMessageBytes: messageBytes, handlerTimeout: options.timeout, ...options.queue })
  const caller = new Caller<S>({ schema, me, instances, timeout: options.timeout, queue, from: `${me.name}/${variant}`, clock, breaker, metrics, otel })
  const calls = (deadline: number, trace: string | undefined): CallContext['call'] => caller.calls(deadline, trace) as unknown as CallContext['call']
  // With OpenTelemetry each handler runs in a server span that gives it its traceparent (otel.ts).
  const handlers = otel === undefined ? options.handlers : otel.handlers(me, options.handlers, calls, tracing)
  const responder = new Responder({ me, handlers, calls, clock, maxRunning, maxQueued, maxQueuedBytes, maxPeerBytes, tracing: tracing && otel === undefined })
  const drain = new Drain()
  const waiters = new ReadyWaiters({
    instances,
    related,
    calls: [...schema.roles.keys()].filter((r) => schema.canCall(me.name, r)),
    isRole: (r) => schema.roles.has(r),
    clock,
    closed: () => closed
  })
  const health = new HealthReporter({ breakers: () => caller.breakerFigures(), clock })
  const registration = new Registration({ node, registries, role: me.name, variant, related, clock, timeout: registerTimeout, logger: log, health })
  const registryIds = new Set(registries.map((r) => r.id))
  const rpc: RpcHost = {
    node,
    schema,
    role: me.name,
    registries: registryIds,
    related,
    cert: () => registration.cert,
    instances,
    caller,
    responder,
    waiters,
    events,
    clock,
    drain,
    messageBytes
  }

  // ── wiring ──
  stopRedialOnDenial(node, registryIds)
  caller.onBreakerRecord = () => { health.check() }
  node.protocol(REGISTRY_PROTOCOL, (conn) => { if (registryIds.has(conn.peer)) registration.connected(conn) })
  node.protocol(RPC_PROTOCOL, (conn) => { if (!registryIds.has(conn.peer)) RpcChannel.open(rpc, conn) })
  logLines(log, events, node, registryIds, () => closed)

  // Queued commands on Redis: our consumer groups exist before we say we are here.
  if (queue !== undefined) {
    try {
      await responder.consume(queue, variant, (role) => schema.canCall(role, me.name))
    } catch (err) {
      await queue.close()
      await node.close()
      throw err
    }
  }
  try {
    await registration.register()
  } catch (err) {
    log.error({ err }, 'could not join the mesh')
    registration.close()
    health.close()
    await queue?.close()
    await node.close()
    throw err
  }

  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    registration.close()
    health.close()
    caller.close()
    responder.close()
    waiters.check()
    await queue?.close()
    await node.close()
  }
  const needQueue = (): RedisQueue => {
    if (queue === undefined) throw PeerwardenError.invalid('queued commands need redis: createMeshNode({ redis: \'redis://…\' })')
    return queue
  }
  return {
    id: node.id,
    role: me.name,
    variant,
    call: caller.calls(Infinity),
    events,
    node,
    stats: () => ({ calls: caller.inFlight, running: responder.running, queued: responder.queued, queuedBytes: responder.queuedBytes, callBytes: responder.peerBytes.held, callBytesRefused: responder.peerBytes.refused, queueShareRefused: responder.queueShareRefused, draining: responder.draining, invalidArgumentOutliers: caller.outliers.found, invalidArgumentTracked: caller.outliers.tracked, queueHandlerTimeouts: queue?.stats().handlerTimeouts ?? 0, queueOverdueHandlers: queue?.stats().overdueHandlers ?? 0, queueStalledConsumers: queue?.stats().stalledConsumers ?? 0, queueReads: queue?.stats().reads ?? 0, queueNotificationsDropped: queue?.stats().notificationsDropped ?? 0, commands: caller.metrics?.figures() ?? [], breakers: caller.breakerFigures() }),
    ready: async (role, opts) => { await waiters.wait(role === undefined ? undefined : (schema.role(role)?.name ?? role), opts) },
    instances: (role) => [...instances.values()].filter((i) => i.role === role).map((i) => ({ peer: i.peer, variant: i.variant, outstanding: i.outstanding })),
    drain: async (opts) => {
      if (closed) return
      const timeout = opts?.timeout ?? 30_000
      if (typeof timeout !== 'number' || !(timeout >= 0)) throw PeerwardenError.invalid('drain timeout must be a number of ms >= 0')
      responder.drain()
      health.drain()
      let timer: unknown
      // No timer for a timeout further than a timer can wait (Infinity: wait for everyone).
      const late = new Promise<void>((resolve) => { if (timeout <= MAX_DELAY) timer = clock.setTimeout(resolve, timeout) })
      // Everyone heard it (no call is on its way to us), and what we accepted is done.
      await Promise.race([Promise.all([drain.start(instances.values()), responder.whenIdle()]), late])
      clock.clearTimeout(timer)
      await close()
    },
    queueGroups: async (role, command) => await needQueue().groups(schema.role(role)?.name ?? role, command),
    forgetQueueGroup: async (role, command, variant) => await needQueue().forgetGroup(schema.role(role)?.name ?? role, command, variant),
    close
  }
}

/** Every registry given (`registry`, `registries`), each with its id (the key its certificates are checked against). */
function registryAddresses (options: Pick<MeshNodeOptions, 'registry' | 'registries'>): RegistryAddress[] {
  if (options.registries !== undefined && !Array.isArray(options.registries)) throw PeerwardenError.invalid('registries must be an array of tcp://host:port#<registry id>')
  const given = [...(options.registry === undefined ? [] : [options.registry]), ...(options.registries ?? [])]
  if (given.length === 0) throw PeerwardenError.invalid('registry (or registries) is required: tcp://host:port#<registry id>')
  const out = new Map<string, RegistryAddress>()
  for (const address of given) {
    if (typeof address !== 'string') throw PeerwardenError.invalid('registries must be strings tcp://host:port#<registry id>')
    const id = parseTcpAddress(address).peer
    if (id === undefined) throw PeerwardenError.invalid(`registry must be tcp://host:port#<registry id> (the id binds the certificates): ${address}`)
    if (!out.has(id)) out.set(id, { id, address })
  }
  return [...out.values()]
}

/** The mesh's log lines that come from observing it: instances up and down, refusals, registries lost, peers that broke the protocol. */
function logLines (log: Logger, events: TypedEventTarget<MeshEvents>, node: PeerNode, registries: ReadonlySet<string>, closing: () => boolean): void {
  events.addEventListener('connection', (e) => { log.info({ ...e.detail }, 'instance up') })
  events.addEventListener('disconnection', (e) => { log.info({ ...e.detail }, 'instance down') })
  node.events.addEventListener('disconnection', (e) => {
    const { peer, reason } = e.detail
    // Our own close drops every connection: nothing was lost (`peerwarden mesh call` warned at each exit).
    if (closing()) return
    if (registries.has(peer)) log.warn({ registry: peer, reason }, 'registry connection lost')
    else if (reason === 'denied') log.warn({ peer }, 'connection refused: certificate not accepted (by us or by the peer)')
  })
  node.events.addEventListener('protocol:error', (e) => { log.warn({ peer: e.detail.peer, reason: e.detail.reason }, 'peer broke the protocol') })
}

/** An optional budget: undefined, or a positive integer (else ERR_INVALID_ARGUMENT naming it). */
function positive (value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < 1) throw PeerwardenError.invalid(`${name} must be a positive integer`)
  return value
}

/** An on/off option, default on. */
function flag (value: boolean | undefined, name: string): boolean {
  if (value === undefined) return true
  if (typeof value !== 'boolean') throw PeerwardenError.invalid(`${name} must be a boolean`)
  return value
}
