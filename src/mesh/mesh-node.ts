import c from 'compact-encoding'
import type { Message } from 'protomux'
import { PeerwardenError } from '../errors.js'
import { NodeConnection } from '../node/connection.js'
import { createNode, type PeerNode } from '../node/node.js'
import { parseTcpAddress } from '../node/transport.js'
import { check, type Certificate } from './certificate.js'
import { DeadlineSweep } from './deadline-sweep.js'
import { HandlerContext } from './handler-context.js'
import { RedisQueue, type QueueOptions } from './redis-queue.js'
import { REGISTRY_PROTOCOL, type DirectoryEntry, type RegistryMessage } from './registry.js'
import { jsonOnce, Outbox, type RpcMessage } from './rpc-wire.js'
import { Schema, type BroadcastEntry, type CallContext, type CallOptions, type Command, type Handler, type MeshCalls, type MeshSchema } from './schema.js'

export const RPC_PROTOCOL = 'peerwarden/mesh-rpc/1'
const DEFAULT_TIMEOUT = 10_000

type CallMessage = Extract<RpcMessage, { t: 'call' }>

/** The other end of one RPC channel (listed in `instances` once both sides admitted each other). */
interface Instance {
  peer: string
  role: string
  variant: string
  /** `ctx.from` of the calls it makes to us (frozen: one object shared by all of them). */
  who: { readonly role: string; readonly variant: string }
  /** It may call us (the schema relates its role to ours); fixed by its certificate. */
  mayCall: boolean
  send: Outbox
  outstanding: number
  /** Round-robin tie-break among equally loaded instances. */
  lastPicked: number
  draining: boolean
  /** Its calls our handlers are still running (async ones), by call id: a cancel finds them here. */
  running: Map<number, HandlerContext>
}

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

export interface MeshNodeOptions<S extends MeshSchema = MeshSchema> {
  schema: S
  role: keyof S & string
  /** Instance name; default random. */
  variant?: string
  /** The registry's address, 'tcp://host:port#<registry id>'. */
  registry: string
  /** Handlers by command name; default: the functions written in the schema. */
  handlers?: Record<string, Handler>
  networkKey?: string | Uint8Array
  /** Default call deadline, ms. Default 10_000. */
  timeout?: number
  listen?: string[]
  /**
   * Redis for queued commands, e.g. 'redis://127.0.0.1:6379': at least once, in order, surviving a
   * restart of the receiver (Redis Streams, one consumer group per instance). Every node of the mesh
   * should use the same Redis. Default: in memory, at most once.
   */
  redis?: string
  /** Redis queue tuning (dead-letter after `maxDeliveries`, default 5). */
  queue?: QueueOptions
}

export interface MeshNode<S extends MeshSchema = MeshSchema> {
  readonly id: string
  readonly role: string
  readonly variant: string
  /** `mesh.call.Role.command(args, { timeout, signal })`, typed from the schema. */
  readonly call: MeshCalls<S>
  /** 'connection' {role, variant, peer}, 'disconnection' {role, variant, peer}. */
  readonly events: EventTarget
  /** The instances connected now, by role. */
  instances(role: string): Array<{ peer: string; variant: string; outstanding: number }>
  readonly node: PeerNode
  close(): Promise<void>
}

