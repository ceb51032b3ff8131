import { MAX_DELAY } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import type { CallContext } from './schema.js'
import { childTraceparent } from './trace.js'

/**
 * A handler's `ctx`. The signal (an AbortController and a timer for the deadline) and the nested-call
 * proxy are made on first use: they cost nothing for the many handlers that never look at them. A
 * cancel (or a dropped connection) that comes first is kept and shows as an aborted signal when the
 * handler does look.
 */
type Calls = CallContext['call']

export class HandlerContext implements CallContext {
  private controller: AbortController | undefined
  private timer: unknown
  private reason: unknown
  private aborted = false
  private nested: Calls | undefined
  /** Called once when the responder releases this call (deadline, cancel, channel gone, close). */
  onRelease: (() => void) | undefined

  constructor (
    /** The caller's role and variant, one frozen object per connection. */
    readonly from: { readonly role: string; readonly variant: string },
    readonly deadline: number,
    private readonly makeCalls: (deadline: number, traceparent: string | undefined) => Calls,
    private readonly clock: Clock,
    /** 1, then 2, 3… when the caller retried the call on another instance. */
    readonly attempt = 1,
    /** The caller's trace context (W3C traceparent), if it sent one. */
    private trace: string | undefined = undefined,
    /** Without `trace`, start one when it is first asked for. */
    private readonly startsTrace = false
  ) {}

  /** The caller's traceparent; without one, a new trace made on first use (none if `startsTrace` is false). */
  get traceparent (): string | undefined {
    if (this.trace === undefined && this.startsTrace) this.trace = childTraceparent(undefined)
    return this.trace
  }

  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.aborted) this.controller.abort(this.reason)
      else {
        // The deadline is the caller's: one further than a timer can wait (node would fire it after
        // 1 ms) arms none; the responder's deadline sweep aborts a handler still running then.
        const ms = Math.max(0, this.deadline - this.clock.now())
        if (ms <= MAX_DELAY) this.timer = this.clock.setTimeout(() => { this.abort(new PeerwardenError('ERR_TIMEOUT', 'the deadline passed')) }, ms)
      }
    }
    return this.controller.signal
  }

  get call (): Calls { return (this.nested ??= this.makeCalls(this.deadline, this.traceparent)) }

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.clock.clearTimeout(this.timer)
    this.controller?.abort(reason)
  }

  /** The handler is done: its deadline timer goes. */
  dispose (): void { this.clock.clearTimeout(this.timer) }
}
