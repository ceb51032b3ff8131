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
 *   others, one that refused a call ERR_BUSY in the last second comes after the rest. A failed
 *   attempt is retried as retry.ts says; when the call fails, the command's (or the call's)
 *   `fallback(args, error)` answers instead, except for the caller's own abort, a closed node, or
 *   arguments that cannot be sent.
 * - Every call carries a traceparent: a child of the call's `traceparent` option, else of the
 *   handler's (`ctx.call`), else a new trace; and its attempt number.
 */

import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { Breaker, type BreakerOptions, type BreakerState } from './breaker.js'
import { DeadlineSweep } from './deadline-sweep.js'
import type { Instance } from './instance.js'
import { CallMetrics, type Figures } from './metrics.js'
import type { RedisQueue } from './redis-queue.js'
import type { RpcMessage } from './messages.js'
import { classify, instanceFault, MAX_ATTEMPTS, metricCode, nextDelay, retryOptions } from './retry.js'
import { checkArgs, type BroadcastEntry, type CallOptions, type Command, type MeshCalls, type MeshSchema, type Role, type Schema } from './schema.js'
import { childTraceparent } from './trace.js'

const DEFAULT_TIMEOUT = 10_000
/** How long an instance that refused a call ERR_BUSY comes after the others, ms. */
const BUSY_MEMORY = 1000
/** Breakers of instances no longer connected kept beyond the connected ones (a restart keeps its state if it comes back). */
const SPARE_BREAKERS = 64

/** One breaker, as `stats()` shows it. */
export interface BreakerFigures {
  role: string
  instance: string
  peer: string
  state: BreakerState
  /** Calls that ended in the current window, and failures among them. */
  calls: number
  failures: number
}

type ReplyMessage = Extract<RpcMessage, { t: 'ack' | 'result' }>

/** A call of ours in flight. */
interface Pending {
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  settleOnAck: boolean
  instance: Instance
  command: Command
  deadline: number
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  /** Its metrics entry, and when it was sent. */
  figures: Figures
  sentAt: number
  /** A balanced call: its outcome counts on the instance's breaker. */
  balanced: boolean
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
}

