import type { SecureStream } from './secure-stream.js'

/**
 * Default `maxWriteQueueBytes` (16 MiB): twice our largest message (wire.ts `MAX_MESSAGE_BYTES`,
 * 8 MiB). A sender that waits for 'drain' when a write says the buffer is full holds at most
 * max(256 KiB, one message) there (measured with the bulk benchmark's sender: 256 KiB with 1 KiB and
 * 64 KiB messages, 1 MiB with 1 MiB ones, 8 MiB with 8 MiB ones), so a bulk transfer never trips it.
 */
export const DEFAULT_MAX_WRITE_QUEUE_BYTES = 16 * 1024 * 1024

/**
 * The write side of one connection, budgeted: the bytes we queued for the remote and it has not read
 * (the socket's `writableLength`: the secure stream writes each sealed message to the socket at
 * once) may not pass `max`.
 *
 * Rules:
 * - The figure is read after each write that reports a full buffer (`write` returns false past
 *   256 KiB), so the check costs nothing while the remote keeps up; a write that takes it past `max`
 *   calls `over` once (the connection then closes with 'over-budget' and is destroyed at once: a peer
 *   that does not read would not read the close either). What passes `max` is at most that one write.
 * - It covers whatever made us write: answers to requests, relayed data, keep-alives, an
 *   application's channels.
 */
export function budgetWrites (stream: SecureStream, max: number, over: (queued: number) => void): void {
  const write = stream.write
  let tripped = false
  stream.write = function (this: SecureStream, data: Uint8Array): boolean {
    const ok = write.call(this, data)
    if (!ok && !tripped) {
      const queued = this.socket.writableLength
      if (queued > max) {
        tripped = true
        over(queued)
      }
    }
    return ok
  }
}
