/** Messages queued while paused before the socket itself is paused. */
const QUEUE_HIGH = 64
/** The default `maxQueuedBytes`: bytes queued while paused before the socket itself is paused (1 MiB). */
export const QUEUE_HIGH_BYTES = 1024 * 1024

/**
 * Read-side figures, shared by the streams of one transport (its stats): bytes decrypted and queued
 * now, bytes read and dropped unread from streams that were ending, times a socket was paused because
 * its queue reached `maxQueuedBytes`, bytes held now for frames partly received.
 */
export interface ReadMeter { queuedBytes: number; discardedBytes: number; queuePauses: number; receivingBytes: number }

/** A fresh meter with every figure at zero. */
export function emptyReadMeter (): ReadMeter {
  return { queuedBytes: 0, discardedBytes: 0, queuePauses: 0, receivingBytes: 0 }
}

/**
 * The messages a secure stream decrypted while paused (secure-stream.ts), waiting for `resume()`.
 *
 * Rules:
 * - Every byte queued is counted here and in the transport's meter (`queuedBytes`), and uncounted
 *   when it is delivered or dropped.
 * - `push` says when the socket must be paused: once the queue holds 64 messages or `maxQueuedBytes`
 *   bytes (so at most the budget plus one message is queued). A pause for the byte budget is counted
 *   (`queuePauses`).
 */
export class PausedQueue {
  private readonly messages: Buffer[] = []
  /** Bytes queued. */
  bytes = 0

  /** `changed`: told the bytes queued after each change (the node-wide budget, queue-budget.ts). */
  constructor (private readonly maxBytes: number, private readonly meter: ReadMeter, private readonly changed?: (bytes: number) => void) {}

  get length (): number { return this.messages.length }

  /** Queues one message; whether the socket must be paused now (see the rules). */
  push (msg: Buffer): boolean {
    this.messages.push(msg)
    this.bytes += msg.byteLength
    this.meter.queuedBytes += msg.byteLength
    this.changed?.(this.bytes)
    const full = this.bytes >= this.maxBytes
    return full || this.messages.length >= QUEUE_HIGH
  }

  /** The socket is paused because the byte budget was reached: counted. */
  countPause (): void {
    if (this.bytes >= this.maxBytes) this.meter.queuePauses++
  }

  /** The oldest message, uncounted. */
  shift (): Buffer {
    const msg = this.messages.shift()!
    this.uncount(msg.byteLength)
    return msg
  }

  /** Drops every message. */
  clear (): void {
    this.messages.length = 0
    this.uncount(this.bytes)
  }

  private uncount (bytes: number): void {
    if (bytes === 0) return
    this.bytes -= bytes
    this.meter.queuedBytes -= bytes
    this.changed?.(this.bytes)
  }
}
