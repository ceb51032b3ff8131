import { createCipheriv, createDecipheriv, createSecretKey, getCiphers, type KeyObject } from 'node:crypto'
import sodium from './vendor/sodium-native.js'
import { PeerwardenError } from '../errors.js'

/** Bytes of the Poly1305 tag that ends every encrypted frame. */
export const TAG = 16
/**
 * Messages of at least this many bytes are sealed and opened with node:crypto (OpenSSL) instead of
 * libsodium: the same cipher and the same bytes on the wire, but OpenSSL's vectorized ChaCha20-Poly1305
 * is about twice as fast per byte here (64 KiB: ~19 µs against ~38 µs), while its per-message set-up
 * (~2 µs) makes it the slower one below ~12 KiB.
 */
export const BIG_MESSAGE = 16 * 1024
/** Where node:crypto lacks the cipher (a FIPS-only OpenSSL), libsodium seals every message. */
const OPENSSL_CHACHA = getCiphers().includes('chacha20-poly1305')
const BIG = OPENSSL_CHACHA ? BIG_MESSAGE : Infinity

/**
 * Noise's transport phase for one connection: ChaCha20-Poly1305 (IETF), a key per direction from the
 * handshake, the nonce a 64-bit counter per direction (32 zero bits, then the counter, little endian).
 *
 * Rules:
 * - Every message sealed takes the next send nonce and every frame opened the next receive nonce, so
 *   frames must be opened in the order they were sealed; a nonce is never reused.
 * - Messages under `BIG_MESSAGE` bytes go through libsodium (its fixed cost per call is the lower),
 *   bigger ones through OpenSSL (its cost per byte is); the bytes on the wire are the same.
 * - `open` throws `ERR_PROTOCOL` for a frame shorter than its tag or one that does not authenticate,
 *   and hands out nothing of it.
 */
export class TransportCipher {
  private readonly txNonce = Buffer.alloc(12)
  private readonly rxNonce = Buffer.alloc(12)
  private txCount = 0
  private rxCount = 0
  /**
   * The same keys for node:crypto (big messages), made at the first big message: a key object is a
   * native handle, and most connections (idle ones, control traffic) never carry a big message.
   */
  private txKey: KeyObject | null = null
  private rxKey: KeyObject | null = null

  constructor (private readonly tx: Buffer, private readonly rx: Buffer) {}

  /** True when a message of `length` bytes is sealed by `sealBig` rather than in place. */
  static isBig (length: number): boolean { return length >= BIG }

  /** Seals `frame[start, start + length)` in place and writes the tag right after it. */
  sealInPlace (frame: Buffer, start: number, length: number): void {
    const plain = frame.subarray(start, start + length)
    nonce(this.txNonce, this.txCount++)
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(plain, frame.subarray(start + length, start + length + TAG), plain, null, null, this.txNonce, this.tx)
  }

  /** Seals an empty message (a keep-alive): `tag` (`TAG` bytes) receives its tag, the whole ciphertext. */
  sealEmpty (tag: Uint8Array): void {
    nonce(this.txNonce, this.txCount++)
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(tag, EMPTY, null, null, this.txNonce, this.tx)
  }

  /**
   * Opens a frame of `TAG` bytes, an empty message (a keep-alive): one call, no view made. Throws
   * `ERR_PROTOCOL` unless it authenticates.
   */
  openEmpty (frame: Uint8Array): void {
    nonce(this.rxNonce, this.rxCount++)
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(EMPTY, null, frame, null, this.rxNonce, this.rx)
    } catch {
      throw new PeerwardenError('ERR_PROTOCOL', 'a frame that does not authenticate')
    }
  }

  /** Seals a big message with OpenSSL into fresh buffers: the ciphertext and its tag. */
  sealBig (data: Uint8Array): [Buffer, Buffer] {
    nonce(this.txNonce, this.txCount++)
    const cipher = createCipheriv('chacha20-poly1305', this.txKey ??= createSecretKey(this.tx), this.txNonce, { authTagLength: TAG })
    const sealed = cipher.update(data)
    cipher.final()
    return [sealed, cipher.getAuthTag()]
  }

  /** Opens a frame (ciphertext then tag): small ones in place, big ones into a fresh buffer. */
  open (frame: Buffer): Buffer {
    if (frame.byteLength < TAG) throw new PeerwardenError('ERR_PROTOCOL', 'a frame shorter than its tag')
    const plain = frame.subarray(0, frame.byteLength - TAG)
    nonce(this.rxNonce, this.rxCount++)
    try {
      if (plain.byteLength < BIG) {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(plain, null, plain, frame.subarray(plain.byteLength), null, this.rxNonce, this.rx)
        return plain
      }
      const decipher = createDecipheriv('chacha20-poly1305', this.rxKey ??= createSecretKey(this.rx), this.rxNonce, { authTagLength: TAG })
      decipher.setAuthTag(frame.subarray(plain.byteLength))
      const opened = decipher.update(plain)
      decipher.final() // throws unless the tag authenticates: `opened` is dropped then
      return opened
    } catch {
      throw new PeerwardenError('ERR_PROTOCOL', 'a frame that does not authenticate')
    }
  }
}

const EMPTY = new Uint8Array(0)

/** Noise's transport nonce: 32 zero bits, then the 64-bit little-endian counter. */
function nonce (out: Buffer, n: number): void {
  out.writeUInt32LE(n >>> 0, 4)
  out.writeUInt32LE(Math.floor(n / 0x100000000), 8)
}
