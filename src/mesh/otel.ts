import type * as OtelApi from '@opentelemetry/api'
import { PeerwardenError } from '../errors.js'
import { requireOptional } from '../optional-dependency.js'
import type { Instance } from './instance.js'
import { handlerOf, type CallContext, type Command, type Handler, type Role } from './schema.js'
import { childTraceparent, parseTraceparent } from './trace.js'

/**
 * The mesh's OpenTelemetry bridge (the `tracer` option of `createMeshNode`): a span per call attempt
 * on the caller, a span per handled call on the responder, in the application's tracer.
 *
 * Rules:
 * - Without the option nothing here is loaded or runs: the caller only tests that it has no bridge.
 *   With it, `@opentelemetry/api` (an optional peer dependency) is loaded when the node starts;
 *   without the package that is ERR_MISSING_DEPENDENCY.
 * - Client span (kind CLIENT, named `Role/command`): one per attempt (a retry, a failover and each
 *   instance of a broadcast has its own), with `rpc.system` 'peerwarden', `rpc.service` the role,
 *   `rpc.method` the command, `peerwarden.mesh.instance` the variant called and
 *   `peerwarden.mesh.attempt`. Its parent: the call's `traceparent` option, else the handler's span
 *   (a call through `ctx.call`), else the active OpenTelemetry context (a call made inside the
 *   application's span), else none (a new trace).
 * - Server span (kind SERVER, named `Role/command`): one per handled call, from the moment its
 *   handler starts until it settles (a call refused before its handler runs has none: the caller's
 *   span shows the refusal); its parent is the traceparent the call carried (the caller's span), or
 *   none. The handler runs in its context: `ctx.traceparent` is its id, so `ctx.call` nests under it,
 *   and so do the application's own spans.
 * - An error sets the span's status to ERROR with the message, and `error.type` to the error's code
 *   (ERR_REMOTE for a handler's throw seen by the caller, with the handler's own code as
 *   `peerwarden.mesh.remote_code`).
 * - The wire is unchanged: a call carries a W3C traceparent naming its client span, so a peer
 *   without the bridge sees the same trace. A tracer that records nothing (the API without an SDK)
 *   gives invalid span ids; the call then carries what it would carry without the bridge.
 */

/**
 * An OpenTelemetry `Tracer`, as the `tracer` option takes it (`trace.getTracer('my-service')`). A
 * structural type: the mesh's declarations do not name @opentelemetry/api, which an application may
 * not have installed.
 */
export interface MeshTracer {
  /** The only method the mesh calls: `Tracer.startSpan(name, options, context)`. */
  startSpan: (name: string, options?: never, context?: never) => unknown
}

/** A client span in flight: the traceparent its attempt carries, and its end. */
export interface ClientSpan {
  /** What the attempt sends (the span's id; undefined when there is nothing to send). */
  readonly traceparent: string | undefined
  /** The attempt settled: `err` undefined for success. */
  end: (err: unknown) => void
}

type Api = typeof OtelApi
type Calls = (deadline: number, traceparent: string | undefined) => CallContext['call']
const RPC_SYSTEM = 'peerwarden'

/** Checks the `tracer` option: undefined/false (none), true (the global provider's), or a Tracer. */
export function tracerOption (value: unknown): true | MeshTracer | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return true
  if (value !== null && typeof value === 'object' && typeof (value as { startSpan?: unknown }).startSpan === 'function') return value as MeshTracer
  throw PeerwardenError.invalid('tracer must be true or an OpenTelemetry Tracer (trace.getTracer(name))')
}

/** The bridge between one mesh node and an OpenTelemetry tracer (rules at the top of this file). */
export class OtelBridge {
  private readonly api: Api
  private readonly tracer: OtelApi.Tracer

  constructor (tracer: true | MeshTracer) {
    this.api = requireOptional<Api>('@opentelemetry/api', 'the mesh\'s OpenTelemetry spans (the tracer option)')
    this.tracer = tracer === true ? this.api.trace.getTracer('peerwarden') : tracer as unknown as OtelApi.Tracer
  }

  /** Starts the client span of an attempt of `command` to `instance`, under `parent` (a traceparent) or the active context. */
  client (command: Command, instance: Instance, attempt: number, parent: string | undefined): ClientSpan {
    const { api } = this
    const context = parent === undefined ? api.context.active() : this.remote(api.context.active(), parent)
    const span = this.tracer.startSpan(`${command.role}/${command.name}`, {
      kind: api.SpanKind.CLIENT,
      attributes: { 'rpc.system': RPC_SYSTEM, 'rpc.service': command.role, 'rpc.method': command.name, 'peerwarden.mesh.instance': instance.variant, 'peerwarden.mesh.attempt': attempt }
    }, context)
    const traceparent = this.traceparentOf(span, parent) ?? (parent === undefined ? undefined : childTraceparent(parent))
    return { traceparent, end: (err) => { this.end(span, err) } }
  }

