/**
 * The mesh's wire messages and their decoders: one valibot schema per message, on the registry
 * channel (register / registered / refused / joined / left) and the RPC channel (call / ack / result /
 * cancel / admit, and the certificate in its handshake). Peers are hostile (node/wire.ts): a
 * message that does not decode closes the connection ('protocol').
 *
 * Rules (the budgets; each is what one message may carry, checked before anything reads it):
 * - names: a role at most `MAX_ROLE_LENGTH` (128) characters, a variant at most `MAX_VARIANT_LENGTH`
 *   (64), a command at most `MAX_COMMAND_LENGTH` (128); peer ids 64 lowercase hex; addresses as
 *   wire.ts's `addressList` (at most 8, each at most 256 characters).
 * - a directory at most `MAX_DIRECTORY` (4096) entries; a refusal's reason at most 1024 characters.
 * - an error answer `{ message, code? }`: message at most `MAX_ERROR_MESSAGE` (4096) characters,
 *   code at most 64. The responder truncates what it sends to fit (an honest answer always decodes).
 * - ids are safe non-negative integers; a deadline is a finite non-negative number, or null for none
 *   (JSON writes Infinity as null).
 * - `args` and `value` are any JSON: the handler (or the caller's code) owns their shape; a
 *   command's `params` (schema.ts) checks them on both sides.
 * - A call's `attempt` is an integer from 1 to `MAX_ATTEMPTS` (32), its `trace` a version-00
 *   W3C traceparent (trace.ts); both optional (an older caller sends neither: attempt 1, no trace).
 * - The handshake's `batch: true` says the sender reads batch messages (`decodeRpcBatch`): only such
 *   a peer is sent them (an older peer knows one message type on the channel).
 * - The handshake's `drain: true` says the sender understands 'drain' and 'drain-ack': only such a
 *   peer is sent them (an older peer's decoder would refuse an unknown type, and close the connection).
 * - A health report (`health`: draining, and at most `MAX_HEALTH_BREAKERS` (64) breakers that are
 *   not closed, each a peer id with 'open' or 'half-open') goes only to a registry whose
 *   'registered' said `health: true`: an older registry's decoder would refuse the unknown type, and
 *   close the connection.
 * - Unknown fields are dropped, not refused (a newer peer may send more).
 */

import * as v from 'valibot'
import { addressList, decoder, MAX_ADDRESSES, Oversized, oversized, peerIdField, uintField, type Decoder } from '../node/wire.js'
import { MAX_ATTEMPTS } from './retry.js'
import { isTraceparent, TRACEPARENT } from './trace.js'

export const MAX_ROLE_LENGTH = 128
export const MAX_VARIANT_LENGTH = 64
export const MAX_COMMAND_LENGTH = 128
export const MAX_DIRECTORY = 4096
export const MAX_REASON_LENGTH = 1024
export const MAX_ERROR_MESSAGE = 4096
export const MAX_ERROR_CODE = 64
/** At most this many breakers in one health report (the ones not closed). */
export const MAX_HEALTH_BREAKERS = 64

const roleField = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ROLE_LENGTH))
const variantField = v.pipe(v.string(), v.maxLength(MAX_VARIANT_LENGTH))
const sigField = v.pipe(v.string(), v.regex(/^[0-9a-f]{128}$/))
const timeField = v.pipe(v.number(), v.finite(), v.minValue(0))

/** A certificate as it travels (the signature is checked by certificate.ts's `check`). */
export const certificateShape = v.object({
  role: roleField,
  variant: variantField,
  peer: peerIdField,
  registry: peerIdField,
  expires: timeField,
  sig: sigField
})

/** `unproven`: how many of the addresses, at the end, the registry could not tie to the member (directory-addresses.ts). */
const directoryEntry = v.object({ peer: peerIdField, role: roleField, variant: variantField, addresses: addressList, unproven: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_ADDRESSES))) })

// ── the registry channel ─────────────────────────────────────────────────────

