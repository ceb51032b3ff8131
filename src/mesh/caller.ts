/**
 * The caller side of a mesh node: `mesh.call` and `ctx.call` (call-proxy.ts), the choice of
 * instance, the broadcast fan-out (broadcast.ts), and the calls in flight (pending-call.ts) until they settle.
 *
 * Rules:
 * - Balanced: one instance, the one with the fewest calls outstanding, round-robin among equals.
 *   Broadcast: every instance at send time (not a draining one); with `responds`, one settled entry per instance. A queued broadcast with Redis is published to the stream instead (durable).
 * - Deadlines: `timeout` (call, else command, else 10 s), never later than the deadline inherited
 *   from a handler's `ctx`; all of them on one timer (DeadlineSweep). A call that times out or is
 *   aborted sends the receiver a cancel.
 * - Errors: ERR_UNKNOWN_COMMAND and ERR_NOT_ALLOWED fail at once, without the network;
 *   ERR_NO_INSTANCE, ERR_TIMEOUT, ERR_ABORTED, ERR_CONNECTION_CLOSED, and ERR_REMOTE for a
 *   handler's throw. A call never throws: it returns a rejected promise.
 * - Every call settles exactly once, and its instance's `outstanding` goes down when it does.
 * - A call whose message would be over MAX_MESSAGE_BYTES fails alone with ERR_MESSAGE_TOO_LARGE
 *   (nothing is sent); the other calls of the tick go.
 * - Answers arrive decoded (messages.ts): an answer of any other shape closed the connection
 *   ('protocol') before it got here, and the calls on it settled with ERR_CONNECTION_CLOSED.
 * - Arguments are checked against the command's `params` before anything else (ERR_INVALID_ARGUMENT
 *   naming the field, without the network).
 * - Balanced calls skip draining instances and those whose breaker (breaker.ts) is open; among the
 *   others, one that refused a call ERR_BUSY in the last second, or ERR_DRAINING ever, comes after
 *   the rest. A failed
 *   attempt is retried as retry.ts says; when the call fails, the command's (or the call's)
 *   `fallback(args, error)` answers instead, except for the caller's own abort, a closed node, or
 *   arguments that cannot be sent.
 * - A call with a parent trace (the call's `traceparent` option, else the handler's in `ctx.call`)
 *   carries a child of it; one without carries none (the handler it reaches starts the trace: no id
 *   to make and no bytes to send for calls nobody traces). Every attempt carries its number. With the
  `tracer` option each attempt carries its own OpenTelemetry span's id instead (otel.ts).
 * - Each attempt counts in the per-command figures (metrics.ts), unless `metrics: false`.
 * - The choice of instance and the breakers are balancer.ts's, what an outcome tells them
 *   call-outcome.ts's; the attempts after a failed first one, and the fallback, attempts.ts's.
 */

import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { attemptDeadline, balancedCall, checkCallOptions, failed, recover, settlesAtOnce, type AttemptHost, type BalancedCall } from './attempts.js'
import { Balancer, type BreakerFigures } from './balancer.js'
import { broadcast, type BroadcastHost } from './broadcast.js'
import type { BreakerOptions } from './breaker.js'
import { recordOutcome } from './call-outcome.js'
import { callProxy } from './call-proxy.js'
import { DeadlineSweep } from './deadline-sweep.js'
import { InvalidOutliers } from './invalid-outlier.js'
import type { Instance } from './instance.js'
import { CallMetrics } from './metrics.js'
import type { OtelBridge } from './otel.js'
import { pendingOf, type Pending } from './pending-call.js'
import type { RedisQueue } from './redis-queue.js'
import type { RpcMessage } from './messages.js'
import { instanceFault, metricCode } from './retry.js'
import { argsRefused, type CallOptions, type Command, type MeshCalls, type MeshSchema, type Role, type Schema } from './schema.js'
import { childTraceparent } from './trace.js'

