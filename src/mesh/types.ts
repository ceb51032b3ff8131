/**
 * The public types of a mesh node (`createMeshNode`'s options, the node, its events), with their
 * rules and defaults. The implementation is mesh-node.ts.
 */

import type { TypedEventTarget } from '../manager/events.js'
import type { Logger, LogLevel } from '../logger.js'
import type { Clock } from '../manager/types.js'
import type { PeerNode } from '../node/node.js'
import type { BreakerOptions } from './breaker.js'
import type { BreakerFigures } from './caller.js'
import type { CommandFigures } from './metrics.js'
import type { MeshTracer } from './otel.js'
import type { ReadyOptions } from './ready.js'
import type { QueueOptions } from './redis-queue.js'
import type { Handler, MeshCalls, MeshSchema } from './schema.js'

/** The options of `createMeshNode`. */
export interface MeshNodeOptions<S extends MeshSchema = MeshSchema> {
  schema: S
  role: keyof S & string
  /** Instance name; default random. */
  variant?: string
  /**
   * The registry's address, 'tcp://host:port#<registry id>' (as `registry.addresses` gives it). One
   * of `registry` and `registries` is required; both may be given.
   */
  registry?: string
  /**
   * Several registries, so that none is a single point of failure: the node registers with each,
   * accepts certificates signed by any of them (each registry signs with its own key; the ids in
   * these addresses are the trusted keys), and joins as soon as one signs. Every node of the mesh
   * should be given the same list. A registry that is down is redialled; when it is back the node
   * registers with it again.
   */
  registries?: string[]
  /**
   * ms `createMeshNode` waits for a first registry to sign our certificate before it rejects with
   * ERR_TIMEOUT. Default 30_000.
   */
  registerTimeout?: number
  /** Handlers by command name; default: the functions written in the schema. */
  handlers?: Record<string, Handler>
  networkKey?: string | Uint8Array
  /**
   * The node's key pair, from a 32-byte seed (a string is hashed), as `createNode`'s `seed`. Default: a
   * new key each start. Give one when a registry's `authorize(peer, …)` admits this node by its key.
   */
  seed?: Uint8Array | string
  /** Default call deadline, ms. Default 10_000. */
  timeout?: number
  listen?: string[]
  /**
   * Bytes queued for one peer that it has not read yet, at most (as `createNode`'s option, which
   * closes a peer that reads nothing of it for 2 s, or at 4x it). Default 64 MiB: a mesh answers calls
   * without waiting for the caller to read (results up to 8 MiB each, many in flight).
   */
  maxWriteQueueBytes?: number
  /**
   * Redis for queued commands, e.g. 'redis://127.0.0.1:6379': at least once, in order, surviving a
   * restart of the receiver (Redis Streams, one consumer group per instance). Every node of the mesh
   * should use the same Redis. Default: in memory, at most once.
   */
  redis?: string
  /**
   * Budgets for what other nodes make this one hold: `runningPerPeer`, calls of one connection whose
   * handlers run at once (default 1024); `queuedPerCommand`, messages of one queued command waiting
   * in memory (default 10_000; one peer holds at most half of the places the others leave free);
   * `queuedBytes`, the bytes of the arguments (their JSON) of all the
   * calls waiting here, queued or for a bulkhead's slot (default 64 MiB; a call alone always fits);
   * `bytesPerPeer`, the bytes of the messages one peer's calls came in while they run or wait here
   * (default 32 MiB; a message alone always fits; a batch is held until its last call ended).
   * Past them a call is answered ERR_BUSY (the caller sees ERR_REMOTE whose cause has that code).
   * `messageBytes`: the largest RPC message (or batch) read from another node, told to it when the
   * channel opens (default 1 MiB, 256 KiB to 8 MiB − 1 KiB: parsing is what a message costs, up to
   * seconds for 8 MiB of nested JSON). A call or answer over what the remote reads fails at its
   * sender with ERR_MESSAGE_TOO_LARGE (an answer: the caller's ERR_REMOTE carries that code); a
   * longer message from a remote closes its connection ('protocol'), unparsed.
   */
  limits?: { runningPerPeer?: number; queuedPerCommand?: number; queuedBytes?: number; bytesPerPeer?: number; messageBytes?: number }
  /** Redis queue tuning (dead-letter after `maxDeliveries`, default 5; a handler's deadline `handlerTimeout`, default this node's `timeout`, else 10 s; how idle consumers wait, `notifications`; `maxOverdueHandlers`, default 4). */
  queue?: QueueOptions
  /**
   * Deadlines, certificate checks and renewals run on it, and so does the node under the mesh.
   * Default: the system clock. Call deadlines travel as this clock's time: every node of a mesh
   * must share its epoch (wall-clock time, or one virtual clock in a test).
   */
  clock?: Clock
  /**
   * Where the mesh writes its log lines (a pino logger, or anything with debug/info/warn/error):
   * info for each registration and each instance up or down, warn for refusals (a registry refusing
   * us, a certificate not accepted, a registry lost, a peer breaking the protocol), error for
   * failures (joining, the queue). Default: silent.
   */
  logger?: Logger
  /** Without `logger`: log to standard error at this level (`createLogger({ level })`). */
  logLevel?: LogLevel
  /**
   * Circuit breakers on the instances this node calls (breaker.ts: Moleculer's threshold, windowTime,
   * halfOpenTime and minRequestCount; defaults 0.5, 60 s, 10 s, 20). `true` for the defaults.
   * Default: none.
   */
  breaker?: boolean | BreakerOptions
  /**
   * Whether a handler here starts a trace for a call that came without a traceparent (made when the
   * handler first reads `ctx.traceparent` or calls through `ctx.call`). Default `true`; `false`: its
   * `ctx.traceparent` is undefined. Either way a call carries a traceparent only when it has a
   * parent (the call's `traceparent` option, or the handler's in `ctx.call`), or, with `tracer`, its
   * own span.
   */
  tracing?: boolean
  /**
   * OpenTelemetry spans (otel.ts): a client span per call attempt and a server span per handled call,
   * linked through the traceparent the call carries. `true`: the tracer `peerwarden` of the global
   * tracer provider (the one your OpenTelemetry SDK registered); or a `Tracer` of yours
   * (`trace.getTracer('my-service')`). Needs `@opentelemetry/api` (an optional peer dependency).
   * Default: none, and no work per call. With it every handled call has a span, so `ctx.traceparent`
   * is always set (`tracing` no longer applies).
   */
  tracer?: boolean | MeshTracer
  /**
   * `false`: no per-command figures (`stats().commands` stays empty, and the Prometheus export has no
   * call figures). Default `true`.
   */
  metrics?: boolean
}

