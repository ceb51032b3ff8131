/**
 * The serving side of a mesh node: runs our handlers for the calls instances make to us, and answers.
 *
 * Rules:
 * - A call fails at once with ERR_UNKNOWN_COMMAND (no such command, or no handler) or ERR_NOT_ALLOWED
 *   (the caller's role may not call ours); the handler does not run.
 * - A command that does not respond, or is queued, is acked when it arrives; one that responds is
 *   answered with the handler's value, or with its throw (message and code). A value JSON cannot
 *   encode is answered with that error instead.
 * - Queued (in memory: at most once): each command's messages run one at a time, in arrival order.
 *   With Redis, `consume` takes them from the stream instead (at least once, in order).
 * - `ctx.signal` aborts at the deadline, when the caller cancels, when its channel closes, or when
 *   the node closes; `ctx.call` passes what is left of the deadline on.
 * - A handler past its deadline or cancelled is released at once: its entry in `running` goes (no
 *   per-call state is left here, even if it never settles), nobody is answered for it, and a
 *   queued command's next message runs. All the deadlines of running handlers share one timer.
 * - Budgets and bulkheads (peers are hostile; responder-budgets.ts): at most `maxRunning` (1024)
 *   calls of one channel running here, `maxQueued` (10 000) messages of one queued command waiting,
 *   `maxQueuedBytes` (64 MiB) of arguments waiting in all, `maxPeerBytes` (32 MiB) of the messages
 *   one peer's calls came in, and a command's `concurrency` + `maxQueueSize`; past them a call is
 *   answered ERR_BUSY at once (not acked, its handler does not run).
 * - A call whose id is already running on that channel is a protocol error (it throws to the
 *   channel's peerHandler, which closes the connection).
 * - An error answer fits its decoder: message cut to 4096 characters, code sent only if it is a
 *   string of at most 64.
 * - Arguments are checked again against the command's `params` (the caller's check proves nothing):
 *   ERR_INVALID_ARGUMENT naming the field, the handler does not run; it gets the parsed output.
 * - Draining (`drain()`): every new call is refused ERR_DRAINING (its handler does not run, so the
 *   caller may send it elsewhere); `whenIdle()` resolves once no accepted call is left to run or
 *   running (queued ones included).
 */

import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { DeadlineSweep } from './deadline-sweep.js'
import { HandlerContext } from './handler-context.js'
import type { Instance } from './instance.js'
import type { Charge, PeerBytes } from './peer-bytes.js'
import { clip, errorText, MAX_ERROR_CODE, MAX_ERROR_MESSAGE } from './messages.js'
import type { RedisQueue } from './redis-queue.js'
import { ResponderBudgets, type CallMessage } from './responder-budgets.js'
import type { Outbox } from './rpc-wire.js'
import { checkArgs, handlerOf, type CallContext, type Command, type Handler, type Role } from './schema.js'

export { DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_RUNNING } from './responder-budgets.js'

/** What the serving side takes from its mesh node. */
export interface ResponderOptions {
  /** Our own role: the commands we serve. */
  me: Role
  /** Handlers by command name; default: the functions written in the schema. */
  handlers: Record<string, Handler> | undefined
  /** A handler's `ctx.call`: the caller side's proxy, bounded by the handler's deadline, continuing its trace. */
  calls: (deadline: number, traceparent: string | undefined) => CallContext['call']
  /** The deadlines of `ctx.signal` run on it. */
  clock: Clock
  /** Calls one channel may have running here at once (async handlers); more are answered ERR_BUSY. Default 1024. */
  maxRunning?: number
  /** Messages of one queued command waiting here (in memory); more are answered ERR_BUSY. Default 10_000. */
  maxQueued?: number
  /** Bytes of arguments waiting here (queued messages and bulkhead waits); more are answered ERR_BUSY. Default 64 MiB. */
  maxQueuedBytes?: number
  /** Bytes of the messages one peer's calls keep here while they run or wait (peer-bytes.ts); more are answered ERR_BUSY. Default 32 MiB. */
  maxPeerBytes?: number
  /** A handler whose call came without a traceparent starts a trace (`ctx.traceparent`). Default true. */
  tracing?: boolean
}