export type { BreakerFigures } from './balancer.js'

const DEFAULT_TIMEOUT = 10_000
type ReplyMessage = Extract<RpcMessage, { t: 'ack' | 'result' }>

/** What the caller side takes from its mesh node. */
export interface CallerOptions {
  schema: Schema
  /** Our own role (what the schema lets us call). */
  me: Role
  /** The instances connected now, by peer (the mesh node's live map, read at call time). */
  instances: ReadonlyMap<string, Instance>
  /** Default call deadline, ms. Default 10_000. */
  timeout: number | undefined
  /** Redis for queued broadcasts; undefined = in memory. */
  queue: RedisQueue | undefined
  /** Who publishes to the queue: 'role/variant'. */
  from: string
  /** Deadlines run on it (sent to the callee as its time: both ends share the clock's epoch). */
  clock: Clock
  /** Circuit breakers per instance, checked options (breaker.ts); undefined = none. */
  breaker?: Required<BreakerOptions> | undefined
  /** Jitter of retry delays, in [0, 1). Default Math.random. */
  random?: () => number
  /** false: no per-command figures. Default true. */
  metrics?: boolean
  /** OpenTelemetry: a client span per attempt (otel.ts); undefined = none, and no work per call. */
  otel?: OtelBridge | undefined
}

/** The caller side of one mesh node (rules at the top of this file). */
export class Caller<S extends MeshSchema = MeshSchema> implements AttemptHost, BroadcastHost {
  private readonly schema: Schema
  private readonly me: Role
  readonly instances: ReadonlyMap<string, Instance>
  private readonly defaultTimeout: number
  readonly queue: RedisQueue | undefined
  readonly from: string
  readonly clock: Clock
  readonly random: () => number
  private readonly pending = new Map<number, Pending>()
  private readonly balancer: Balancer
  /** Instances refusing as invalid the calls the others serve (invalid-outlier.ts). */
  readonly outliers = new InvalidOutliers()
  /** Roles ours may call, as the schema says (asked once per role). */
  private readonly callable = new Map<string, boolean>()
  /** Per command and instance (stats, Prometheus); undefined with `metrics: false`. */
  readonly metrics: CallMetrics | undefined
  private readonly otel: OtelBridge | undefined
  /** Called when a call's outcome opened or closed a breaker (the node's health report looks again). */
  onBreakerRecord: (() => void) | undefined
  private nextId = 1
  closed = false
  /** One timer for all the calls in flight (see DeadlineSweep). */
  private readonly deadlines: DeadlineSweep

  constructor (options: CallerOptions) {
    this.schema = options.schema
    this.me = options.me
    this.instances = options.instances
    this.defaultTimeout = options.timeout ?? DEFAULT_TIMEOUT
    this.queue = options.queue
    this.from = options.from
    this.clock = options.clock
    this.random = options.random ?? Math.random
    this.balancer = new Balancer(options.instances, options.breaker)
    this.metrics = options.metrics === false ? undefined : new CallMetrics()
    this.otel = options.otel
    this.deadlines = new DeadlineSweep((now) => {
      let next = Infinity
      for (const [id, p] of this.pending) {
        if (p.deadline > now) { if (p.deadline < next) next = p.deadline; continue }
        p.instance.send.send({ t: 'cancel', id })
        this.fail(id, p, new PeerwardenError('ERR_TIMEOUT', `${p.command.role}.${p.command.name} on ${p.instance.variant} timed out`))
      }
      return next
    }, this.clock)
  }

  /**
   * `mesh.call` (inherited = Infinity) and a handler's `ctx.call` (what is left of its deadline):
   * `calls.Role.command(args, opts)` (call-proxy.ts).
   */
  calls (inherited: number, traceparent?: string): MeshCalls<S> {
    return callProxy<S>(this.schema, (role, name, args, opts) => this.invoke(role, name, args, opts, inherited, traceparent))
  }

