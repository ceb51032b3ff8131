import { PeerwardenError } from '../errors.js'
import { HEADER } from './frame-reader.js'
import { NoiseHandshake } from './noise.js'
import { FIRST_MESSAGE_BYTES, type SecureStreamOptions } from './secure-stream-options.js'

/** What the handshake phase does to its secure stream (secure-stream.ts). */
export interface HandshakeHost {
  /** Writes one handshake frame (length prefix included) as it is. */
  writeFrame: (frame: Buffer) => void
  /** The handshake failed: the stream ends with `err`. */
  destroy: (err: Error) => void
  /** The listener cannot read the dialer's first message: it refuses (an empty frame), then FIN. */
  refuse: () => void
  /** The remote's identity and hello arrived (before `checkRemote` sees them). */
  identified: (remotePublicKey: Buffer, remotePayload: Buffer) => void
  /** The handshake completed: the transport keys and the handshake hash. */
  complete: (keys: { tx: Buffer; rx: Buffer; hash: Buffer }) => void
}

/** One handshake message framed for the wire: its 4-byte little-endian length, then the message. */
export function handshakeFrame (message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + message.byteLength)
  frame.writeUInt32LE(message.byteLength, 0)
  frame.set(message, HEADER)
  return frame
}

/**
 * The handshake phase of a secure stream: Noise XX with the network's pre-shared key (noise.ts), the
 * hellos as payloads, the listener's refusal (docs/protocol.md).
 *
 * Rules:
 * - The dialer speaks first (`start`); each frame `receive`d is answered or ends the phase through
 *   the host: `complete` once, or `destroy` / `refuse` once; nothing here throws.
 * - An empty frame is the listener's refusal (the dialer's networks differ); the listener itself
 *   refuses a well-formed first message that does not authenticate (another network key) and
 *   destroys on anything else that does not.
 * - The dialer checks the listener's key (`checkRemote`) before it sends its own identity and hello.
 */
export class StreamHandshake {
  private readonly hs: NoiseHandshake
  /** The listener answered the dialer's first message. */
  private sentFirstReply = false

  constructor (
    private readonly isInitiator: boolean,
    private readonly opts: Pick<SecureStreamOptions, 'keys' | 'psk' | 'payload' | 'checkRemote'>,
    private readonly host: HandshakeHost
  ) {
    this.hs = new NoiseHandshake(isInitiator, opts.keys, opts.psk)
  }

  /** The dialer's first message. */
  start (): void {
    if (this.isInitiator) this.host.writeFrame(handshakeFrame(this.hs.send()))
  }

  /** One handshake frame from the remote (owned: it may be kept). */
  receive (frame: Buffer): void {
    const hs = this.hs
    if (frame.byteLength === 0) {
      // Only the listener refuses, and only instead of its first message.
      this.host.destroy(this.isInitiator
        ? new PeerwardenError('ERR_NETWORK_KEY', 'the remote refused the handshake: its network key differs')
        : new PeerwardenError('ERR_HANDSHAKE', 'an empty handshake message'))
      return
    }
    const first = !this.isInitiator && !this.sentFirstReply
    let payload: Buffer
    try {
      payload = hs.recv(frame)
    } catch {
      if (first && frame.byteLength === FIRST_MESSAGE_BYTES) {
        // A well-formed first message we cannot read: another network. Say so, then go.
        this.host.refuse()
        return
      }
      this.host.destroy(new PeerwardenError('ERR_HANDSHAKE', first ? 'not a peerwarden handshake' : 'a handshake message that does not authenticate'))
      return
    }
    if (this.isInitiator) {
      // The listener's message: its identity and hello.
      this.host.identified(hs.remotePublicKey!, payload)
      try {
        this.opts.checkRemote?.(hs.remotePublicKey!)
      } catch (err) {
        this.host.destroy(err as Error)
        return
      }
      if (this.reply()) this.finish()
      return
    }
    if (!this.sentFirstReply) {
      this.sentFirstReply = true
      this.reply()
      return
    }
    this.host.identified(hs.remotePublicKey!, payload)
    this.finish()
  }

  /**
   * Sends our next message; false when it cannot be made. The remote's ephemeral key is used only
   * here for the listener (ee, es): a low-order one (all zeros, or any point of small order) makes
   * X25519's result all zeros, which libsodium refuses by throwing — out of the socket's data
   * handler, that ended the process (one 48-byte message from anyone who can reach the port).
   */
  private reply (): boolean {
    let message: Buffer
    try {
      message = this.hs.send(this.opts.payload())
    } catch {
      this.host.destroy(new PeerwardenError('ERR_HANDSHAKE', 'a handshake key of low order'))
      return false
    }
    this.host.writeFrame(handshakeFrame(message))
    return true
  }

  private finish (): void {
    if (!this.hs.complete) { this.host.destroy(new PeerwardenError('ERR_HANDSHAKE', 'the handshake did not complete')); return }
    this.host.complete(this.hs.result())
  }
}
