import * as v from 'valibot'
import { PeerwardenError } from '../errors.js'
import { MAX_COMMAND_LENGTH, MAX_ROLE_LENGTH } from './messages.js'
import { compiledParams, FAILED } from './params-check.js'
import { retryOptions, type RetryOptions } from './retry.js'

/** What a handler receives besides its arguments. */
export interface CallContext {
  /** The caller's role and variant (from its certificate). */
  readonly from: { role: string; variant: string }
  /** Aborted when the caller aborts, the deadline passes, or the connection drops. */
  readonly signal: AbortSignal
  /** Absolute deadline (ms since epoch) of this call; nested calls inherit what is left of it. */
  readonly deadline: number
  /** Calls made from inside the handler: `ctx.call.Role.command(args)`, with what is left of the deadline and this call's trace. */
  readonly call: Record<string, Record<string, (args?: any, opts?: CallOptions) => Promise<any>>>
  /** Which attempt of the call this is: 1, then 2, 3… when the caller retried it on another instance. */
  readonly attempt: number
  /**
   * The call's W3C trace context (`00-<trace id>-<caller's span id>-<flags>`). A call that came
   * without one (a call outside any trace, or from an older peer) starts a new trace here, made when
   * first read; undefined on a node made with `tracing: false` (and for a queued message taken from
   * Redis). Nested calls through `ctx.call`
   * continue the trace.
   */
  readonly traceparent: string | undefined
}

/** A command's handler: takes the call's arguments and its context, returns (or resolves to) the answer. */
export type Handler<A = any, R = any> = (args: A, ctx: CallContext) => R | Promise<R>

/** A command written as an object (socketmesh's broadcast form, also accepted for balanced ones). */
export interface CommandObject<A = any, R = any> {
  method?: Handler<A, R>
  /** Broadcast: answer with one entry per instance. Balanced: wait for the answer (default true). */
  responds?: boolean
  /** Broadcast only: every instance gets every message, in order, one at a time. */
  queued?: boolean
  /** Deadline for this command, ms. Default: the mesh's (10 s). */
  timeout?: number
  /**
   * The arguments' schema (valibot, synchronous): a call whose arguments do not match fails at the
   * caller with ERR_INVALID_ARGUMENT naming the field, and the responder checks again; the handler
   * gets the parsed output. Its input type is the call's argument type.
   */
  params?: v.GenericSchema
  /** Balanced only: the handler may run twice for one call, so a lost attempt is retried elsewhere (retry.ts). Default false. */
  idempotent?: boolean
  /** Balanced only: the retry policy of idempotent calls (retry.ts: retries 3, delay 50 ms doubling to 1 s). */
  retries?: RetryOptions
  /** Balanced only: the answer when every attempt failed (not for the caller's own abort or bad arguments). */
  fallback?: (args: A, error: Error) => R | Promise<R>
  /** Bulkhead: at most this many calls of the command run here at once. Default: unbounded. */
  concurrency?: number
  /** Bulkhead: calls waiting for a slot beyond `concurrency`; past it a call is refused ERR_BUSY at once. Default 0. */
  maxQueueSize?: number
}

/** A command: its handler alone, or an object with the handler and its settings. */
export type CommandSpec = Handler | CommandObject

/** One role of a schema: `_allow`, `_connect` and `_commands`, in socketmesh's format. */
export interface RoleSpec {
  /** Roles allowed to connect to this one ('anyNode' = all). Default 'anyNode'. */
  _allow?: 'anyNode' | string[]
  /** Roles this one connects to (and may call). */
  _connect?: string[]
  _commands?: {
    _balanced?: Record<string, CommandSpec>
    _broadcast?: Record<string, CommandSpec>
  }
}

/** The socketmesh schema: role name → role. */
export type MeshSchema = Record<string, RoleSpec>

export interface Command {
  readonly role: string
  readonly name: string
  readonly kind: 'balanced' | 'broadcast'
  readonly responds: boolean
  readonly queued: boolean
  readonly timeout: number | undefined
  readonly handler: Handler | undefined
  readonly params: v.GenericSchema | undefined
  readonly idempotent: boolean
  readonly retries: Required<Omit<RetryOptions, 'perAttempt'>> & { perAttempt: number | undefined }
  readonly fallback: ((args: any, error: Error) => unknown) | undefined
  /** Bulkhead slots; Infinity = none. */
  readonly concurrency: number
  readonly maxQueueSize: number
}