  /** Our calls in flight (awaiting an ack or an answer). */
  get inFlight (): number { return this.pending.size }

  /** An ack or a result from `from`: settles our call, if it is still in flight on that channel. */
  onReply (msg: ReplyMessage, from: Instance): void {
    const p = this.pending.get(msg.id)
    if (p === undefined || p.instance !== from) return
    if (msg.t === 'ack') {
      if (p.settleOnAck) this.succeed(msg.id, p, undefined)
      return
    }
    if (msg.ok) this.succeed(msg.id, p, msg.value)
    else this.fail(msg.id, p, new PeerwardenError('ERR_REMOTE', `${from.role}/${from.variant}: ${msg.error.message}`, { cause: msg.error }))
  }

  /**
   * The channel to `instance` closed: its calls in flight settle now, even when a newer connection to
   * the same peer (a duplicate swap) has taken its place.
   */
  gone (instance: Instance): void {
    for (const [id, p] of this.pending) if (p.instance === instance) this.fail(id, p, new PeerwardenError('ERR_CONNECTION_CLOSED', `${instance.role}/${instance.variant} went away`))
    this.balancer.trim()
  }

  /** The node closes: no timer, every call in flight rejects, and new calls fail. Idempotent. */
  close (): void {
    this.closed = true
    this.deadlines.stop()
    for (const [id, p] of this.pending) this.fail(id, p, PeerwardenError.closed('the mesh node'))
  }

  /** The breakers of the instances connected now (none without the `breaker` option). */
  breakerFigures (): BreakerFigures[] { return this.balancer.figures(this.clock.now()) }

  /** AttemptHost: the instance for a later attempt of a call. */
  pick (role: string, tried: ReadonlySet<string>): Instance | undefined { return this.balancer.pick(role, tried, this.clock.now()) }

  /** AttemptHost: sends a later attempt of a balanced call. */
  async attempt (instance: Instance, call: BalancedCall, attempt: number): Promise<unknown> {
    const deadline = attemptDeadline(call.deadline, call.idempotent, call.policy.perAttempt, this.clock.now())
    return await this.send(pendingOf(instance, call.command, call.args, deadline, call.trace, call.signal, true), attempt)
  }

  /** BroadcastHost: sends a broadcast's call to one instance. */
  async sendTo (instance: Instance, command: Command, args: unknown, deadline: number, trace: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    return await this.send(pendingOf(instance, command, args, deadline, trace, signal, false), 1)
  }

