import type net from 'node:net'
import type { Clock } from '../manager/types.js'
import { HEADER } from './frame-reader.js'
import { TAG, TransportCipher } from './transport-cipher.js'

/**
 * `write` reports a full buffer (false) only past this many bytes waiting in the socket: a bulk sender
 * keeps a few messages in flight instead of waiting for the socket to empty after each one (the
 * socket's own mark, 16 KiB, is below one 64 KiB message).
 */
const WRITE_HIGH = 256 * 1024
/** The largest big message encoded in the shared scratch buffer (see `SealedWriter`'s rules). */
export const SCRATCH_BYTES = 256 * 1024

/**
 * The process-wide scratch buffer big messages are encoded in (made at first use), and the view of it
 * handed out and not sealed yet (null: free).
 */
let scratch: Buffer | null = null
let lent: Uint8Array | null = null

/** A view of `length` bytes of the scratch buffer; one lent and not sealed yet is given away for good first. */
function lendScratch (length: number): Uint8Array {
  // Protomux may encode into several buffers before it writes one (a corked batch): what was lent
  // keeps the old buffer, and the next message gets a new one.
  if (lent !== null) scratch = null
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
  lent = scratch.subarray(0, length)
  return lent
}

/** A keep-alive frame: its length prefix (always `TAG`) and a view of its tag. */
interface KeepAliveFrame { readonly bytes: Buffer; readonly tag: Buffer }

/**
 * The keep-alive frame every connection of the process seals its keep-alives into (null: the last one
 * is still held by a socket that could not send it at once). A keep-alive is 20 bytes, written when a
 * connection has nothing else to send, so the kernel almost always takes it during the write; idle
 * connections then send their keep-alives without allocating (at 5,000 idle connections, 555 a second).
 * This relies on a socket done with a chunk once its write completed: TCP's copies it into the
 * kernel, the relay circuit's (circuit.ts) into the relay's own sealed message.
 */
let keepAliveFrame: KeepAliveFrame | null = null

function newKeepAliveFrame (): KeepAliveFrame {
  const bytes = Buffer.allocUnsafeSlow(HEADER + TAG)
  bytes.writeUInt32LE(TAG, 0)
  return { bytes, tag: bytes.subarray(HEADER) }
}

/**
 * The write side of a secure stream (secure-stream.ts): seals each message into one frame and writes
 * it to the socket at once (no queue of its own; the socket's backpressure is returned).
 *
 * Rules:
 * - `alloc(n)` hands out a buffer that the next `seal` encrypts in place (Protomux uses it: one
 *   allocation and no copy per message); any other message is copied into a fresh frame.
 * - Messages of `BIG_MESSAGE` bytes or more are sealed by OpenSSL into a fresh buffer instead (same
 *   cipher, same bytes on the wire): header, ciphertext and tag leave in one corked write. `alloc`
 *   hands those (up to `SCRATCH_BYTES`) a view of one process-wide scratch buffer, since sealing
 *   copies them out anyway: a bulk sender encoded every 64 KiB message into a fresh buffer and threw
 *   it away. The scratch is lent to one message at a time, until it is sealed; an `alloc` while it is
 *   lent (a batch encoded before it is written) leaves the lent view its memory and makes a new
 *   scratch, so no message is ever overwritten by the next.
 * - The stream checks the message (its size, the stream's state) before; nothing here throws.
 * - A keep-alive (an empty message) is sealed into one process-wide frame, reused once a socket took
 *   it whole during its write (`writableLength` 0 after it); one still held by a socket is left to it.
 * - `lastWrite` (a ms timestamp from the clock) moves with every frame written.
 */
export class SealedWriter {
  /** When a frame was last written (ms); a number from the start, see secure-stream.ts `lastRead`. */
  lastWrite = 0
  private allocated: Buffer | null = null
  private allocatedPlain: Uint8Array | null = null

  constructor (private readonly socket: net.Socket, private readonly clock: Clock) {
    this.lastWrite = clock.now()
  }

  /** A buffer of `length` bytes that `seal` encrypts in place (or, for a big message, seals from). */
  alloc (length: number): Uint8Array {
    if (TransportCipher.isBig(length) && length <= SCRATCH_BYTES) {
      this.allocated = null
      this.allocatedPlain = null
      return lendScratch(length)
    }
    const frame = Buffer.allocUnsafe(HEADER + length + TAG)
    this.allocated = frame
    this.allocatedPlain = frame.subarray(HEADER, HEADER + length)
    return this.allocatedPlain
  }

  /** Encrypts and sends one message; false when the socket's buffer is full (wait for 'drain'). */
  seal (cipher: TransportCipher, data: Uint8Array): boolean {
    const length = data.byteLength
    if (TransportCipher.isBig(length)) return this.sealBig(cipher, data)
    if (length === 0) return this.sealEmpty(cipher)
    let frame: Buffer
    if (data === this.allocatedPlain) {
      frame = this.allocated!
    } else {
      frame = Buffer.allocUnsafe(HEADER + length + TAG)
      frame.set(data, HEADER)
    }
    this.allocated = null
    this.allocatedPlain = null
    frame.writeUInt32LE(length + TAG, 0)
    cipher.sealInPlace(frame, HEADER, length)
    return this.raw(frame)
  }

  /** A message that will not be sealed (the stream ended first): the scratch view it may hold is free again. */
  drop (data: Uint8Array): void {
    if (data === lent) lent = null
  }

  /** Writes a frame as it is (a handshake message, a refusal). */
  raw (frame: Buffer): boolean {
    this.lastWrite = this.clock.now()
    this.socket.write(frame)
    return this.socket.writableLength < WRITE_HIGH
  }

  /**
   * An empty message (a keep-alive): the length and the tag, sealed in one call into the process-wide
   * keep-alive frame (see `keepAliveFrame`), so a keep-alive allocates nothing.
   */
  private sealEmpty (cipher: TransportCipher): boolean {
    this.allocated = null
    this.allocatedPlain = null
    const frame = keepAliveFrame ?? newKeepAliveFrame()
    cipher.sealEmpty(frame.tag)
    const socket = this.socket
    this.lastWrite = this.clock.now()
    socket.write(frame.bytes)
    // Nothing waits in the socket: the kernel took the frame during the write, and the next keep-alive
    // (of any connection) may seal into it. Otherwise the write holds it until sent: a new one next time.
    const waiting = socket.writableLength
    keepAliveFrame = waiting === 0 ? frame : null
    return waiting < WRITE_HIGH
  }

  /** One big message sealed by node:crypto into a fresh buffer: header, ciphertext and tag leave in one writev. */
  private sealBig (cipher: TransportCipher, data: Uint8Array): boolean {
    this.allocated = null
    this.allocatedPlain = null
    const [sealed, tag] = cipher.sealBig(data)
    if (data === lent) lent = null
    const header = Buffer.allocUnsafe(HEADER)
    header.writeUInt32LE(data.byteLength + TAG, 0)
    this.lastWrite = this.clock.now()
    const socket = this.socket
    socket.cork()
    socket.write(header)
    socket.write(sealed)
    socket.write(tag)
    socket.uncork()
    return socket.writableLength < WRITE_HIGH
  }
}