export interface Role {
  readonly name: string
  /** undefined = any role. */
  readonly allow: ReadonlySet<string> | undefined
  readonly connect: readonly string[]
  readonly commands: ReadonlyMap<string, Command>
}

/**
 * A validated schema.
 *
 * Rules:
 * - The socketmesh format works unchanged. Role names in `_allow` and `_connect` are matched
 *   case-insensitively (the socketmesh sample writes `nodeB` for the role `NodeB`); a name that
 *   matches no role, or several, is an error naming it.
 * - A command is balanced or broadcast, not both; `queued` exists only for broadcast; a command is a
 *   function or `{ method?, responds?, queued?, timeout?, params?, idempotent?, retries?, fallback?,
 *   concurrency?, maxQueueSize? }`; `idempotent`, `retries` and `fallback` exist only for balanced
 *   commands, `concurrency` and `maxQueueSize` not for queued ones. Anything else is an error naming it.
 * - Balanced commands respond by default (socketmesh: "'_balanced' methods expect there to be a
 *   response"); broadcast ones only with `responds: true`.
 * - Role names have 1 to 128 characters, command names too (what the wire takes).
 * - Role A may call role B when B is in A's `_connect` and B's `_allow` admits A.
 */
export class Schema {
  readonly roles: ReadonlyMap<string, Role>

  constructor (spec: MeshSchema) {
    if (spec == null || typeof spec !== 'object' || Array.isArray(spec)) throw PeerwardenError.invalid('schema must be an object of roles')
    const names = Object.keys(spec)
    if (names.length === 0) throw PeerwardenError.invalid('schema has no role')
    const resolve = (ref: unknown, where: string): string => {
      if (typeof ref !== 'string' || ref.length === 0) throw PeerwardenError.invalid(`${where} must list role names, got ${JSON.stringify(ref)}`)
      if (names.includes(ref)) return ref
      const matches = names.filter((n) => n.toLowerCase() === ref.toLowerCase())
      if (matches.length === 1) return matches[0]
      throw PeerwardenError.invalid(matches.length === 0 ? `${where}: unknown role ${JSON.stringify(ref)}` : `${where}: ${JSON.stringify(ref)} matches several roles (${matches.join(', ')})`)
    }
    const roles = new Map<string, Role>()
    for (const name of names) {
      const r = spec[name]
      if (r == null || typeof r !== 'object') throw PeerwardenError.invalid(`schema.${name} must be an object`)
      // The wire refuses longer names (messages.ts): a schema must fit it.
      if (name.length === 0 || name.length > MAX_ROLE_LENGTH) throw PeerwardenError.invalid(`schema: a role name must have 1 to ${MAX_ROLE_LENGTH} characters, got ${name.length}`)
      let allow: Set<string> | undefined
      if (r._allow !== undefined && r._allow !== 'anyNode') {
        if (!Array.isArray(r._allow)) throw PeerwardenError.invalid(`schema.${name}._allow must be 'anyNode' or an array of roles`)
        allow = new Set(r._allow.map((x, i) => resolve(x, `schema.${name}._allow[${i}]`)))
      }
      if (r._connect !== undefined && !Array.isArray(r._connect)) throw PeerwardenError.invalid(`schema.${name}._connect must be an array of roles`)
      const connect = (r._connect ?? []).map((x, i) => resolve(x, `schema.${name}._connect[${i}]`))
      const commands = new Map<string, Command>()
      const cmds = r._commands ?? {}
      if (typeof cmds !== 'object') throw PeerwardenError.invalid(`schema.${name}._commands must be an object`)
      for (const key of Object.keys(cmds)) {
        if (key !== '_balanced' && key !== '_broadcast') throw PeerwardenError.invalid(`schema.${name}._commands.${key}: only _balanced and _broadcast exist`)
      }
      for (const kind of ['balanced', 'broadcast'] as const) {
        const group = cmds[`_${kind}`]
        if (group === undefined) continue
        if (group == null || typeof group !== 'object') throw PeerwardenError.invalid(`schema.${name}._commands._${kind} must be an object`)
        for (const [cmd, def] of Object.entries(group)) {
          const where = `schema.${name}._commands._${kind}.${cmd}`
          if (cmd.length === 0 || cmd.length > MAX_COMMAND_LENGTH) throw PeerwardenError.invalid(`${where}: a command name must have 1 to ${MAX_COMMAND_LENGTH} characters`)
          if (commands.has(cmd)) throw PeerwardenError.invalid(`${where}: command ${JSON.stringify(cmd)} of role ${name} is both balanced and broadcast`)
          commands.set(cmd, command(name, cmd, kind, def, where))
        }
      }
      roles.set(name, { name, allow, connect, commands })
    }
    this.roles = roles
  }

