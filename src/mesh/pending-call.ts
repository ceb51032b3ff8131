import type { ClientSpan } from './otel.js'
import type { Figures } from './metrics.js'
import type { Instance } from './instance.js'
import type { CallOptions, Command } from './schema.js'

/** An attempt of ours in flight (caller.ts keeps them by call id until they settle). */
export interface Pending {
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

/** An attempt, before it is sent (the caller's `send` fills in the rest). */
export function pendingOf (instance: Instance, command: Command, args: unknown, deadline: number, trace: string | undefined, signal: AbortSignal | undefined, balanced: boolean): Pending {
  return { resolve: noop, reject: noop, settleOnAck: !command.responds, instance, command, args, deadline, trace, signal, onAbort: undefined, figures: undefined, sentAt: 0, balanced, span: undefined, first: false, opts: undefined, callDeadline: deadline }
}

function noop (): void {}