/** The serving side of one mesh node (rules at the top of this file). */
export class Responder {
  private readonly me: Role
  private readonly handlers: Record<string, Handler> | undefined
  private readonly calls: (deadline: number, traceparent: string | undefined) => CallContext['call']
  private readonly clock: Clock
  /** What may wait and run here: budgets and bulkheads (responder-budgets.ts). */
  private readonly budgets: ResponderBudgets
  /** Accepted calls not yet ended (running, or waiting in a queue or a bulkhead). */
  private inside = 0
  private idleWaiters: Array<() => void> = []
  /** `drain()` was called: new calls are refused ERR_DRAINING. */
  draining = false
  /** Channels whose handlers may still run, listed or not (a duplicate swap unlists one early). */
  private readonly channels = new Set<Instance>()
  private readonly queues = new Map<string, Promise<void>>()
  private readonly tracing: boolean
  /** Releases the handlers past their deadline (one timer for all of them). */
  private readonly deadlines: DeadlineSweep

  constructor (options: ResponderOptions) {
    this.me = options.me
    this.handlers = options.handlers
    this.calls = options.calls
    this.clock = options.clock
    this.budgets = new ResponderBudgets(options)
    this.tracing = options.tracing ?? true
    this.deadlines = new DeadlineSweep((now) => {
      let next = Infinity
      for (const ch of this.channels) {
        for (const [id, ctx] of ch.running) {
          if (ctx.deadline > now) { if (ctx.deadline < next) next = ctx.deadline; continue }
          this.release(ch, id, new PeerwardenError('ERR_TIMEOUT', 'the deadline passed'))
        }
      }
      return next
    }, this.clock)
  }

  /** Handlers running now (async ones, not yet settled, released or cancelled), over all channels. */
  get running (): number {
    let n = 0
    for (const ch of this.channels) n += ch.running.size
    return n
  }

  /** Queued messages (in memory) waiting for their turn, over all commands, and calls waiting for a bulkhead's slot. */
  get queued (): number { return this.budgets.queued }

  /** Bytes of arguments waiting (queued messages not started, calls waiting for a bulkhead's slot). */
  get queuedBytes (): number { return this.budgets.queuedBytes }

  /** Queued messages refused past their peer's share of the command's queue. */
  get queueShareRefused (): number { return this.budgets.queueShareRefused }

  /** What each peer's calls keep here (peer-bytes.ts). */
  get peerBytes (): PeerBytes { return this.budgets.peerBytes }

  /** From now on every new call is refused ERR_DRAINING; the accepted ones go on. */
  drain (): void { this.draining = true }

  /** Resolves once no accepted call is left (running, queued, or waiting for a bulkhead slot). */
  async whenIdle (): Promise<void> {
    if (this.inside === 0) return
    await new Promise<void>((resolve) => { this.idleWaiters.push(resolve) })
  }

  /** A channel both sides admitted: its calls may run here from now on. */
  attach (instance: Instance): void { this.channels.add(instance) }

  /** Its channel closed: its calls still running here see ctx.signal abort (nobody waits for the answer now). */
  detach (instance: Instance): void {
    this.channels.delete(instance)
    const reason = new PeerwardenError('ERR_CONNECTION_CLOSED', `${instance.role}/${instance.variant} went away`)
    for (const id of [...instance.running.keys()]) this.release(instance, id, reason)
  }

  /** The caller cancelled call `id` (aborted, or past its deadline). */
  cancel (id: number, from: Instance): void {
    this.release(from, id, new PeerwardenError('ERR_ABORTED', 'the caller cancelled'))
  }

  /** The node closes: every handler still running sees ctx.signal abort, and is released. */
  close (): void {
    this.deadlines.stop()
    // Calls waiting for a bulkhead slot never start (nobody will read their answer).
    const dropped = this.budgets.dropWaiting()
    this.inside -= dropped.length
    for (const w of dropped) w.release()
    const reason = PeerwardenError.closed('the mesh node')
    for (const ch of this.channels) for (const id of [...ch.running.keys()]) this.release(ch, id, reason)
  }

