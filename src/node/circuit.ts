import { Duplex } from 'node:stream'
import { PeerwardenError } from '../errors.js'
import type { NodeConnection } from './connection.js'
import { MAX_RELAY_DATA } from './relay-wire.js'

/**
 * Bytes a circuit's end holds unread (its reader paused it) before it is destroyed: pausing it does
 * not slow the relay down as pausing a socket slows TCP, so what arrives meanwhile is bounded here.
 */
export const MAX_CIRCUIT_UNREAD = 1024 * 1024

/** What a circuit's end sends through its relay channel. */
export interface CircuitSink {
  /** Sends bytes; false when the channel is gone. */
  data(bytes: Uint8Array): boolean
  /** Tells the other side the circuit ends (once). */
  close(why: string): void
}

/**
 * One end of a relayed circuit, as the transport sees a socket: a duplex of bytes that travel as
 * data messages through a relay's channel. The secure stream (Noise) runs over it end to end, so the
 * relay forwards ciphertext only.
 *
 * Rules:
 * - Writes are cut into data messages of at most `MAX_RELAY_DATA` bytes.
 * - Bytes that arrive while its reader is paused are held up to `MAX_CIRCUIT_UNREAD`; past them the
 *   stream is destroyed (the relay cannot be asked to wait).
 * - Ending or destroying either way tells the other side once ('close'); a 'close' from the other
 *   side ends the readable side and destroys the stream.
 * - It has no address of its own: `remoteAddress` is undefined (no observation, no dial-back, no
 *   per-IP budget is taken from a circuit).
 */
export class CircuitStream extends Duplex {
  readonly remoteAddress: string | undefined = undefined
  readonly remotePort: number | undefined = undefined
  /** Where the relay saw the other end's connection come from (its 'incoming' said so; undefined: not told). */
  relayObserved: string | undefined = undefined
  private told = false

  /** `via`: the connection to the relay the circuit runs through. */
  constructor (private readonly sink: CircuitSink, readonly via?: NodeConnection) {
    super({ allowHalfOpen: false })
  }

  setNoDelay (): this { return this }

  /** Bytes from the relay. */
  received (bytes: Uint8Array): void {
    if (this.destroyed) return
    if (this.readableLength + bytes.byteLength > MAX_CIRCUIT_UNREAD) {
      this.destroy(new PeerwardenError('ERR_PROTOCOL', `over ${MAX_CIRCUIT_UNREAD} bytes of a relayed circuit unread`))
      return
    }
    this.push(bytes)
  }

  /** The other side (or the relay) closed the circuit. */
  remoteClosed (): void {
    this.told = true
    if (this.destroyed) return
    this.push(null)
    this.destroy()
  }

  override _read (): void {}

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    for (let at = 0; at < chunk.byteLength; at += MAX_RELAY_DATA) {
      if (!this.sink.data(chunk.subarray(at, at + MAX_RELAY_DATA))) { callback(new Error('the relay connection is gone')); return }
    }
    callback()
  }

  override _final (callback: (err?: Error | null) => void): void {
    this.tell('end')
    // Nothing more comes once the other side heard the close: the stream ends both ways.
    this.push(null)
    callback()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.tell(err === null ? 'end' : 'error')
    callback(err)
  }

  private tell (why: string): void {
    if (this.told) return
    this.told = true
    this.sink.close(why)
  }
}
