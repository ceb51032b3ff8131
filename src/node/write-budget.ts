import type { SecureStream } from './secure-stream.js'

/**
 * Default `maxWriteQueueBytes` (16 MiB): twice our largest message (wire.ts `MAX_MESSAGE_BYTES`,
 * 8 MiB). A sender that waits for 'drain' when a write says the buffer is full holds at most
 * max(256 KiB, one message) there (measured with the bulk benchmark's sender: 256 KiB with 1 KiB and
 * 64 KiB messages, 1 MiB with 1 MiB ones, 8 MiB with 8 MiB ones), so a bulk transfer never trips it.
 */
export const DEFAULT_MAX_WRITE_QUEUE_BYTES = 16 * 1024 * 1024

/** How long the queue may stay above the budget while the remote reads nothing of it (ms). */
export const WRITE_STALL_MS = 2_000

/** The queue may never pass this many times the budget, read or not. */
const HARD_FACTOR = 4

/**
 * The write side of one connection, budgeted: the bytes we queued for the remote and it has not read
 * (the socket's `writableLength`: the secure stream writes each sealed message to the socket at
 * once).
 *
 * Rules:
 * - The figure is read after each write that reports a full buffer (`write` returns false past
 *   256 KiB), so the check costs nothing while the remote keeps up.
 * - Above `max`, a remote that reads (the kernel took more of the queue since the last check) is
 *   slow, not hostile: a burst of large answers to a slow reader (a mesh's results, up to 8 MiB each)
 *   may wait. A write that finds the queue above `max` with nothing taken for `WRITE_STALL_MS`, or
 *   above `4 × max` at all, calls `over` once (the connection then closes with 'over-budget' and is
 *   destroyed at once: a peer that does not read would not read the close either). From then on
 *   every write is dropped (false).
 * - It covers whatever made us write: answers to requests, relayed data, keep-alives, an
 *   application's channels.
 */
export function budgetWrites (stream: SecureStream, max: number, over: (queued: number) => void, now: () => number = Date.now): void {
  const write = stream.write
  let tripped = false
  /** While above `max`: bytes the kernel had taken, and since when it took none. */
  let taken = -1
  let stalledSince = 0
  stream.write = function (this: SecureStream, data: Uint8Array): boolean {
    // Over: nothing more is queued for it while `over` ends the connection (its owner may do that in a microtask).
    if (tripped) return false
    const ok = write.call(this, data)
    if (ok) return ok
    const socket = this.socket
    const queued = socket.writableLength
    if (queued <= max) { taken = -1; return ok }
    // bytesWritten counts what is still queued too (undefined once the socket is destroyed: nothing to budget).
    const written = socket.bytesWritten as number | undefined
    if (written === undefined) return ok
    const sent = written - queued
    const t = now()
    if (sent > taken) { taken = sent; stalledSince = t }
    if (queued > HARD_FACTOR * max || t - stalledSince >= WRITE_STALL_MS) {
      tripped = true
      over(queued)
    }
    return ok
  }
}
