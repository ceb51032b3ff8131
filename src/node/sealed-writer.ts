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

/**
 * The write side of a secure stream (secure-stream.ts): seals each message into one frame and writes
 * it to the socket at once (no queue of its own; the socket's backpressure is returned).
 *
 * Rules:
 * - `alloc(n)` hands out a buffer that the next `seal` encrypts in place (Protomux uses it: one
 *   allocation and no copy per message); any other message is copied into a fresh frame.
 * - Messages of `BIG_MESSAGE` bytes or more are sealed by OpenSSL into a fresh buffer instead (same
 *   cipher, same bytes on the wire): header, ciphertext and tag leave in one corked write.
 * - The stream checks the message (its size, the stream's state) before; nothing here throws.
 * - `lastWrite` (a ms timestamp from the clock) moves with every frame written.
 */
export class SealedWriter {
  lastWrite: number
  private allocated: Buffer | null = null
  private allocatedPlain: Uint8Array | null = null

  constructor (private readonly socket: net.Socket, private readonly clock: Clock) {
    this.lastWrite = clock.now()
  }

  /** A buffer of `length` bytes that `seal` encrypts in place. */
  alloc (length: number): Uint8Array {
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

  /** Writes a frame as it is (a handshake message, a refusal). */
  raw (frame: Buffer): boolean {
    this.lastWrite = this.clock.now()
    this.socket.write(frame)
    return this.socket.writableLength < WRITE_HIGH
  }

  /** An empty message (a keep-alive): the length and the tag, sealed in one call with no view of the message made. */
  private sealEmpty (cipher: TransportCipher): boolean {
    this.allocated = null
    this.allocatedPlain = null
    const frame = Buffer.allocUnsafe(HEADER + TAG)
    frame.writeUInt32LE(TAG, 0)
    cipher.sealEmpty(frame.subarray(HEADER))
    return this.raw(frame)
  }

  /** One big message sealed by node:crypto into a fresh buffer: header, ciphertext and tag leave in one writev. */
  private sealBig (cipher: TransportCipher, data: Uint8Array): boolean {
    this.allocated = null
    this.allocatedPlain = null
    const [sealed, tag] = cipher.sealBig(data)
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