/** The caller side of one mesh node (rules at the top of this file). */
export class Caller<S extends MeshSchema = MeshSchema> {
  private readonly schema: Schema
  private readonly me: Role
  private readonly instances: ReadonlyMap<string, Instance>
  private readonly defaultTimeout: number
  private readonly queue: RedisQueue | undefined
  private readonly from: string
  private readonly clock: Clock
  private readonly random: () => number
  private readonly pending = new Map<number, Pending>()
  private readonly breakerOptions: Required<BreakerOptions> | undefined
  /** By peer id: a reconnected instance keeps its breaker. */
  private readonly breakers = new Map<string, Breaker>()
  /** Per command and instance (stats, Prometheus). */
  readonly metrics = new CallMetrics()
  /** Called after a call's outcome counted on a breaker (the node's health report looks again). */
  onBreakerRecord: (() => void) | undefined
  private nextId = 1
  private picks = 0
  private closed = false

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
    this.breakerOptions = options.breaker
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
    // Budget: breakers of peers no longer connected, beyond a few, go (oldest first).
    for (const peer of this.breakers.keys()) {
      if (this.breakers.size <= this.instances.size + SPARE_BREAKERS) break
      if (!this.instances.has(peer)) this.breakers.delete(peer)
    }
  }

  /** The node closes: no timer, every call in flight rejects, and new calls fail. Idempotent. */
  close (): void {
    this.closed = true
    this.deadlines.stop()
    for (const [id, p] of this.pending) this.fail(id, p, PeerwardenError.closed('the mesh node'))
  }

  /** The breakers of the instances connected now (none without the `breaker` option). */
  breakerFigures (): BreakerFigures[] {
    const now = this.clock.now()
    const out: BreakerFigures[] = []
    for (const i of this.instances.values()) {
      const b = this.breakers.get(i.peer)
      if (b === undefined) continue
      out.push({ role: i.role, instance: i.variant, peer: i.peer, state: b.state(now), ...b.counts() })
    }
    return out
  }

  private breakerOf (peer: string): Breaker | undefined {
    if (this.breakerOptions === undefined) return undefined
    let b = this.breakers.get(peer)
    if (b === undefined) this.breakers.set(peer, b = new Breaker(this.breakerOptions))
    return b
  }

  /**
   * The instance of `role` for the next attempt, not one of `tried`, or undefined. Draining instances
   * and open breakers are skipped (a half-open one gives this call its probe).
   */
  private pick (role: string, tried: ReadonlySet<string> | undefined): Instance | undefined {
    const now = this.clock.now()
    let best: Instance | undefined
    for (const i of this.instances.values()) {
      if (i.role !== role || i.draining || tried?.has(i.peer) === true) continue
      if (this.breakerOptions !== undefined && this.breakers.get(i.peer)?.available(now) === false) continue
      if (best === undefined || before(i, best, now)) best = i
    }
    if (best !== undefined) {
      best.lastPicked = ++this.picks
      this.breakers.get(best.peer)?.allow(now)
    }
    return best
  }

  /** Takes a call out of `pending` (it settles now): its instance is one call less busy, its abort listener goes, its figures and breaker count it. */
  private settle (id: number, p: Pending, err: unknown): void {
    this.pending.delete(id)
    p.instance.outstanding--
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort)
    const now = this.clock.now()
    const outcome = err === undefined ? 'OK' : metricCode(err)
    this.metrics.end(p.figures, now - p.sentAt, outcome)
    if (outcome === 'ERR_BUSY') p.instance.busyUntil = now + BUSY_MEMORY
    if (p.balanced && this.breakerOptions !== undefined) {
      this.breakerOf(p.instance.peer)!.record(err !== undefined && instanceFault(err), now)
      this.onBreakerRecord?.()
    }
  }

  private succeed (id: number, p: Pending, value: unknown): void {
    this.settle(id, p, undefined)
    p.resolve(value)
  }

  private fail (id: number, p: Pending, err: Error): void {
    this.settle(id, p, err)
    p.reject(err)
  }

  private send1 (instance: Instance, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, settleOnAck: boolean, attempt: number, trace: string, balanced: boolean): Promise<unknown> {
    if (signal?.aborted === true) return Promise.reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason }))
    const id = this.nextId++
    const pending = this.pending
    return new Promise((resolve, reject) => {
      const figures = this.metrics.start(command, instance.variant)
      const p: Pending = { resolve, reject, settleOnAck, instance, command, deadline, signal, onAbort: undefined, figures, sentAt: this.clock.now(), balanced }
      if (signal !== undefined) {
        p.onAbort = () => {
          if (pending.get(id) !== p) return
          instance.send.send({ t: 'cancel', id })
          this.fail(id, p, new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason }))
        }
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      instance.outstanding++
      pending.set(id, p)
      try {
        instance.send.send({ t: 'call', id, cmd: command.name, args: args === undefined ? null : args, deadline, attempt: attempt > 1 ? attempt : undefined, trace }, `the call ${command.role}.${command.name}`)
      } catch (err) {
        // Arguments JSON cannot encode, or too large (ERR_MESSAGE_TOO_LARGE): nothing was sent.
        this.fail(id, p, err as Error)
        return
      }
      this.deadlines.track(deadline)
    })
  }

  /** Never throws: a call that cannot be made is a rejected promise, as a failed one is. */
  private invoke (role: string, name: string, args: unknown, opts: CallOptions | undefined, inherited: number, parentTrace: string | undefined): Promise<unknown> {
    const { schema, me } = this
    const target = schema.role(role)
    const command = target?.commands.get(name)
    if (target === undefined || command === undefined) return Promise.reject(new PeerwardenError('ERR_UNKNOWN_COMMAND', `unknown command ${role}.${name}`))
    if (!schema.canCall(me.name, target.name)) return Promise.reject(new PeerwardenError('ERR_NOT_ALLOWED', `${me.name} may not call ${target.name} (schema _connect/_allow)`))
    if (this.closed) return Promise.reject(PeerwardenError.closed('the mesh node'))
    if (opts?.signal?.aborted === true) return Promise.reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: opts.signal.reason }))
    if (command.params !== undefined) {
      const checked = checkArgs(command, args)
      if (!checked.ok) return Promise.reject(checked.error)
    }
    const deadline = Math.min(this.clock.now() + (opts?.timeout ?? command.timeout ?? this.defaultTimeout), inherited)
    const trace = childTraceparent(opts?.traceparent ?? parentTrace)
    if (command.kind === 'balanced') {
      let call: BalancedCall
      try {
        call = this.balancedCall(command, args, deadline, opts, trace)
      } catch (err) {
        return Promise.reject(err)
      }
      const instance = this.pick(target.name, undefined)
      if (instance === undefined) return this.failed(call, this.noInstance(target.name))
      const first = this.send1(instance, command, args, call.attemptDeadline(), opts?.signal, !command.responds, 1, trace, true)
      return first.then(undefined, async (err) => await this.recover(call, instance, err))
    }
    return this.broadcast(target.name, command, args, deadline, opts?.signal, trace)
  }

  /** A balanced call's policy: the command's, overridden by the call's options (checked). */
  private balancedCall (command: Command, args: unknown, deadline: number, opts: CallOptions | undefined, trace: string): BalancedCall {
    const idempotent = opts?.idempotent ?? command.idempotent
    const policy = opts?.retries === undefined ? command.retries : retryOptions(opts.retries, 'retries')
    const fallback = opts?.fallback ?? command.fallback
    if (fallback !== undefined && typeof fallback !== 'function') throw PeerwardenError.invalid('fallback must be a function')
    const clock = this.clock
    return {
      command,
      args,
      deadline,
      signal: opts?.signal,
      trace,
      idempotent,
      policy,
      fallback,
      // One attempt's deadline: `perAttempt` gives a slow instance up for another (idempotent calls only).
      attemptDeadline: () => idempotent && policy.perAttempt !== undefined ? Math.min(deadline, clock.now() + policy.perAttempt) : deadline
    }
  }

  private noInstance (role: string): PeerwardenError {
    for (const i of this.instances.values()) {
      if (i.role === role) return new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${role} takes calls now (draining, or its circuit breaker open)`)
    }
    return new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${role} is connected`)
  }

  /** The first attempt failed with `err`: the next attempts, as retry.ts says, then the fallback. */
  private async recover (call: BalancedCall, first: Instance, err: unknown): Promise<unknown> {
    const tried = new Set<string>([first.peer])
    let last = err
    let lost = 0
    for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
      const kind = classify(last)
      if (kind === 'final' || (kind === 'lost' && !call.idempotent)) break
      if (kind === 'lost') {
        if (lost >= call.policy.retries) break
        const delay = nextDelay(++lost, call.policy, this.random())
        if (this.clock.now() + delay >= call.deadline) break
        await this.sleep(delay, call.signal)
        if (this.closed) { last = PeerwardenError.closed('the mesh node'); break }
      }
      const next = this.pick(call.command.role, tried)
      if (next === undefined) break
      tried.add(next.peer)
      try {
        return await this.send1(next, call.command, call.args, call.attemptDeadline(), call.signal, !call.command.responds, attempt, call.trace, true)
      } catch (e) {
        last = e
      }
    }
    return await this.failed(call, last)
  }

  /** The call failed with `err`: its fallback's answer, or `err`. */
  private async failed (call: BalancedCall, err: unknown): Promise<unknown> {
    const code = (err as PeerwardenError | undefined)?.code
    if (call.fallback === undefined || code === 'ERR_ABORTED' || code === 'ERR_CLOSED' || code === 'ERR_MESSAGE_TOO_LARGE' || !(err instanceof PeerwardenError)) throw err
    return await call.fallback(call.args, err)
  }

  /** Waits `ms` on the clock, or until `signal` aborts. */
  private async sleep (ms: number, signal: AbortSignal | undefined): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.clock.clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = this.clock.setTimeout(done, ms)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  private async broadcast (role: string, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, trace: string): Promise<unknown> {
    if (command.queued && this.queue !== undefined) {
      // Durable: once in the stream, every instance's group gets it, even one that is down right now.
      await this.queue.publish(role, command.name, args, this.from, { timeout: Math.max(0, deadline - this.clock.now()), ...(signal !== undefined ? { signal } : {}) })
      return undefined
    }
    // A draining instance takes no new call: it is no longer one of "every instance".
    const all = [...this.instances.values()].filter((i) => i.role === role && !i.draining)
    const settled = await Promise.allSettled(all.map(async (i) => await this.send1(i, command, args, deadline, signal, !command.responds, 1, trace, false)))
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

/** A balanced call's policy and what its next attempts need. */
interface BalancedCall {
  command: Command
  args: unknown
  deadline: number
  signal: AbortSignal | undefined
  trace: string
  idempotent: boolean
  policy: Command['retries']
  fallback: Command['fallback']
  attemptDeadline: () => number
}

/**
 * The balancer's order (`a` before `b`?), one step per tie-break:
 * 1. an instance that refused a call ERR_BUSY less than a second ago comes after the others;
 * 2. fewer calls outstanding first;
 * 3. the one picked longest ago first (round-robin among equals).
 */
function before (a: Instance, b: Instance, now: number): boolean {
  const aBusy = a.busyUntil > now
  const bBusy = b.busyUntil > now
  if (aBusy !== bBusy) return bBusy
  if (a.outstanding !== b.outstanding) return a.outstanding < b.outstanding
  return a.lastPicked < b.lastPicked
}
