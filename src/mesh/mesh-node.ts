import c from 'compact-encoding'
import type { Message } from 'protomux'
import { PeerwardenError } from '../errors.js'
import { NodeConnection } from '../node/connection.js'
import { createNode, type PeerNode } from '../node/node.js'
import { parseTcpAddress } from '../node/transport.js'
import { check, type Certificate } from './certificate.js'
import { RedisQueue, type QueueOptions } from './redis-queue.js'
import { REGISTRY_PROTOCOL, type DirectoryEntry, type RegistryMessage } from './registry.js'
import { Schema, type BroadcastEntry, type CallContext, type CallOptions, type Command, type Handler, type MeshCalls, type MeshSchema } from './schema.js'

export const RPC_PROTOCOL = 'peerwarden/mesh-rpc/1'
const DEFAULT_TIMEOUT = 10_000

type RpcMessage =
  | { t: 'call'; id: number; cmd: string; args: unknown; deadline: number }
  | { t: 'ack'; id: number }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: { message: string; code?: string } }
  | { t: 'cancel'; id: number }
  /** "Your certificate is good": each side lists the other only once both sides said so. */
  | { t: 'admit' }

interface Instance {
  peer: string
  role: string
  variant: string
  send: Message<RpcMessage>
  outstanding: number
  /** Round-robin tie-break among equally loaded instances. */
  lastPicked: number
  draining: boolean
}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void; settleOnAck: boolean; instance: Instance }

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
  const running = new Map<string, LazySignal>()
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
        candidate = { peer: conn.peer, role: remote.role, variant: remote.variant, send, outstanding: 0, lastPicked: 0, draining: false }
        send.send({ t: 'admit' })
        if (admitted) list()
      },
      onclose: () => {
        if (instance === undefined) return
        // Calls in flight on this channel settle now, even when a newer connection to the same peer
        // (a duplicate swap) has taken its place.
        for (const [id, p] of pending) if (p.instance === instance) { pending.delete(id); p.reject(new PeerwardenError('ERR_CONNECTION_CLOSED', `${instance.role}/${instance.variant} went away`)) }
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
      const replaced = instances.has(conn.peer)
      instances.set(conn.peer, instance)
      // A connection that replaced a duplicate: the peer never left, so no second 'connection'.
      if (!replaced) events.dispatchEvent(new CustomEvent('connection', { detail: { role: instance.role, variant: instance.variant, peer: conn.peer } }))
    }
    const message: Message<RpcMessage> = channel.addMessage<RpcMessage>({
      encoding: c.json,
      onmessage: (msg) => {
        if (msg.t === 'admit') { admitted = true; list(); return }
        onRpc(msg, instance, send)
      }
    })
    // Messages sent in the same tick leave in one batch: one encryption and one write for many calls.
    let corked = false
    const send = {
      send: (msg: RpcMessage): boolean => {
        if (!corked) {
          corked = true
          channel.cork()
          queueMicrotask(() => { corked = false; channel.uncork() })
        }
        return message.send(msg)
      }
    } as Message<RpcMessage>
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

  const onRpc = (msg: RpcMessage, from: Instance | undefined, send: Message<RpcMessage>): void => {
    if (from === undefined) return
    if (msg.t === 'call') { void serve(msg, from, send); return }
    if (msg.t === 'cancel') { running.get(`${from.peer}:${msg.id}`)?.abort(new PeerwardenError('ERR_ABORTED', 'the caller cancelled')); return }
    if (msg.t === 'admit') return
    const p = pending.get(msg.id)
    if (p === undefined || p.instance !== from) return
    if (msg.t === 'ack') {
      if (p.settleOnAck) { pending.delete(msg.id); p.resolve(undefined) }
      return
    }
    pending.delete(msg.id)
    if (msg.ok) p.resolve(msg.value)
    else p.reject(new PeerwardenError('ERR_REMOTE', `${from.role}/${from.variant}: ${msg.error.message}`, { cause: msg.error }))
  }

  const serve = async (msg: Extract<RpcMessage, { t: 'call' }>, from: Instance, send: Message<RpcMessage>): Promise<void> => {
    const fail = (message: string, code: string): void => { send.send({ t: 'result', id: msg.id, ok: false, error: { message, code } }) }
    const command = me.commands.get(msg.cmd)
    if (command === undefined) return fail(`unknown command ${me.name}.${msg.cmd}`, 'ERR_UNKNOWN_COMMAND')
    if (!schema.canCall(from.role, me.name)) return fail(`${from.role} may not call ${me.name}`, 'ERR_NOT_ALLOWED')
    const handler = options.handlers?.[msg.cmd] ?? command.handler
    if (handler === undefined) return fail(`no handler for ${me.name}.${msg.cmd}`, 'ERR_UNKNOWN_COMMAND')
    if (!command.responds || command.queued) send.send({ t: 'ack', id: msg.id })
    const run = async (): Promise<void> => {
      const key = `${from.peer}:${msg.id}`
      const lazy = new LazySignal(msg.deadline)
      running.set(key, lazy)
      // The signal, its deadline timer and the nested-call proxy cost only when the handler uses them.
      let nested: MeshCalls<S> | undefined
      const ctx: CallContext & { call: MeshCalls<S> } = {
        from: { role: from.role, variant: from.variant },
        get signal () { return lazy.signal },
        deadline: msg.deadline,
        get call () { return (nested ??= calls(msg.deadline)) }
      }
      try {
        const value = await handler(msg.args, ctx)
        if (command.responds) send.send({ t: 'result', id: msg.id, ok: true, value: value === undefined ? null : value })
      } catch (err) {
        if (command.responds) fail((err as Error)?.message ?? String(err), (err as PeerwardenError)?.code)
      } finally {
        lazy.dispose()
        running.delete(key)
      }
    }
    if (command.queued) {
      // One at a time, in arrival order, per command.
      const q = (queues.get(msg.cmd) ?? Promise.resolve()).then(run, run)
      queues.set(msg.cmd, q)
      await q
    } else {
      await run()
    }
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

  const send1 = async (instance: Instance, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, settleOnAck: boolean): Promise<unknown> => {
    const id = nextId++
    instance.outstanding++
    try {
      return await new Promise((resolve, reject) => {
        const finish = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort) }
        const onAbort = (): void => {
          pending.delete(id)
          instance.send.send({ t: 'cancel', id })
          finish()
          reject(new PeerwardenError('ERR_ABORTED', `${command.role}.${command.name} aborted`, { cause: signal?.reason }))
        }
        const timer = setTimeout(() => {
          pending.delete(id)
          instance.send.send({ t: 'cancel', id })
          finish()
          reject(new PeerwardenError('ERR_TIMEOUT', `${command.role}.${command.name} on ${instance.variant} timed out`))
        }, Math.max(0, deadline - Date.now()))
        if (signal?.aborted === true) { onAbort(); return }
        signal?.addEventListener('abort', onAbort, { once: true })
        pending.set(id, { resolve: (v) => { finish(); resolve(v) }, reject: (e) => { finish(); reject(e) }, settleOnAck, instance })
        instance.send.send({ t: 'call', id, cmd: command.name, args: args === undefined ? null : args, deadline })
      })
    } finally {
      instance.outstanding--
    }
  }

  const invoke = async (role: string, name: string, args: unknown, opts: CallOptions = {}, inherited = Infinity): Promise<unknown> => {
    const target = schema.role(role)
    const command = target?.commands.get(name)
    if (target === undefined || command === undefined) throw new PeerwardenError('ERR_UNKNOWN_COMMAND', `unknown command ${role}.${name}`)
    if (!schema.canCall(me.name, target.name)) throw new PeerwardenError('ERR_NOT_ALLOWED', `${me.name} may not call ${target.name} (schema _connect/_allow)`)
    if (closed) throw PeerwardenError.closed('the mesh node')
    const deadline = Math.min(Date.now() + (opts.timeout ?? command.timeout ?? defaultTimeout), inherited)
    if (command.kind === 'balanced') {
      const instance = pick(target.name)
      if (instance === undefined) throw new PeerwardenError('ERR_NO_INSTANCE', `no instance of ${target.name} is connected`)
      return await send1(instance, command, args, deadline, opts.signal, !command.responds)
    }
    if (command.queued && queue !== undefined) {
      // Durable: once in the stream, every instance's group gets it, even one that is down right now.
      await queue.publish(target.name, name, args, `${me.name}/${variant}`)
      return undefined
    }
    const all = [...instances.values()].filter((i) => i.role === target.name)
    const settled = await Promise.allSettled(all.map(async (i) => await send1(i, command, args, deadline, opts.signal, !command.responds)))
    if (!command.responds) {
      const failure = settled.find((s) => s.status === 'rejected')
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason
      return undefined
    }
    return settled.map((s, k): BroadcastEntry<unknown> => s.status === 'fulfilled'
      ? { variant: all[k].variant, ok: true, value: s.value }
      : { variant: all[k].variant, ok: false, error: s.reason as Error })
  }

  function calls (inherited: number): MeshCalls<S> {
    return new Proxy({}, {
      get: (_t, role) => typeof role !== 'string'
        ? undefined
        : new Proxy({}, {
          get: (_u, name) => typeof name !== 'string' ? undefined : async (args?: unknown, opts?: CallOptions) => await invoke(role, name, args, opts, inherited)
        })
    }) as MeshCalls<S>
  }

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
      for (const p of pending.values()) p.reject(PeerwardenError.closed('the mesh node'))
      pending.clear()
      for (const ctl of running.values()) ctl.abort(PeerwardenError.closed('the mesh node'))
      await queue?.close()
      await node.close()
    }
  }
}

/**
 * A handler's `ctx.signal`, made on first use: an AbortController and a timer for the deadline cost
 * nothing for the many handlers that never look at the signal. A cancel that comes first is kept and
 * shows as an aborted signal when the handler does look.
 */
class LazySignal {
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  private reason: unknown
  private aborted = false

  constructor (private readonly deadline: number) {}

  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.aborted) this.controller.abort(this.reason)
      else this.timer = setTimeout(() => { this.abort(new PeerwardenError('ERR_TIMEOUT', 'the deadline passed')) }, Math.max(0, this.deadline - Date.now()))
    }
    return this.controller.signal
  }

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    clearTimeout(this.timer)
    this.controller?.abort(reason)
  }

  dispose (): void { clearTimeout(this.timer) }
}
