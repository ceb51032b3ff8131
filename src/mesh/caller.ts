/**
 * The caller side of a mesh node: `mesh.call` and `ctx.call` proxies, the choice of instance, the
 * broadcast fan-out, and the calls in flight until they settle.
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
 * - The choice of instance and the breakers are balancer.ts's; the attempts after a failed first
 *   one, and the fallback, attempts.ts's.
 */

import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { attemptDeadline, balancedCall, checkCallOptions, failed, recover, settlesAtOnce, type AttemptHost, type BalancedCall } from './attempts.js'
import { Balancer, type BreakerFigures } from './balancer.js'
import type { BreakerOptions } from './breaker.js'
import { DeadlineSweep } from './deadline-sweep.js'
import { InvalidOutliers, OUTLIER_MEMORY } from './invalid-outlier.js'
import type { Instance } from './instance.js'
import { CallMetrics, type Figures } from './metrics.js'
import type { ClientSpan, OtelBridge } from './otel.js'
import type { RedisQueue } from './redis-queue.js'
import type { RpcMessage } from './messages.js'
import { instanceFault, metricCode } from './retry.js'
import { argsRefused, type BroadcastEntry, type CallOptions, type Command, type MeshCalls, type MeshSchema, type Role, type Schema } from './schema.js'
import { childTraceparent } from './trace.js'

export type { BreakerFigures } from './balancer.js'

const DEFAULT_TIMEOUT = 10_000
/** How long an instance that refused a call ERR_BUSY comes after the others, ms. */
const BUSY_MEMORY = 1000

type ReplyMessage = Extract<RpcMessage, { t: 'ack' | 'result' }>

/** An attempt of ours in flight. */
interface Pending {
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  settleOnAck: boolean
  instance: Instance
  command: Command
  args: unknown
  /** This attempt's deadline. */
  deadline: number
  trace: string | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  /** Its metrics entry, and when it was sent. */
  figures: Figures | undefined
  sentAt: number
  /** A balanced call: its outcome counts on the instance's breaker. */
  balanced: boolean
  /** Its OpenTelemetry span (the `tracer` option). */
  span: ClientSpan | undefined
  /**
   * The first attempt of a balanced call: its failure goes to the attempt loop (attempts.ts), which
   * settles the call, with the call's options and deadline (fields, not an object: no allocation
   * for the calls that succeed).
   */
  first: boolean
  opts: CallOptions | undefined
  callDeadline: number
}

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
export class Caller<S extends MeshSchema = MeshSchema> implements AttemptHost {
  private readonly schema: Schema
  private readonly me: Role
  private readonly instances: ReadonlyMap<string, Instance>
  private readonly defaultTimeout: number
  private readonly queue: RedisQueue | undefined
  private readonly from: string
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

  // Deadlines: one timer for all the calls in flight (see DeadlineSweep).
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
   * `calls.Role.command(args, opts)`, or `calls.Role.command.call(args, opts)`. The functions of the schema's roles and commands are made once
   * per proxy, not on every property access; other names (which fail at call time) are not kept.
   */
  calls (inherited: number, traceparent?: string): MeshCalls<S> {
    const schema = this.schema
    const roles = new Map<string, object>()
    const roleCalls = (role: string): object => {
      const fns = new Map<string, (args?: unknown, opts?: CallOptions) => Promise<unknown>>()
      return new Proxy({}, {
        get: (_u, name) => {
          if (typeof name !== 'string') return undefined
          let fn = fns.get(name)
          if (fn === undefined) {
            fn = (args?: unknown, opts?: CallOptions) => this.invoke(role, name, args, opts, inherited, traceparent)
            // The socketmesh form `call.Role.command.call(args)` is the same call (not Function.prototype.call).
            Object.defineProperty(fn, 'call', { value: fn })
            if (schema.role(role)?.commands.has(name) === true) fns.set(name, fn)
          }
          return fn
        }
      })
    }
    return new Proxy({}, {
      get: (_t, role) => {
        if (typeof role !== 'string') return undefined
        let r = roles.get(role)
        if (r === undefined) {
          r = roleCalls(role)
          if (schema.role(role) !== undefined) roles.set(role, r)
        }
        return r
      }
    }) as MeshCalls<S>
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
    return await this.send(this.pendingOf(instance, call.command, call.args, deadline, call.trace, call.signal, true), attempt)
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
    if (outcome === 'ERR_BUSY') p.instance.busyUntil = now + BUSY_MEMORY
    // A node that refuses ERR_DRAINING takes no new call again (an honest one drains until it
    // closes): after the others for good, even if it never said 'drain' (an older peer, or a liar
    // drawing the calls of the balancer's "fewest outstanding" rule).
    else if (outcome === 'ERR_DRAINING') p.instance.busyUntil = Infinity
    if (!p.balanced) return
    // ERR_INVALID_ARGUMENT is the caller's mistake, unless this instance refuses what the others serve.
    const outlier = this.outliers.record(p.command, p.instance.peer, outcome === 'OK' ? 'ok' : outcome === 'ERR_INVALID_ARGUMENT' ? 'invalid' : 'other')
    if (outlier > 0) p.instance.busyUntil = Math.max(p.instance.busyUntil, now + OUTLIER_MEMORY)
    if (this.balancer.record(p.instance, outlier > 0 || (err !== undefined && instanceFault(err)), now, Math.max(0, outlier - 1))) this.onBreakerRecord?.()
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

  /** An attempt, before it is sent (`send` fills in the rest). */
  private pendingOf (instance: Instance, command: Command, args: unknown, deadline: number, trace: string | undefined, signal: AbortSignal | undefined, balanced: boolean): Pending {
    return { resolve: noop, reject: noop, settleOnAck: !command.responds, instance, command, args, deadline, trace, signal, onAbort: undefined, figures: undefined, sentAt: 0, balanced, span: undefined, first: false, opts: undefined, callDeadline: deadline }
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
    if (command.kind !== 'balanced') return this.broadcast(target.name, command, args, deadline, signal, trace)
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
    const first = this.pendingOf(instance, command, args, attemptDeadline(deadline, idempotent, perAttempt, now), trace, signal, true)
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

  private async broadcast (role: string, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, trace: string | undefined): Promise<unknown> {
    if (command.queued && this.queue !== undefined) {
      // Durable: once in the stream, every instance's group gets it, even one that is down right now.
      await this.queue.publish(role, command.name, args, this.from, { timeout: Math.max(0, deadline - this.clock.now()), ...(signal !== undefined ? { signal } : {}) })
      return undefined
    }
    // A draining instance takes no new call: it is no longer one of "every instance".
    const all = [...this.instances.values()].filter((i) => i.role === role && !i.draining)
    const settled = await Promise.allSettled(all.map(async (i) => await this.send(this.pendingOf(i, command, args, deadline, trace, signal, false), 1)))
    if (!command.responds) {
      const failure = settled.find((s) => s.status === 'rejected')
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason
      return undefined
    }
    return settled.map((s, k): BroadcastEntry<unknown> => s.status === 'fulfilled'
      ? { variant: all[k].variant, ok: true, value: s.value }
      : { variant: all[k].variant, ok: false, error: s.reason as Error })
  }
}

function noop (): void {}

function aborted (command: Command, signal: AbortSignal): PeerwardenError {
  return new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason })
}