  /**
   * The handlers of `me` wrapped in server spans: `handlers` (else the schema's functions), each run
   * in its span's context with a `ctx` whose traceparent is its span's. `calls` makes `ctx.call`.
   */
  handlers (me: Role, handlers: Record<string, Handler> | undefined, calls: Calls, startsTrace: boolean): Record<string, Handler> {
    // No prototype: a command named '__proto__' is a key like any other.
    const out = Object.create(null) as Record<string, Handler>
    for (const command of me.commands.values()) {
      const handler = handlerOf(handlers, command)
      if (handler !== undefined) out[command.name] = this.serve(command, handler, calls, startsTrace)
    }
    return out
  }

  /** `handler` in a server span; `startsTrace`: a call that carried no trace, under a span without an id, still gets one (the `tracing` option). */
  private serve (command: Command, handler: Handler, calls: Calls, startsTrace: boolean): Handler {
    const { api, tracer } = this
    const name = `${command.role}/${command.name}`
    return (args, ctx) => {
      // The responder runs without a trace of its own here: `ctx.traceparent` is what the call carried.
      const carried = ctx.traceparent
      const parent = carried === undefined ? api.ROOT_CONTEXT : this.remote(api.ROOT_CONTEXT, carried)
      const span = tracer.startSpan(name, {
        kind: api.SpanKind.SERVER,
        attributes: { 'rpc.system': RPC_SYSTEM, 'rpc.service': command.role, 'rpc.method': command.name, 'peerwarden.mesh.caller': `${ctx.from.role}/${ctx.from.variant}`, 'peerwarden.mesh.attempt': ctx.attempt }
      }, parent)
      const traceparent = this.traceparentOf(span, carried) ?? carried ?? (startsTrace ? childTraceparent(undefined) : undefined)
      let nested: CallContext['call'] | undefined
      const traced: CallContext = {
        from: ctx.from,
        deadline: ctx.deadline,
        attempt: ctx.attempt,
        traceparent,
        get signal () { return ctx.signal },
        get call () { return (nested ??= calls(ctx.deadline, traceparent)) }
      }
      let out: unknown
      try {
        out = api.context.with(api.trace.setSpan(parent, span), () => handler(args, traced))
      } catch (err) {
        this.end(span, err)
        throw err
      }
      if (out === null || (typeof out !== 'object' && typeof out !== 'function') || typeof (out as { then?: unknown }).then !== 'function') {
        this.end(span, undefined)
        return out
      }
      return Promise.resolve(out).then((value) => { this.end(span, undefined); return value }, (err: unknown) => { this.end(span, err); throw err })
    }
  }

  /** `context` with `traceparent` as its (remote) parent span; `context` itself if it is not a valid traceparent. */
  private remote (context: OtelApi.Context, traceparent: string): OtelApi.Context {
    const parsed = parseTraceparent(traceparent)
    if (parsed === undefined) return context
    return this.api.trace.setSpanContext(context, { traceId: parsed.traceId, spanId: parsed.spanId, traceFlags: parsed.flags, isRemote: true })
  }

  /**
   * The span's id as a traceparent; undefined for a span without an id of its own (a tracer that
   * records nothing gives an invalid one, or its parent's).
   */
  private traceparentOf (span: OtelApi.Span, parent: string | undefined): string | undefined {
    const sc = span.spanContext()
    if (!this.api.isSpanContextValid(sc) || (parent !== undefined && parent.slice(36, 52) === sc.spanId)) return undefined
    return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`
  }

  /** Ends `span`: OK without `err`, else ERROR with its message and code. */
  private end (span: OtelApi.Span, err: unknown): void {
    if (err !== undefined) {
      let code = 'Error'
      let message = 'the handler threw a value that cannot be shown'
      let remote: unknown
      // Whatever a handler threw (a getter that throws included) must not keep the span open.
      try {
        const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | null
        if (typeof e?.code === 'string') code = e.code
        message = typeof e?.message === 'string' ? e.message : String(err)
        if (code === 'ERR_REMOTE') remote = e?.cause?.code
      } catch { /* the defaults above */ }
      span.setAttribute('error.type', code)
      if (typeof remote === 'string') span.setAttribute('peerwarden.mesh.remote_code', remote)
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message })
    }
    span.end()
  }
}