/**
 * The seed's SocketNode: registers with the registry, connects to the peers the schema lets it
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
export async function createMeshNode<S extends MeshSchema> (options: MeshNodeOptions<S>): Promise<MeshNode<S>> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  const schema = new Schema(options.schema)
  const me = schema.role(options.role)
  if (me === undefined) throw PeerwardenError.invalid(`role ${JSON.stringify(options.role)} is not in the schema`)
  const registryId = parseTcpAddress(options.registry).peer
  if (registryId === undefined) throw PeerwardenError.invalid('registry must be tcp://host:port#<registry id> (the id binds the certificates)')
  const variant = options.variant ?? Math.random().toString(36).slice(2, 10)
  const defaultTimeout = options.timeout ?? DEFAULT_TIMEOUT
  const events = new EventTarget()
  const node = await createNode({ listen: options.listen, networkKey: options.networkKey, manager: { lowWater: 0, highWater: 1024 } })
  const instances = new Map<string, Instance>()
  const pending = new Map<number, Pending>()
  /** Channels whose handlers may still run, listed or not (a duplicate swap unlists one early). */
  const channels = new Set<Instance>()
  const queues = new Map<string, Promise<void>>()
  let cert: Certificate | undefined
  let nextId = 1
  let picks = 0
  let closed = false
  const queue = options.redis === undefined ? undefined : new RedisQueue(options.redis, options.queue)
  let renewal: NodeJS.Timeout | undefined
  let registered: (() => void) | undefined
  let failed: ((err: Error) => void) | undefined

  // ── the registry ────────────────────────────────────────────────────────
  const related = new Set(schema.peersOf(me.name))
  const learn = (entry: DirectoryEntry): void => {
    if (entry.peer === node.id || !related.has(entry.role)) return
    node.manager.addPeers([{ id: entry.peer, addresses: entry.addresses, longTerm: true }])
    node.manager.protect(entry.peer, 'mesh')
  }

  const onRegistryConnection = (conn: NodeConnection): void => {
    const channel = conn.mux.createChannel({ protocol: REGISTRY_PROTOCOL })
    if (channel === null) return
    const send = channel.addMessage<RegistryMessage>({
      encoding: c.json,
      onmessage: (msg) => {
        if (msg.t === 'registered') {
          try {
            cert = check(msg.cert, { registry: registryId, peer: node.id, now: Date.now() })
          } catch (err) { failed?.(err as Error); return }
          for (const e of msg.directory) learn(e)
          // Register again when four fifths of the certificate's life have passed.
          clearTimeout(renewal)
          renewal = setTimeout(() => { if (!closed) send.send({ t: 'register', role: me.name, variant, addresses: node.addresses }) }, Math.max(50, (cert.expires - Date.now()) * 0.8))
          renewal.unref()
          registered?.()
        } else if (msg.t === 'refused') {
          failed?.(new PeerwardenError('ERR_NOT_ALLOWED', `the registry refused the registration: ${msg.reason}`))
        } else if (msg.t === 'joined') {
          learn(msg.entry)
        } else if (msg.t === 'left') {
          node.manager.unprotect(msg.peer, 'mesh')
        }
      }
    })
    channel.open()
    send.send({ t: 'register', role: me.name, variant, addresses: node.addresses })
  }

  // ── RPC channels ────────────────────────────────────────────────────────
  const onPeerConnection = (conn: NodeConnection): void => {
    if (cert === undefined) return
    let instance: Instance | undefined
    const channel = conn.mux.createChannel({
      protocol: RPC_PROTOCOL,
      handshake: c.json,
      onopen: (hello: { cert?: unknown }) => {
        // A connection that already lost a duplicate tie-break may still open its channel: ignore it.
        if (!conn.open) return
        let remote: Certificate
        try {
          remote = check(hello?.cert, { registry: registryId, peer: conn.peer, now: Date.now() })
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
        for (const [id, p] of pending) if (p.instance === instance) settle(id, p).reject(new PeerwardenError('ERR_CONNECTION_CLOSED', `${instance.role}/${instance.variant} went away`))
        // Its calls still running here: their ctx.signal aborts (nobody waits for the answer now).
        channels.delete(instance)
        for (const ctx of instance.running.values()) ctx.abort(new PeerwardenError('ERR_CONNECTION_CLOSED', `${instance.role}/${instance.variant} went away`))
        instance.running.clear()
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
      channels.add(instance)
      const replaced = instances.has(conn.peer)
      instances.set(conn.peer, instance)
      // A connection that replaced a duplicate: the peer never left, so no second 'connection'.
      if (!replaced) events.dispatchEvent(new CustomEvent('connection', { detail: { role: instance.role, variant: instance.variant, peer: conn.peer } }))
    }
    const message: Message<RpcMessage> = channel.addMessage<RpcMessage>({
      encoding: jsonOnce,
      onmessage: (msg) => {
        if (msg.t === 'admit') { admitted = true; list(); return }
        onRpc(msg, instance)
      }
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
    const { peer, reason } = (e as CustomEvent<{ peer: string; reason?: string }>).detail
    if (reason === 'denied' && peer !== registryId) {
      node.manager.unprotect(peer, 'mesh')
      node.manager.setLongTerm(peer, false)
    }
  })

  node.protocol(REGISTRY_PROTOCOL, (conn) => { if (conn.peer === registryId) onRegistryConnection(conn) })
  node.protocol(RPC_PROTOCOL, (conn) => { if (conn.peer !== registryId) onPeerConnection(conn) })

  const onRpc = (msg: RpcMessage, from: Instance | undefined): void => {
    if (from === undefined) return
    if (msg.t === 'call') { serve(msg, from); return }
    if (msg.t === 'cancel') { from.running.get(msg.id)?.abort(new PeerwardenError('ERR_ABORTED', 'the caller cancelled')); return }
    if (msg.t === 'admit') return
    const p = pending.get(msg.id)
    if (p === undefined || p.instance !== from) return
    if (msg.t === 'ack') {
      if (p.settleOnAck) settle(msg.id, p).resolve(undefined)
      return
    }
    if (msg.ok) settle(msg.id, p).resolve(msg.value)
    else settle(msg.id, p).reject(new PeerwardenError('ERR_REMOTE', `${from.role}/${from.variant}: ${msg.error.message}`, { cause: msg.error }))
  }

  const serve = (msg: CallMessage, from: Instance): void => {
    const { send } = from
    const command = me.commands.get(msg.cmd)
    if (command === undefined) return fail(send, msg.id, `unknown command ${me.name}.${msg.cmd}`, 'ERR_UNKNOWN_COMMAND')
    if (!from.mayCall) return fail(send, msg.id, `${from.role} may not call ${me.name}`, 'ERR_NOT_ALLOWED')
    const handler = options.handlers?.[msg.cmd] ?? command.handler
    if (handler === undefined) return fail(send, msg.id, `no handler for ${me.name}.${msg.cmd}`, 'ERR_UNKNOWN_COMMAND')
    if (!command.responds || command.queued) send.send({ t: 'ack', id: msg.id })
    if (command.queued) {
      // One at a time, in arrival order, per command.
      const run = async (): Promise<void> => { await execute(msg, from, command, handler) }
      queues.set(msg.cmd, (queues.get(msg.cmd) ?? Promise.resolve()).then(run, run))
    } else {
      void execute(msg, from, command, handler)
    }
  }

  /**
   * Runs a handler and answers. A handler that returns a value (not a promise) is answered at once,
   * in the same tick; only one that returns a promise is listed in `running` (a cancel can reach it
   * only after it returned).
   */
  const execute = (msg: CallMessage, from: Instance, command: Command, handler: Handler): Promise<void> | undefined => {
    const ctx = new HandlerContext(from.who, msg.deadline, nestedCalls)
    let out: unknown
    try {
      out = handler(msg.args, ctx)
    } catch (err) {
      ctx.dispose()
      if (command.responds) fail(from.send, msg.id, (err as Error)?.message ?? String(err), (err as PeerwardenError)?.code)
      return undefined
    }
    if (!isThenable(out)) {
      ctx.dispose()
      if (command.responds) answer(from.send, msg.id, out)
      return undefined
    }
    from.running.set(msg.id, ctx)
    const done = (): void => {
      ctx.dispose()
      if (from.running.get(msg.id) === ctx) from.running.delete(msg.id)
    }
    return Promise.resolve(out).then((value) => {
      done()
      if (command.responds) answer(from.send, msg.id, value)
    }, (err) => {
      done()
      if (command.responds) fail(from.send, msg.id, (err as Error)?.message ?? String(err), (err as PeerwardenError)?.code)
    })
  }

  // ── calls ───────────────────────────────────────────────────────────────
  const pick = (role: string): Instance | undefined => {
    let best: Instance | undefined
    for (const i of instances.values()) {
      if (i.role !== role || i.draining) continue
      if (best === undefined || i.outstanding < best.outstanding || (i.outstanding === best.outstanding && i.lastPicked < best.lastPicked)) best = i
    }
    if (best !== undefined) best.lastPicked = ++picks
    return best
  }

  /** Takes a call out of `pending` (it settles now): its instance is one call less busy, its abort listener goes. */
  const settle = (id: number, p: Pending): Pending => {
    pending.delete(id)
    p.instance.outstanding--
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort)
    return p
  }

  // Deadlines: one timer for all the calls in flight (see DeadlineSweep).
  const deadlines = new DeadlineSweep((now) => {
    let next = Infinity
    for (const [id, p] of pending) {
      if (p.deadline > now) { if (p.deadline < next) next = p.deadline; continue }
      settle(id, p)
      p.instance.send.send({ t: 'cancel', id })
      p.reject(new PeerwardenError('ERR_TIMEOUT', `${p.command.role}.${p.command.name} on ${p.instance.variant} timed out`))
    }
    return next
  })

  const send1 = (instance: Instance, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, settleOnAck: boolean): Promise<unknown> => {
    if (signal?.aborted === true) return Promise.reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason }))
    const id = nextId++
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, settleOnAck, instance, command, deadline, signal, onAbort: undefined }
      if (signal !== undefined) {
        p.onAbort = () => {
          if (pending.get(id) !== p) return
          settle(id, p)
          instance.send.send({ t: 'cancel', id })
          reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal.reason }))
        }
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      instance.outstanding++
      pending.set(id, p)
      try {
        instance.send.send({ t: 'call', id, cmd: command.name, args: args === undefined ? null : args, deadline })
      } catch (err) {
        // Arguments JSON cannot encode: nothing was sent.
        settle(id, p)
        reject(err)
        return
      }
      deadlines.track(deadline)
    })
  }

  /** Never throws: a call that cannot be made is a rejected promise, as a failed one is. */
  const invoke = (role: string, name: string, args: unknown, opts: CallOptions | undefined, inherited: number): Promise<unknown> => {
    const target = schema.role(role)
    const command = target?.commands.get(name)
    if (target === undefined || command === undefined) return Promise.reject(new PeerwardenError('ERR_UNKNOWN_COMMAND', `unknown command ${role}.${name}`))
    if (!schema.canCall(me.name, target.name)) return Promise.reject(new PeerwardenError('ERR_NOT_ALLOWED', `${me.name} may not call ${target.name} (schema _connect/_allow)`))
    if (closed) return Promise.reject(PeerwardenError.closed('the mesh node'))
    const deadline = Math.min(Date.now() + (opts?.timeout ?? command.timeout ?? defaultTimeout), inherited)
    if (command.kind === 'balanced') {
      const instance = pick(target.name)
      if (instance === undefined) return Promise.reject(new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${target.name} is connected`))
      return send1(instance, command, args, deadline, opts?.signal, !command.responds)
    }
    return broadcast(target.name, command, args, deadline, opts?.signal)
  }

  const broadcast = async (role: string, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined): Promise<unknown> => {
    if (command.queued && queue !== undefined) {
      // Durable: once in the stream, every instance's group gets it, even one that is down right now.
      await queue.publish(role, command.name, args, `${me.name}/${variant}`)
      return undefined
    }
    const all = [...instances.values()].filter((i) => i.role === role)
    const settled = await Promise.allSettled(all.map(async (i) => await send1(i, command, args, deadline, signal, !command.responds)))
    if (!command.responds) {
      const failure = settled.find((s) => s.status === 'rejected')
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason
      return undefined
    }
    return settled.map((s, k): BroadcastEntry<unknown> => s.status === 'fulfilled'
      ? { variant: all[k].variant, ok: true, value: s.value }
      : { variant: all[k].variant, ok: false, error: s.reason as Error })
  }

  /**
   * `mesh.call` (inherited = Infinity) and a handler's `ctx.call` (what is left of its deadline):
   * `calls.Role.command(args, opts)`. The functions of the schema's roles and commands are made once
   * per proxy, not on every property access; other names (which fail at call time) are not kept.
   */
  function calls (inherited: number): MeshCalls<S> {
    const roles = new Map<string, object>()
    const roleCalls = (role: string): object => {
      const fns = new Map<string, (args?: unknown, opts?: CallOptions) => Promise<unknown>>()
      return new Proxy({}, {
        get: (_u, name) => {
          if (typeof name !== 'string') return undefined
          let fn = fns.get(name)
          if (fn === undefined) {
            fn = (args?: unknown, opts?: CallOptions) => invoke(role, name, args, opts, inherited)
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
  const nestedCalls = (deadline: number): CallContext['call'] => calls(deadline) as unknown as CallContext['call']

  // ── queued commands on Redis: our consumer groups exist before we say we are here ──
  if (queue !== undefined) {
    try {
      for (const command of me.commands.values()) {
        if (!command.queued) continue
        const handler = options.handlers?.[command.name] ?? command.handler
        if (handler === undefined) continue
        await queue.consume(me.name, command.name, variant, async (args, meta) => {
          const [role, from] = meta.from.split('/')
          const controller = new AbortController()
          await handler(args, { from: { role: role ?? '', variant: from ?? '' }, signal: controller.signal, deadline: Infinity, call: calls(Infinity) } as CallContext)
        })
      }
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
    call: calls(Infinity),
    events,
    node,
    instances: (role) => [...instances.values()].filter((i) => i.role === role).map((i) => ({ peer: i.peer, variant: i.variant, outstanding: i.outstanding })),
    close: async () => {
      if (closed) return
      closed = true
      clearTimeout(renewal)
      deadlines.stop()
      for (const [id, p] of pending) settle(id, p).reject(PeerwardenError.closed('the mesh node'))
      for (const ch of channels) for (const ctx of ch.running.values()) ctx.abort(PeerwardenError.closed('the mesh node'))
      await queue?.close()
      await node.close()
    }
  }
}

function isThenable (x: unknown): x is PromiseLike<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function'
}

/** Answers call `id` with `value`, or with the error of encoding it (a BigInt, a cycle). */
function answer (send: Outbox, id: number, value: unknown): void {
  try {
    send.send({ t: 'result', id, ok: true, value: value === undefined ? null : value })
  } catch (err) {
    fail(send, id, (err as Error)?.message ?? String(err), (err as PeerwardenError)?.code)
  }
}

/** Answers call `id` with an error. */
function fail (send: Outbox, id: number, message: string, code: string | undefined): void {
  send.send({ t: 'result', id, ok: false, error: { message, code } })
}
