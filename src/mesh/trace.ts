import { randomFillSync } from 'node:crypto'

/**
 * Trace context in the W3C `traceparent` format (`00-<trace id>-<parent span id>-<flags>`): every
 * call carries one; a handler's nested calls keep its trace id under a new span id.
 *
 * Rules:
 * - Only version 00 is read: 55 characters, lowercase hex, neither id all zeros (what the decoder
 *   of a call message accepts; anything else closes the connection as a malformed message would).
 * - A call made outside a handler starts a trace (flags 01, sampled) unless the caller passes its
 *   own `traceparent` (say, an OpenTelemetry span's).
 */
export const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

// Random bytes drawn in blocks: one system call per 170 calls, not one per id.
const pool = Buffer.alloc(4096)
let used = pool.length

function randomHex (bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool)
    used = 0
  }
  const hex = pool.toString('hex', used, used + bytes)
  used += bytes
  return hex
}

/**
 * The traceparent of a new span: a child of `parent` (same trace id and flags) when it is a valid
 * traceparent, else the root of a new trace.
 */
export function childTraceparent (parent: string | undefined): string {
  if (parent !== undefined && TRACEPARENT.test(parent)) return `00-${parent.slice(3, 35)}-${randomHex(8)}-${parent.slice(53, 55)}`
  return `00-${randomHex(16)}-${randomHex(8)}-01`
}

/** A traceparent's parts, or undefined if it is not a valid version-00 one. */
export function parseTraceparent (traceparent: string): { traceId: string; spanId: string; flags: number } | undefined {
  if (!TRACEPARENT.test(traceparent)) return undefined
  return { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52), flags: parseInt(traceparent.slice(53, 55), 16) }
}