  /** Takes a call out of `pending` (it settles now): its instance is one call less busy, its abort listener goes, its figures and breaker count it. */
  private settle (id: number, p: Pending, err: unknown): void {
    this.pending.delete(id)
    p.instance.outstanding--
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort)
    const now = this.clock.now()
    const outcome = err === undefined ? 'OK' : metricCode(err)
    if (p.figures !== undefined) this.metrics!.end(p.figures, now - p.sentAt, outcome)
    p.span?.end(err)
    if (recordOutcome(this.balancer, this.outliers, p.instance, p.command, p.balanced, outcome, err !== undefined && instanceFault(err), now)) this.onBreakerRecord?.()
  }

  private succeed (id: number, p: Pending, value: unknown): void {
    this.settle(id, p, undefined)
    p.resolve(value)
  }

  private fail (id: number, p: Pending, err: Error): void {
    this.settle(id, p, err)
    if (!p.first) { p.reject(err); return }
    // The first attempt of a balanced call: retried, failed over, or answered by the fallback.
    const call = balancedCall(p.command, p.args, p.callDeadline, p.opts, p.trace)
    if (settlesAtOnce(call, err)) p.reject(err)
    else recover(this, call, p.instance, err).then(p.resolve, p.reject)
  }

  /** Sends attempt number `attempt` of `p`; settles as the call does. */
  private send (p: Pending, attempt: number): Promise<unknown> {
    const { instance, command, signal } = p
    if (signal?.aborted === true) return Promise.reject(aborted(command, signal))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      p.resolve = resolve
      p.reject = reject
      p.figures = this.metrics?.start(command, instance.variant)
      p.sentAt = this.clock.now()
      // With OpenTelemetry `p.trace` is the parent: the attempt carries its own span's id.
      if (this.otel !== undefined) p.span = this.otel.client(command, instance, attempt, p.trace)
      if (signal !== undefined) {
        p.onAbort = () => {
          if (this.pending.get(id) !== p) return
          instance.send.send({ t: 'cancel', id })
          this.fail(id, p, aborted(command, signal))
        }
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      instance.outstanding++
      this.pending.set(id, p)
      try {
        instance.send.send({ t: 'call', id, cmd: command.name, args: p.args === undefined ? null : p.args, deadline: p.deadline, attempt: attempt > 1 ? attempt : undefined, trace: p.span === undefined ? p.trace : p.span.traceparent }, `the call ${command.role}.${command.name}`)
      } catch (err) {
        // Arguments JSON cannot encode, or too large (ERR_MESSAGE_TOO_LARGE): nothing was sent.
        this.fail(id, p, err as Error)
        return
      }
      this.deadlines.track(p.deadline)
    })
  }

  /** Never throws: a call that cannot be made is a rejected promise, as a failed one is. */
  private invoke (role: string, name: string, args: unknown, opts: CallOptions | undefined, inherited: number, parentTrace: string | undefined): Promise<unknown> {
    const target = this.schema.role(role)
    const command = target?.commands.get(name)
    if (target === undefined || command === undefined) return Promise.reject(new PeerwardenError('ERR_UNKNOWN_COMMAND', `unknown command ${role}.${name}`))
    if (!this.mayCall(target.name)) return Promise.reject(new PeerwardenError('ERR_NOT_ALLOWED', `${this.me.name} may not call ${target.name} (schema _connect/_allow)`))
    if (this.closed) return Promise.reject(PeerwardenError.closed('the mesh node'))
    const signal = opts?.signal
    if (signal?.aborted === true) return Promise.reject(aborted(command, signal))
    if (command.params !== undefined) {
      // Checked only: the arguments go out as given (the responder parses its own copy).
      const refused = argsRefused(command, args)
      if (refused !== undefined) return Promise.reject(refused)
    }
    const now = this.clock.now()
    const deadline = Math.min(now + (opts?.timeout ?? command.timeout ?? this.defaultTimeout), inherited)
    const parent = opts?.traceparent ?? parentTrace
    const trace = parent === undefined || this.otel !== undefined ? parent : childTraceparent(parent)
    if (command.kind !== 'balanced') return broadcast(this, target.name, command, args, deadline, signal, trace)
    let idempotent = command.idempotent
    let perAttempt = command.retries.perAttempt
    if (opts !== undefined) {
      try {
        checkCallOptions(opts)
      } catch (err) {
        return Promise.reject(err)
      }
      idempotent = opts.idempotent ?? idempotent
      if (opts.retries !== undefined) perAttempt = opts.retries.perAttempt
    }
    const instance = this.balancer.pick(target.name, undefined, now)
    if (instance === undefined) return failed(balancedCall(command, args, deadline, opts, trace), this.balancer.noInstance(target.name))
    const first = pendingOf(instance, command, args, attemptDeadline(deadline, idempotent, perAttempt, now), trace, signal, true)
    first.first = true
    first.opts = opts
    first.callDeadline = deadline
    return this.send(first, 1)
  }

  /** Our role may call `role` (schema _connect/_allow). */
  private mayCall (role: string): boolean {
    let ok = this.callable.get(role)
    if (ok === undefined) this.callable.set(role, ok = this.schema.canCall(this.me.name, role))
    return ok
  }
}

function aborted (command: Command, signal: AbortSignal): PeerwardenError {
  return new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason })
}
