import { randomBytes } from 'node:crypto'

/**
 * Trace context in the W3C `traceparent` format (`00-<trace id>-<parent span id>-<flags>`): every
 * call carries one; a handler's nested calls keep its trace id under a new span id.
 *
 * Rules:
 * - Only version 00 is read: 55 characters, lowercase hex, neither id all zeros (what the decoder
 *   of a call message accepts; anything else closes the connection as a malformed message would).
 * - A call made outside a handler starts a trace (flags 01, sampled) unless the caller passes its
 *   own `traceparent` (say, an OpenTelemetry span's).
 * - Ids are unique, not secret: each is a random prefix drawn with the first id (and again
 *   after 2^32 ids) followed by a counter, so a new id costs no system call and no random draw
 *   (W3C trace context asks for unique ids; ours never repeat within a process, and two processes
 *   share a trace id only if their 64 random bits do).
 */
export const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

/** Is `text` a valid version-00 traceparent (the same test as `TRACEPARENT`, without the regex engine)? */
export function isTraceparent (text: string): boolean {
  if (text.length !== 55 || text.charCodeAt(0) !== 48 || text.charCodeAt(1) !== 48 || text.charCodeAt(2) !== 45 || text.charCodeAt(35) !== 45 || text.charCodeAt(52) !== 45) return false
  return hexRun(text, 3, 35) === 1 && hexRun(text, 36, 52) === 1 && hexRun(text, 53, 55) !== -1
}

/** -1 if `text[from, to)` is not lowercase hex, 0 if it is all zeros, else 1. */
function hexRun (text: string, from: number, to: number): -1 | 0 | 1 {
  let nonZero: 0 | 1 = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    if (c > 48 && c <= 57) nonZero = 1
    else if (c >= 97 && c <= 102) nonZero = 1
    else if (c !== 48) return -1
  }
  return nonZero
}

// The random prefixes (8 hex characters of each span id, 24 of each trace id; never all zeros, so
// neither id is) and the counter after them.
let spanPrefix = ''
let tracePrefix = ''
let counter = 0

/** The next count, 8 hex characters; a new pair of prefixes first when the counter starts over. */
function nextCount (): string {
  if (counter === 0) {
    const hex = randomBytes(16).toString('hex')
    spanPrefix = nonZero(hex.slice(0, 8))
    tracePrefix = nonZero(hex.slice(8, 32))
  }
  const n = counter
  counter = (counter + 1) >>> 0
  return HEX[n >>> 24] + HEX[(n >>> 16) & 255] + HEX[(n >>> 8) & 255] + HEX[n & 255]
}

/** Two hex characters per byte value (a table: faster than `toString(16)` and padding). */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => (i + 256).toString(16).slice(1))

function nonZero (hex: string): string { return /^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex }

/**
 * The traceparent of a new span: a child of `parent` (same trace id and flags) when it is a valid
 * traceparent, else the root of a new trace.
 */
export function childTraceparent (parent: string | undefined): string {
  const count = nextCount()
  if (parent !== undefined && isTraceparent(parent)) return `00-${parent.slice(3, 35)}-${spanPrefix}${count}-${parent.slice(53, 55)}`
  return `00-${tracePrefix}${count}-${spanPrefix}${count}-01`
}

/** A traceparent's parts, or undefined if it is not a valid version-00 one. */
export function parseTraceparent (traceparent: string): { traceId: string; spanId: string; flags: number } | undefined {
  if (!isTraceparent(traceparent)) return undefined
  return { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52), flags: parseInt(traceparent.slice(53, 55), 16) }
}
