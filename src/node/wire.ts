import c from './vendor/compact-encoding.js'
import * as v from 'valibot'
import { PeerwardenError } from '../errors.js'

/**
 * What every channel above the transport uses to read peers' messages (peers are hostile).
 *
 * Rules:
 * - Bytes become a message only through a decoder: `safeJson` (never throws: malformed JSON decodes
 *   to `MALFORMED`), then one valibot schema per message type that checks the type, length and count
 *   of every field. Handlers receive only what a decoder returned.
 * - A channel whose honest messages are small reads JSON with `smallJson`: a message over
 *   `SMALL_JSON_BYTES` is refused by its length prefix, never parsed (`Oversized`).
 * - `peerHandler` wraps a protomux `onmessage`: nothing it runs can throw into protomux (whose
 *   safety-catch rethrows native errors and would end the process). A message that does not decode,
 *   or whose handler throws, goes to `onBad` with a reason, and the channel's owner closes the
 *   connection (`'protocol'`).
 * - A message we send is at most `MAX_MESSAGE_BYTES`: protomux flushes a batch once it reaches
 *   8 MiB, so a batch never crosses the transport's 16 MiB frame when no single message is over
 *   8 MiB. A sender checks with `checkMessageSize` and fails its own call (`ERR_MESSAGE_TOO_LARGE`).
 */

/** What `safeJson` decodes bytes that are not JSON to. */
export const MALFORMED: unique symbol = Symbol('malformed')

/** compact-encoding's state, as far as used here. */
interface State { start: number; end: number; buffer: Uint8Array | null }
interface Codec<T> { preencode: (state: State, v: T) => void; encode: (state: State, v: T) => void; decode: (state: State) => T }
const { json } = c as unknown as { json: Codec<unknown> }

/**
 * `c.json` on the wire (the same bytes), whose decode never throws: anything that is not one
 * length-prefixed JSON text decodes to `MALFORMED`.
 */
export const safeJson: Codec<unknown> = {
  preencode (state, value) { json.preencode(state, value) },
  encode (state, value) { json.encode(state, value) },
  decode (state) {
    try { return json.decode(state) } catch { return MALFORMED }
  }
}

const { string, uint } = c as unknown as { string: Codec<string>; uint: Codec<number> }

/**
 * What a `boundedJson` codec decodes a message over its budget to: its bytes are skipped, never
 * parsed (the decoders refuse it, naming both sizes).
 */
export class Oversized {
  constructor (readonly bytes: number, readonly max: number) {}
}

/**
 * `safeJson` for a channel whose honest messages are small: a JSON text longer than `maxBytes`
 * decodes to `Oversized` without being parsed. Parsing is what costs (8 MiB of nested arrays holds
 * the event loop for seconds, against a few milliseconds to send), so a peer's message is measured
 * by its length prefix first.
 */
export function boundedJson (maxBytes: number): Codec<unknown> {
  return {
    preencode: safeJson.preencode,
    encode: safeJson.encode,
    decode (state) {
      const start = state.start
      let bytes: number
      try { bytes = uint.decode(state) } catch { return MALFORMED }
      if (bytes > maxBytes) {
        state.start = Math.min(state.end, state.start + bytes)
        return new Oversized(bytes, maxBytes)
      }
      state.start = start
      return safeJson.decode(state)
    }
  }
}

/**
 * The most bytes of JSON taken in one message from a peer on a channel whose honest messages are
 * small (everything but a mesh call or answer between certified nodes, and what a registry sends its
 * members): the control channel's largest honest message (a referral of 32 peers of 8 addresses) is
 * about 70 KiB, a relay, registration, status request or certificate handshake a few KiB.
 */
export const SMALL_JSON_BYTES = 256 * 1024

/** `boundedJson(SMALL_JSON_BYTES)`: the codec of every JSON message a stranger can send. */
export const smallJson: Codec<unknown> = boundedJson(SMALL_JSON_BYTES)

/** `c.string` on the wire, whose decode never throws (`MALFORMED` instead). */
export const safeString: Codec<string | typeof MALFORMED> = {
  preencode (state, value) { string.preencode(state, value as string) },
  encode (state, value) { string.encode(state, value as string) },
  decode (state) {
    try { return string.decode(state) } catch { return MALFORMED }
  }
}

/** The largest message a sender puts on a channel (8 MiB less room for protomux's framing). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024 - 1024

/** Throws `ERR_MESSAGE_TOO_LARGE` naming `what` when `bytes` exceeds `MAX_MESSAGE_BYTES`. */
export function checkMessageSize (bytes: number, what: string): void {
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new PeerwardenError('ERR_MESSAGE_TOO_LARGE', `${what} is ${bytes} bytes encoded (at most ${MAX_MESSAGE_BYTES})`)
  }
}

/** Why an `Oversized` message was refused. */
export function oversized (raw: Oversized): string {
  return `a message of ${raw.bytes} bytes of JSON (at most ${raw.max} on this channel; not parsed)`
}

/** A decoder: the typed message, or undefined with the first problem found in `why`. */
export type Decoder<T> = (raw: unknown) => { ok: true; value: T } | { ok: false; why: string }

/** One decoder from one valibot schema. */
export function decoder<S extends v.GenericSchema> (schema: S): Decoder<v.InferOutput<S>> {
  return (raw) => {
    if (raw === MALFORMED) return { ok: false, why: 'not JSON' }
    if (raw instanceof Oversized) return { ok: false, why: oversized(raw) }
    const r = v.safeParse(schema, raw, { abortEarly: true, abortPipeEarly: true })
    if (r.success) return { ok: true, value: r.output }
    const issue = r.issues[0]
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? ''
    return { ok: false, why: `${path === '' ? 'message' : path}: ${issue.message}`.slice(0, 200) }
  }
}

/**
 * A protomux `onmessage` that never throws: decodes, then handles; a message that does not decode,
 * or a handler that throws or rejects, is reported to `onBad` (which closes the connection).
 */
export function peerHandler<T> (decode: Decoder<T>, handle: (msg: T) => void | Promise<void>, onBad: (why: string) => void): (raw: unknown) => void {
  const bad = (why: string): void => { try { onBad(why) } catch { /* closing is best effort */ } }
  return (raw) => {
    const d = decode(raw)
    if (!d.ok) { bad(d.why); return }
    try {
      const p = handle(d.value)
      if (p !== undefined && typeof (p as Promise<void>).then === 'function') {
        (p as Promise<void>).then(undefined, (err: unknown) => { bad(`handler failed: ${String((err as Error)?.message ?? err).slice(0, 120)}`) })
      }
    } catch (err) {
      bad(`handler failed: ${String((err as Error)?.message ?? err).slice(0, 120)}`)
    }
  }
}

// Field shapes shared by several channels.

/** A peer id on the wire: 64 lowercase hex characters (an ed25519 public key). */
export const peerIdField = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))
/** A topic's discovery key on the wire: 64 lowercase hex characters. */
export const topicKeyField = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))
/** Longest address string taken from a peer. */
export const MAX_ADDRESS_LENGTH = 256
/** An address as a peer states it (checked for shape by the transport before use). */
export const addressField = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ADDRESS_LENGTH))
/** Most addresses taken for one peer from one message. */
export const MAX_ADDRESSES = 8
export const addressList = v.pipe(v.array(addressField), v.maxLength(MAX_ADDRESSES))
/** A non-negative safe integer (ids, counters, deadlines). */
export const uintField = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER))
/** A TCP port a peer names: 1-65535. */
export const portField = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))