  /** Nobody waits for call `id` any more: its ctx.signal aborts and its state here goes. */
  private release (from: Instance, id: number, reason: unknown): void {
    const ctx = from.running.get(id)
    if (ctx === undefined) return
    from.running.delete(id)
    ctx.abort(reason)
    ctx.dispose()
    ctx.onRelease?.()
  }

  /** Serves a call of `from`; `charge` is the message it came in (held against `from` while it runs or waits). */
  serve (msg: CallMessage, from: Instance, charge?: Charge): void {
    if (from.running.has(msg.id)) throw new PeerwardenError('ERR_PROTOCOL', `call id ${msg.id} is already running`)
    const { send } = from
    const me = this.me
    const command = me.commands.get(msg.cmd)
    if (command === undefined) return fail(send, msg.id, `unknown command ${me.name}.${msg.cmd}`, 'ERR_UNKNOWN_COMMAND')
    if (!from.mayCall) return fail(send, msg.id, `${from.role} may not call ${me.name}`, 'ERR_NOT_ALLOWED')
    const handler = handlerOf(this.handlers, command)
    if (handler === undefined) return fail(send, msg.id, `no handler for ${me.name}.${msg.cmd}`, 'ERR_UNKNOWN_COMMAND')
    if (this.draining) return fail(send, msg.id, `${me.name} is draining`, 'ERR_DRAINING')
    let args = msg.args
    if (command.params !== undefined) {
      const checked = checkArgs(command, args)
      if (!checked.ok) return fail(send, msg.id, checked.error.message, 'ERR_INVALID_ARGUMENT')
      args = checked.value
    }
    const admitted = this.budgets.admit(me.name, msg, from, command, args, charge)
    if ('refused' in admitted) return fail(send, msg.id, admitted.message, admitted.code)
    if (!command.responds || command.queued) send.send({ t: 'ack', id: msg.id })
    this.inside++
    const { bytes } = admitted
    const release = this.budgets.take(from, charge, bytes)
    if (command.queued) {
      // One at a time, in arrival order, per command.
      const run = async (): Promise<void> => {
        this.budgets.started(msg.cmd, from.peer, bytes)
        await this.execute(msg, args, from, command, handler, true, release)
      }
      this.queues.set(msg.cmd, (this.queues.get(msg.cmd) ?? Promise.resolve()).then(run, run))
    } else if (admitted.waits) {
      this.budgets.enqueue(command, { msg, args, from, handler, bytes, release })
    } else {
      this.budgets.occupy(command)
      void this.execute(msg, args, from, command, handler, false, release)
    }
  }

  /** An accepted call ended (answered, failed, or released): its bulkhead slot goes to the next waiting call, and drain() may finish. */
  private ended (command: Command): void {
    this.inside--
    // A waiting call nobody waits for any more (channel gone, deadline passed) is dropped, and the
    // slot goes to the next one.
    const next = this.budgets.freed(command,
      (w) => this.channels.has(w.from) && (w.msg.deadline ?? Infinity) > this.clock.now(),
      (w) => { this.inside--; w.release() })
    if (next !== undefined) void this.execute(next.msg, next.args, next.from, command, next.handler, false, next.release)
    if (this.inside === 0 && this.idleWaiters.length > 0) for (const wake of this.idleWaiters.splice(0)) wake()
  }