/** What `mesh.stats()` gives. */
export interface MeshStats {
  /** Our calls in flight (awaiting an answer or an ack). */
  calls: number
  /** Calls other nodes made to us whose (async) handlers still run here. */
  running: number
  /** Queued messages (in memory) and calls waiting for a bulkhead slot, here. */
  queued: number
  /** The bytes of their arguments (JSON), at most `limits.queuedBytes`. */
  queuedBytes: number
  /** The bytes of the messages the calls running or waiting here came in, over all peers (each peer's at most `limits.bytesPerPeer`). */
  callBytes: number
  /** Calls answered ERR_BUSY past their peer's `limits.bytesPerPeer`. */
  callBytesRefused: number
  /** Queued messages answered ERR_BUSY because their peer held its share of the command's queue (half of the places the other peers leave free). */
  queueShareRefused: number
  /** `drain()` was called. */
  draining: boolean
  /**
   * Times an instance was found refusing ERR_INVALID_ARGUMENT calls of a command that the other
   * instances served: over its latest 64 calls of the command, at least 5 refusals beyond the others'
   * share of refusals, and beyond their spread (a partial liar too, refusing every third call). Its refusals then count on
   * its circuit breaker, and it comes after the others for 10 s (invalid-outlier.ts). A role with a
   * single instance is never judged.
   */
  invalidArgumentOutliers: number
  /** Instances whose latest outcomes are kept for that judgement, over every command (at most 256 per command). */
  invalidArgumentTracked: number
  /** Queued messages (Redis) whose handler had not settled at its deadline (`queue.handlerTimeout`, or the command's `timeout`); each counts as a failed delivery. */
  queueHandlerTimeouts: number
  /** Queued handlers past their deadline that still run (they ignored `ctx.signal`); never started again while they run. */
  queueOverdueHandlers: number
  /** Queued consumers (a command of this node) holding `queue.maxOverdueHandlers` handlers past their deadline: they take no new message until one ends. */
  queueStalledConsumers: number
  /** Read scripts the queue's consumers ran (Redis): an idle consumer runs about one a second with keyspace notifications, 1000 / `queue.pollInterval` without. */
  queueReads: number
  /** Queue notification connections dropped for a frame that was not a keyspace notification (someone PUBLISHing on the channel: over 1 KiB, or of another shape). */
  queueNotificationsDropped: number
  /** Per command we call and instance: attempts, outcomes by code, latency histogram, in flight (metrics.ts); empty with `metrics: false`. */
  commands: CommandFigures[]
  /** The circuit breaker of each instance connected now (with the `breaker` option). */
  breakers: BreakerFigures[]
}

