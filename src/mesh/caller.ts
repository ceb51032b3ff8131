/**
 * The caller side of a mesh node: `mesh.call` and `ctx.call` proxies, the choice of instance, the
 * broadcast fan-out, and the calls in flight until they settle.
 *
 * Rules:
 * - Balanced: one instance, the one with the fewest calls outstanding, round-robin among equals.
 *   Broadcast: every instance at send time; with `responds`, one settled entry per instance. A queued broadcast with Redis is published to the stream instead (durable).
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
 */

import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { DeadlineSweep } from './deadline-sweep.js'
import type { Instance } from './instance.js'
import type { RedisQueue } from './redis-queue.js'
import type { RpcMessage } from './messages.js'
import type { BroadcastEntry, CallOptions, Command, MeshCalls, MeshSchema, Role, Schema } from './schema.js'

const DEFAULT_TIMEOUT = 10_000

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
  private readonly pending = new Map<number, Pending>()
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
    this.deadlines = new DeadlineSweep((now) => {
      let next = Infinity
      for (const [id, p] of this.pending) {
        if (p.deadline > now) { if (p.deadline < next) next = p.deadline; continue }
        this.settle(id, p)
        p.instance.send.send({ t: 'cancel', id })
        p.reject(new PeerwardenError('ERR_TIMEOUT', `${p.command.role}.${p.command.name} on ${p.instance.variant} timed out`))
      }
      return next
    }, this.clock)
  }

  /**
   * `mesh.call` (inherited = Infinity) and a handler's `ctx.call` (what is left of its deadline):
   * `calls.Role.command(args, opts)`, or `calls.Role.command.call(args, opts)`. The functions of the schema's roles and commands are made once
   * per proxy, not on every property access; other names (which fail at call time) are not kept.
   */
  calls (inherited: number): MeshCalls<S> {
    const schema = this.schema
    const roles = new Map<string, object>()
    const roleCalls = (role: string): object => {
      const fns = new Map<string, (args?: unknown, opts?: CallOptions) => Promise<unknown>>()
      return new Proxy({}, {
        get: (_u, name) => {
          if (typeof name !== 'string') return undefined
          let fn = fns.get(name)
          if (fn === undefined) {
            fn = (args?: unknown, opts?: CallOptions) => this.invoke(role, name, args, opts, inherited)
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
      if (p.settleOnAck) this.settle(msg.id, p).resolve(undefined)
      return
    }
    if (msg.ok) this.settle(msg.id, p).resolve(msg.value)
    else this.settle(msg.id, p).reject(new PeerwardenError('ERR_REMOTE', `${from.role}/${from.variant}: ${msg.error.message}`, { cause: msg.error }))
  }

  /**
   * The channel to `instance` closed: its calls in flight settle now, even when a newer connection to
   * the same peer (a duplicate swap) has taken its place.
   */
  gone (instance: Instance): void {
    for (const [id, p] of this.pending) if (p.instance === instance) this.settle(id, p).reject(new PeerwardenError('ERR_CONNECTION_CLOSED', `${instance.role}/${instance.variant} went away`))
  }

  /** The node closes: no timer, every call in flight rejects, and new calls fail. Idempotent. */
  close (): void {
    this.closed = true
    this.deadlines.stop()
    for (const [id, p] of this.pending) this.settle(id, p).reject(PeerwardenError.closed('the mesh node'))
  }

  private pick (role: string): Instance | undefined {
    let best: Instance | undefined
    for (const i of this.instances.values()) {
      if (i.role !== role) continue
      if (best === undefined || i.outstanding < best.outstanding || (i.outstanding === best.outstanding && i.lastPicked < best.lastPicked)) best = i
    }
    if (best !== undefined) best.lastPicked = ++this.picks
    return best
  }

  /** Takes a call out of `pending` (it settles now): its instance is one call less busy, its abort listener goes. */
  private settle (id: number, p: Pending): Pending {
    this.pending.delete(id)
    p.instance.outstanding--
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort)
    return p
  }

  private send1 (instance: Instance, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, settleOnAck: boolean): Promise<unknown> {
    if (signal?.aborted === true) return Promise.reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason }))
    const id = this.nextId++
    const pending = this.pending
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, settleOnAck, instance, command, deadline, signal, onAbort: undefined }
      if (signal !== undefined) {
        p.onAbort = () => {
          if (pending.get(id) !== p) return
          this.settle(id, p)
          instance.send.send({ t: 'cancel', id })
          reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason }))
        }
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      instance.outstanding++
      pending.set(id, p)
      try {
        instance.send.send({ t: 'call', id, cmd: command.name, args: args === undefined ? null : args, deadline }, `the call ${command.role}.${command.name}`)
      } catch (err) {
        // Arguments JSON cannot encode, or too large (ERR_MESSAGE_TOO_LARGE): nothing was sent.
        this.settle(id, p)
        reject(err)
        return
      }
      this.deadlines.track(deadline)
    })
  }

  /** Never throws: a call that cannot be made is a rejected promise, as a failed one is. */
  private invoke (role: string, name: string, args: unknown, opts: CallOptions | undefined, inherited: number): Promise<unknown> {
    const { schema, me } = this
    const target = schema.role(role)
    const command = target?.commands.get(name)
    if (target === undefined || command === undefined) return Promise.reject(new PeerwardenError('ERR_UNKNOWN_COMMAND', `unknown command ${role}.${name}`))
    if (!schema.canCall(me.name, target.name)) return Promise.reject(new PeerwardenError('ERR_NOT_ALLOWED', `${me.name} may not call ${target.name} (schema _connect/_allow)`))
    if (this.closed) return Promise.reject(PeerwardenError.closed('the mesh node'))
    const deadline = Math.min(this.clock.now() + (opts?.timeout ?? command.timeout ?? this.defaultTimeout), inherited)
    if (command.kind === 'balanced') {
      const instance = this.pick(target.name)
      if (instance === undefined) return Promise.reject(new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${target.name} is connected`))
      return this.send1(instance, command, args, deadline, opts?.signal, !command.responds)
    }
    return this.broadcast(target.name, command, args, deadline, opts?.signal)
  }

  private async broadcast (role: string, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (command.queued && this.queue !== undefined) {
      // Durable: once in the stream, every instance's group gets it, even one that is down right now.
      await this.queue.publish(role, command.name, args, this.from, { timeout: Math.max(0, deadline - this.clock.now()), ...(signal !== undefined ? { signal } : {}) })
      return undefined
    }
    const all = [...this.instances.values()].filter((i) => i.role === role)
    const settled = await Promise.allSettled(all.map(async (i) => await this.send1(i, command, args, deadline, signal, !command.responds)))
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