  /** The role of that name (case-insensitive); undefined when the schema has none. */
  role (name: string): Role | undefined { return this.roles.get(name) }

  /** Does role `from` accept a connection from role `to`'s instances, or the other way round? */
  admits (host: string, guest: string): boolean {
    const allow = this.roles.get(host)?.allow
    return allow === undefined || allow.has(guest)
  }

  /** Role `from` may call role `to` (in its `_connect`, admitted by `to`'s `_allow`). */
  canCall (from: string, to: string): boolean {
    const r = this.roles.get(from)
    return r !== undefined && r.connect.includes(to) && this.admits(to, from)
  }

  /** The roles whose instances `role` should be connected to: those it calls and those that call it. */
  peersOf (role: string): string[] {
    const out = new Set<string>()
    for (const other of this.roles.keys()) {
      if (this.canCall(role, other) || this.canCall(other, role)) out.add(other)
    }
    return [...out]
  }
}

const COMMAND_FIELDS = ['method', 'responds', 'queued', 'timeout', 'params', 'idempotent', 'retries', 'fallback', 'concurrency', 'maxQueueSize']
const DEFAULT_RETRIES = retryOptions({}, 'retries')

function command (role: string, name: string, kind: 'balanced' | 'broadcast', def: unknown, where: string): Command {
  const base = { role, name, kind, queued: false, timeout: undefined, params: undefined, idempotent: false, retries: DEFAULT_RETRIES, fallback: undefined, concurrency: Infinity, maxQueueSize: 0 }
  if (typeof def === 'function') return { ...base, responds: kind === 'balanced', handler: def as Handler }
  if (def == null || typeof def !== 'object' || Array.isArray(def)) throw PeerwardenError.invalid(`${where} must be a function or { method, responds, queued, timeout, params, … }`)
  const o = def as CommandObject
  for (const k of Object.keys(o)) {
    if (!COMMAND_FIELDS.includes(k)) throw PeerwardenError.invalid(`${where}: unknown field ${JSON.stringify(k)}`)
  }
  if (o.method !== undefined && typeof o.method !== 'function') throw PeerwardenError.invalid(`${where}.method must be a function`)
  if (o.responds !== undefined && typeof o.responds !== 'boolean') throw PeerwardenError.invalid(`${where}.responds must be a boolean`)
  if (o.queued !== undefined && typeof o.queued !== 'boolean') throw PeerwardenError.invalid(`${where}.queued must be a boolean`)
  if (o.queued === true && kind === 'balanced') throw PeerwardenError.invalid(`${where}: queued exists only for broadcast commands`)
  if (o.queued === true && o.responds === true) throw PeerwardenError.invalid(`${where}: a queued command cannot respond`)
  if (o.timeout !== undefined && (typeof o.timeout !== 'number' || !Number.isFinite(o.timeout) || o.timeout <= 0)) throw PeerwardenError.invalid(`${where}.timeout must be a positive number of ms`)
  if (o.params !== undefined) {
    const p = o.params as { kind?: unknown; async?: unknown }
    if (p === null || typeof p !== 'object' || p.kind !== 'schema') throw PeerwardenError.invalid(`${where}.params must be a valibot schema`)
    if (p.async !== false) throw PeerwardenError.invalid(`${where}.params must be a synchronous valibot schema`)
  }
  for (const k of ['idempotent', 'retries', 'fallback'] as const) {
    if (o[k] !== undefined && kind !== 'balanced') throw PeerwardenError.invalid(`${where}: ${JSON.stringify(k)} exists only for balanced commands`)
  }
  if (o.idempotent !== undefined && typeof o.idempotent !== 'boolean') throw PeerwardenError.invalid(`${where}.idempotent must be a boolean`)
  if (o.fallback !== undefined && typeof o.fallback !== 'function') throw PeerwardenError.invalid(`${where}.fallback must be a function`)
  if (o.concurrency !== undefined && (!Number.isInteger(o.concurrency) || o.concurrency < 1)) throw PeerwardenError.invalid(`${where}.concurrency must be a positive integer`)
  if (o.maxQueueSize !== undefined && (!Number.isInteger(o.maxQueueSize) || o.maxQueueSize < 0)) throw PeerwardenError.invalid(`${where}.maxQueueSize must be an integer >= 0`)
  if ((o.concurrency !== undefined || o.maxQueueSize !== undefined) && o.queued === true) throw PeerwardenError.invalid(`${where}: a queued command runs one message at a time already (no concurrency or maxQueueSize)`)
  return {
    ...base,
    responds: o.responds ?? kind === 'balanced',
    queued: o.queued === true,
    timeout: o.timeout,
    handler: o.method,
    params: o.params,
    idempotent: o.idempotent === true,
    retries: o.retries === undefined ? DEFAULT_RETRIES : retryOptions(o.retries, `${where}.retries`),
    fallback: o.fallback,
    concurrency: o.concurrency ?? Infinity,
    maxQueueSize: o.maxQueueSize ?? 0
  }
}