/** A breaker a node holds against an instance it calls, as its health report carries it (closed ones are not sent). */
export const healthBreaker = v.object({ peer: peerIdField, state: v.picklist(['open', 'half-open']) })

/** A node's health as it reports it to the registries (health.ts): draining, and its breakers not closed. */
export const healthShape = v.object({
  draining: v.boolean(),
  breakers: v.pipe(v.array(healthBreaker), v.maxLength(MAX_HEALTH_BREAKERS))
})

/** A node's health report: what the registry keeps for it and shows in its status. */
export type HealthReport = v.InferOutput<typeof healthShape>

/** What a node sends the registry. */
const toRegistry = v.variant('t', [
  v.object({ t: v.literal('register'), role: roleField, variant: v.optional(variantField), addresses: v.optional(addressList) }),
  v.object({ t: v.literal('health'), ...healthShape.entries })
])

/** What the registry sends a node. */
const fromRegistry = v.variant('t', [
  /** `health: true`: this registry takes health reports (an older one does not say it, and is sent none). */
  v.object({ t: v.literal('registered'), cert: certificateShape, directory: v.pipe(v.array(directoryEntry), v.maxLength(MAX_DIRECTORY)), health: v.optional(v.boolean()) }),
  v.object({ t: v.literal('refused'), reason: v.pipe(v.string(), v.maxLength(MAX_REASON_LENGTH)) }),
  v.object({ t: v.literal('joined'), entry: directoryEntry }),
  v.object({ t: v.literal('left'), peer: peerIdField })
])

export type ToRegistry = v.InferOutput<typeof toRegistry>
export type FromRegistry = v.InferOutput<typeof fromRegistry>
export type RegistryMessage = ToRegistry | FromRegistry
export const decodeToRegistry = decoder(toRegistry)
export const decodeFromRegistry = decoder(fromRegistry)

// ── the RPC channel ──────────────────────────────────────────────────────────

/** An error answer: what the caller's ERR_REMOTE carries. */
export const errorShape = v.object({
  message: v.pipe(v.string(), v.maxLength(MAX_ERROR_MESSAGE)),
  code: v.optional(v.pipe(v.string(), v.maxLength(MAX_ERROR_CODE)))
})

/**
 * The RPC handshake: the sender's certificate (its absence or shape is checked like its signature),
 * and the largest message it reads (`maxMessage`, bytes; absent from older peers, which read
 * `MAX_MESSAGE_BYTES`).
 */
const hello = v.object({ cert: certificateShape, drain: v.optional(v.boolean()), batch: v.optional(v.boolean()), maxMessage: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))) })
export const decodeHello = decoder(hello)

const json = v.unknown()
const rpc = v.variant('t', [
  v.object({
    t: v.literal('call'),
    id: uintField,
    cmd: v.pipe(v.string(), v.maxLength(MAX_COMMAND_LENGTH)),
    args: json,
    deadline: v.nullable(timeField),
    attempt: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_ATTEMPTS))),
    trace: v.optional(v.pipe(v.string(), v.length(55), v.regex(TRACEPARENT)))
  }),
  v.object({ t: v.literal('ack'), id: uintField }),
  v.variant('ok', [
    v.object({ t: v.literal('result'), id: uintField, ok: v.literal(true), value: json }),
    v.object({ t: v.literal('result'), id: uintField, ok: v.literal(false), error: errorShape })
  ]),
  v.object({ t: v.literal('cancel'), id: uintField }),
  v.object({ t: v.literal('admit') }),
  /** "I am draining: send me no new call" (the sender's handshake said `drain: true`). */
  v.object({ t: v.literal('drain') }),
  /** "Understood": every call sent before it has arrived (the channel keeps order). */
  v.object({ t: v.literal('drain-ack') })
])

/** A decoded RPC message (both directions share the channel; the mesh node dispatches by `t`). */
export type RpcMessage = v.InferOutput<typeof rpc>
/** The RPC messages decoded by the schema alone (`decodeRpc` is the same decoder with a fast path). */
export const decodeRpcBySchema = decoder(rpc)