  /**
   * Queued commands on Redis: one consumer group per command and instance (`variant`), created
   * before the node says it is here. Each message runs its handler with a `ctx` of its own
   * (its deadline the command's `timeout`, else the queue's `handlerTimeout`: ./queue-deadline.ts;
   * `from` as the publisher wrote it). A message whose `from` role may not call ours
   * (`mayCall`), or whose arguments fail the command's `params`, is dead-lettered unrun, as such a
   * call would be refused.
   */
  async consume (queue: RedisQueue, variant: string, mayCall: (role: string) => boolean): Promise<void> {
    for (const command of this.me.commands.values()) {
      if (!command.queued) continue
      const handler = handlerOf(this.handlers, command)
      if (handler === undefined) continue
      await queue.consume(this.me.name, command.name, variant, async (args, meta) => {
        const [role, from] = splitFrom(meta.from)
        await handler(args, { from: { role, variant: from }, signal: meta.signal, deadline: meta.deadline, call: this.calls(meta.deadline, undefined), attempt: 1, traceparent: undefined } satisfies CallContext)
      }, (args, from) => {
        // As for a call (`serve`): whoever wrote the stream proves nothing.
        const [role] = splitFrom(from)
        if (!mayCall(role)) return { refused: `${role} may not call ${this.me.name} (schema _connect/_allow)` }
        if (command.params === undefined) return { value: args }
        const checked = checkArgs(command, args)
        return checked.ok ? { value: checked.value } : { refused: checked.error.message }
      }, command.timeout)
    }
  }

  /**
   * Runs a handler and answers. A handler that returns a value (not a promise) is answered at once,
   * in the same tick; only one that returns a promise is listed in `running` (a cancel can reach it
   * only after it returned).
   */
  private execute (msg: CallMessage, args: unknown, from: Instance, command: Command, handler: Handler, queued = false, release: () => void = noop): Promise<void> | undefined {
    const ctx = new HandlerContext(from.who, msg.deadline ?? Infinity, this.calls, this.clock, msg.attempt ?? 1, msg.trace, this.tracing)
    let out: unknown
    try {
      out = handler(args, ctx)
    } catch (err) {
      ctx.dispose()
      if (command.responds) fail(from.send, msg.id, errorText(err), codeOf(err))
      release()
      this.ended(command)
      return undefined
    }
    if (!isThenable(out)) {
      ctx.dispose()
      if (command.responds) answer(from.send, msg.id, out)
      release()
      this.ended(command)
      return undefined
    }
    from.running.set(msg.id, ctx)
    this.deadlines.track(ctx.deadline)
    // Settled, or released (past its deadline, cancelled, channel gone), whichever comes first: its
    // slot frees, and a queued command's next message may run.
    let ended: (() => void) | undefined
    const end = queued ? new Promise<void>((resolve) => { ended = resolve }) : undefined
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      ended?.()
      release()
      this.ended(command)
    }
    ctx.onRelease = finish
    /** Still listed: nobody released it, so the caller waits for the answer. */
    const done = (): boolean => {
      finish()
      if (from.running.get(msg.id) !== ctx) return false
      from.running.delete(msg.id)
      ctx.dispose()
      return true
    }
    const settled = Promise.resolve(out).then((value) => {
      if (done() && command.responds) answer(from.send, msg.id, value)
    }, (err) => {
      if (done() && command.responds) fail(from.send, msg.id, errorText(err), codeOf(err))
    })
    return end ?? settled
  }
}

function noop (): void {}

/** A queued message's `from` ('role/variant') as its role and variant. */
function splitFrom (from: string): [string, string] {
  const slash = from.indexOf('/')
  return slash === -1 ? [from, ''] : [from.slice(0, slash), from.slice(slash + 1)]
}

function isThenable (x: unknown): x is PromiseLike<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function'
}

/** Answers call `id` with `value`, or with the error of encoding it (a BigInt, a cycle). */
function answer (send: Outbox, id: number, value: unknown): void {
  try {
    send.send({ t: 'result', id, ok: true, value: value === undefined ? null : value })
  } catch (err) {
    fail(send, id, errorText(err), codeOf(err))
  }
}

/** Answers call `id` with an error, cut to fit its decoder at the caller. Never throws. */
function fail (send: Outbox, id: number, message: string, code: unknown): void {
  const error = { message: clip(message, MAX_ERROR_MESSAGE), code: typeof code === 'string' && code.length <= MAX_ERROR_CODE ? code : undefined }
  try { send.send({ t: 'result', id, ok: false, error }) } catch { /* a short string and a short code always encode */ }
}

function codeOf (err: unknown): unknown {
  try { return (err as PeerwardenError)?.code } catch { return undefined }
}