/**
 * The handler that serves `command`: the `handlers` option's own property of that name, else the
 * schema's method. Only an own property counts: a command named like a key of Object.prototype
 * ('constructor', 'toString') that `handlers` does not name must not run Object.prototype's function.
 */
export function handlerOf (handlers: Readonly<Record<string, Handler>> | undefined, command: Command): Handler | undefined {
  return (handlers !== undefined && Object.hasOwn(handlers, command.name) ? handlers[command.name] : undefined) ?? command.handler
}

/**
 * Checks `args` against the command's `params`: the parsed output, or ERR_INVALID_ARGUMENT naming
 * the first field that fails (`Worker.resize: args.size.w: Invalid type: …`). Never throws.
 */
export function checkArgs (command: Command, args: unknown): { ok: true; value: unknown } | { ok: false; error: PeerwardenError } {
  if (command.params === undefined) return { ok: true, value: args }
  // The compiled check first (params-check.ts); valibot decides (and names the field) when it refuses.
  const out = compiledCheck(command.params, args, true)
  if (out !== FAILED) return { ok: true, value: out }
  return valibotCheck(command, command.params, args)
}

/**
 * The caller's check: why `args` do not fit the command's `params` (as `checkArgs` says), or
 * undefined when they do. Nothing is built or allocated for arguments that pass: they go out as given.
 */
export function argsRefused (command: Command, args: unknown): PeerwardenError | undefined {
  if (command.params === undefined || compiledCheck(command.params, args, false) !== FAILED) return undefined
  const result = valibotCheck(command, command.params, args)
  return result.ok ? undefined : result.error
}

/** The compiled check's output, or FAILED (also when there is none, or it threw: valibot then decides). */
function compiledCheck (params: v.GenericSchema, args: unknown, build: boolean): unknown {
  const fast = compiledParams(params)
  if (fast === undefined) return FAILED
  try { return fast(args, build) } catch { return FAILED }
}

function valibotCheck (command: Command, params: v.GenericSchema, args: unknown): { ok: true; value: unknown } | { ok: false; error: PeerwardenError } {
  let result: v.SafeParseResult<v.GenericSchema>
  try {
    result = v.safeParse(params, args)
  } catch (err) {
    // A schema's own check that throws (a custom validation) is a refusal, not a crash.
    return { ok: false, error: new PeerwardenError('ERR_INVALID_ARGUMENT', `${command.role}.${command.name}: the arguments could not be checked`, { cause: err }) }
  }
  if (result.success) return { ok: true, value: result.output }
  const issue = result.issues[0]
  const path = v.getDotPath(issue)
  return { ok: false, error: new PeerwardenError('ERR_INVALID_ARGUMENT', `${command.role}.${command.name}: ${path === null || path === '' ? 'args' : `args.${path}`}: ${issue.message}`) }
}