/** The events on `mesh.events` (socketmesh's onConnection / onDisconnection). */
export interface MeshEvents {
  /** A connection to an instance opened and both sides admitted each other's certificate. */
  'connection': { role: string; variant: string; peer: string }
  /** That connection went away. */
  'disconnection': { role: string; variant: string; peer: string }
  /**
   * The Redis queue hit a problem it survived (ERR_QUEUE: Redis unreachable or failing; ERR_QUEUE_GROUP_LOST:
   * a consumer group vanished, e.g. Redis restarted empty, and was recreated; ERR_QUEUE_TRIMMED: a message
   * was trimmed from its stream, `maxLength`, before it was handled; ERR_QUEUE_DEAD_LETTER: a message went
   * to the dead-letter stream, its handler having failed `maxDeliveries` times or the entry not
   * decoding, the message saying which). Without a listener it is a process
   * warning.
   */
  'queue:error': { error: Error }
}

/** A running mesh node: `createMeshNode` returns it. */
export interface MeshNode<S extends MeshSchema = MeshSchema> {
  readonly id: string
  readonly role: string
  readonly variant: string
  /** `mesh.call.Role.command(args, { timeout, signal })`, typed from the schema. */
  readonly call: MeshCalls<S>
  /** 'connection' {role, variant, peer}, 'disconnection' {role, variant, peer}. */
  readonly events: TypedEventTarget<MeshEvents>
  /**
   * Resolves once an instance of `role` is listed, or, without `role`, one of every role this node
   * may call (Moleculer's waitForServices). Rules: ready.ts.
   */
  ready(role?: string, opts?: ReadyOptions): Promise<void>
  /** The instances connected now, by role. */
  instances(role: string): Array<{ peer: string; variant: string; outstanding: number }>
  readonly node: PeerNode
  /**
   * The figures of this node ({@link MeshStats}). A handler past its deadline, cancelled, or whose
   * caller went away is no longer counted in `running`, even if it never settles.
   */
  stats(): MeshStats
  /**
   * For a rolling restart: new calls are refused (ERR_DRAINING: callers send them to other
   * instances), the instances connected to us are told to stop sending any, the calls accepted run
   * to their end, then the node closes. `timeout` (ms, default 30_000) bounds the wait: past it,
   * the node closes anyway (running handlers see ctx.signal abort). The registries hear it too (the
   * node's health report): their status shows the node draining until it leaves.
   */
  drain(opts?: { timeout?: number }): Promise<void>
  /**
   * With Redis: the consumer groups of a queued command's stream (one per instance variant of
   * `role`), each with its pending (delivered, unacknowledged) and unread (`lag`, undefined when
   * Redis does not say) messages. A stream holding `maxLength` entries that some group still needs
   * refuses new messages (ERR_BUSY): this says which group lags. ERR_INVALID_ARGUMENT without Redis.
   */
  queueGroups(role: string, command: string): Promise<Array<{ group: string; pending: number; lag: number | undefined }>>
  /**
   * With Redis: forgets the consumer group of an instance gone for good (`variant`), so that its
   * unread messages no longer hold the stream; what no other group needs is trimmed. False when there
   * was no such group. ERR_INVALID_ARGUMENT without Redis.
   */
  forgetQueueGroup(role: string, command: string, variant: string): Promise<boolean>
  /** Releases running handlers, closes the queue and the node under the mesh. */
  close(): Promise<void>
}