/**
 * The RPC decoder: the schema above decides, with a hand-written fast path in front of it for the
 * messages of every call (call, ack, result, cancel). The fast path accepts only what the schema
 * accepts, and builds the same output (known fields only); anything it does not accept at once
 * (a bad field, an unusual shape) goes to the schema, which says what is wrong.
 */
export const decodeRpc: Decoder<RpcMessage> = (raw) => {
  const value = fastRpc(raw)
  return value !== undefined ? { ok: true, value } : decodeRpcBySchema(raw)
}

/** The most RPC messages one batch message carries (a sender starts another batch past it). */
export const MAX_BATCH_MESSAGES = 1024

/**
 * A batch message of the RPC channel: a JSON array of 1 to `MAX_BATCH_MESSAGES` RPC messages, each
 * decoded as `decodeRpc` decodes a message of its own. All or nothing: one element that does not
 * decode refuses the whole batch (nothing of it is handled), as one bad message closes the connection.
 */
export const decodeRpcBatch: Decoder<RpcMessage[]> = (raw) => {
  if (raw instanceof Oversized) return { ok: false, why: oversized(raw) }
  if (!Array.isArray(raw)) return { ok: false, why: 'a batch that is not an array' }
  if (raw.length === 0 || raw.length > MAX_BATCH_MESSAGES) return { ok: false, why: `a batch of ${raw.length} messages (1 to ${MAX_BATCH_MESSAGES})` }
  const out = new Array<RpcMessage>(raw.length)
  for (let i = 0; i < raw.length; i++) {
    const d = decodeRpc(raw[i])
    if (!d.ok) return { ok: false, why: `batch[${i}]: ${d.why}` }
    out[i] = d.value
  }
  return { ok: true, value: out }
}

/** `uintField`: a safe non-negative integer. */
function isUint (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

/** The fast path of `decodeRpc` (rules there): the message, or undefined to let the schema decide. */
function fastRpc (raw: unknown): RpcMessage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  const m = raw as Record<string, unknown>
  const id = m.id
  if (!isUint(id)) return undefined
  switch (m.t) {
    case 'call': {
      const { cmd, deadline, attempt, trace } = m
      if (typeof cmd !== 'string' || cmd.length > MAX_COMMAND_LENGTH || !('args' in m)) return undefined
      if (deadline !== null && !(typeof deadline === 'number' && deadline >= 0 && deadline !== Infinity)) return undefined
      if (attempt !== undefined && !(typeof attempt === 'number' && Number.isInteger(attempt) && attempt >= 1 && attempt <= MAX_ATTEMPTS)) return undefined
      if (trace !== undefined && !(typeof trace === 'string' && isTraceparent(trace))) return undefined
      const out: RpcMessage = { t: 'call', id, cmd, args: m.args, deadline }
      if ('attempt' in m) out.attempt = attempt as number | undefined
      if ('trace' in m) out.trace = trace as string | undefined
      return out
    }
    case 'result': {
      if (m.ok === true) return 'value' in m ? { t: 'result', id, ok: true, value: m.value } : undefined
      const error = m.error as Record<string, unknown> | null | undefined
      if (m.ok !== false || typeof error !== 'object' || error === null) return undefined
      const { message, code } = error
      if (typeof message !== 'string' || message.length > MAX_ERROR_MESSAGE) return undefined
      if (code !== undefined && !(typeof code === 'string' && code.length <= MAX_ERROR_CODE)) return undefined
      return { t: 'result', id, ok: false, error: 'code' in error ? { message, code: code as string | undefined } : { message } }
    }
    case 'ack': return { t: 'ack', id }
    case 'cancel': return { t: 'cancel', id }
    default: return undefined
  }
}

/** `text` cut to `max` characters (an error we send must decode at the other end). */
export function clip (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

/** What a handler threw, as text; whatever it threw (an object whose toString throws included). */
export function errorText (err: unknown): string {
  try {
    const message = (err as Error)?.message
    return typeof message === 'string' ? message : String(err)
  } catch {
    return 'the handler threw a value that cannot be shown'
  }
}