// ── The typed form ──────────────────────────────────────────────────────────
// `defineSchema` returns its argument unchanged, typed, so that `MeshCalls<typeof schema, 'Caller'>`
// gives `call.Worker.resize(args) => Promise<result>` with both inferred (as tRPC does).

type Plain<C> = C extends Handler<infer A, infer R> ? { args: A; result: Awaited<R> }
  : C extends { method: Handler<infer A, infer R> } ? { args: A; result: Awaited<R> }
  : { args: unknown; result: unknown }
// With `params`, the call takes the schema's input type (the handler gets its output).
type Fn<C> = C extends { params: v.GenericSchema<infer I, any, any> } ? { args: I; result: Plain<C>['result'] } : Plain<C>

type Result<C, K extends 'balanced' | 'broadcast'> = K extends 'balanced'
  ? (C extends { responds: false } ? void : Fn<C>['result'])
  : C extends { responds: true } ? Array<BroadcastEntry<Fn<C>['result']>> : void

/** One instance's settled answer to a broadcast with `responds`. */
export type BroadcastEntry<T> = { variant: string; ok: true; value: T } | { variant: string; ok: false; error: Error }

/**
 * Per-call options: `timeout` in ms (default: the command's, else the node's, else 10 s) and an
 * AbortSignal that cancels the call and the remote handler. A balanced call may also override its
 * command's `idempotent`, `retries` and `fallback`, and pass the application's `traceparent` (say,
 * its OpenTelemetry span's) for the call to continue that trace.
 */
export interface CallOptions {
  /** The call's deadline, ms from now. */
  timeout?: number
  /** Aborting it cancels the call and the remote handler (ERR_ABORTED). */
  signal?: AbortSignal
  /** Balanced calls: overrides the command's `idempotent`. */
  idempotent?: boolean
  /** Balanced calls: overrides the command's `retries`. */
  retries?: RetryOptions
  /** Balanced calls: overrides the command's `fallback`. */
  fallback?: (args: any, error: Error) => unknown
  /** The trace this call continues (W3C traceparent); default the handler's (`ctx.call`), else a new trace. */
  traceparent?: string
}

/**
 * A command's call, also callable as `command.call(args, opts)` (the socketmesh form: the same call,
 * not Function.prototype.call).
 */
export interface CommandCall<P extends unknown[], R> {
  (...args: P): Promise<R>
  /** The same call (socketmesh's `mesh.call.Role.command.call(args)` form). */
  call: (...args: P) => Promise<R>
}

/** A command's call: the argument may be left out when the handler takes none (or its type is unknown). */
type CallFn<C, K extends 'balanced' | 'broadcast'> = unknown extends Fn<C>['args']
  ? CommandCall<[args?: Fn<C>['args'], opts?: CallOptions], Result<C, K>>
  : undefined extends Fn<C>['args']
    ? CommandCall<[args?: Fn<C>['args'], opts?: CallOptions], Result<C, K>>
    : CommandCall<[args: Fn<C>['args'], opts?: CallOptions], Result<C, K>>

type Group<R extends RoleSpec, G extends '_balanced' | '_broadcast'> = NonNullable<NonNullable<R['_commands']>[G]>

type RoleCalls<R extends RoleSpec> =
  { [K in keyof Group<R, '_balanced'>]: CallFn<Group<R, '_balanced'>[K], 'balanced'> } &
  { [K in keyof Group<R, '_broadcast'>]: CallFn<Group<R, '_broadcast'>[K], 'broadcast'> }

/** `mesh.call` of a node, typed from the schema (every role; calls the schema forbids fail at run time with ERR_NOT_ALLOWED). */
export type MeshCalls<S extends MeshSchema> = { [R in keyof S]: RoleCalls<S[R]> }

/** The typed form of a schema: checks it (a `PeerwardenError` naming the field, as `createMeshNode` would) and returns it unchanged, with its types kept for `createMeshNode`. */
export function defineSchema<const S extends MeshSchema> (schema: S): S {
  // Checked now, with the same errors as createMeshNode's, rather than at the first node.
  new Schema(schema) // eslint-disable-line no-new
  return schema
}
