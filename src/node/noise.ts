import sodium from './vendor/sodium-native.js'
import type { KeyPair } from './identity.js'

/**
 * The Noise handshake of the node's transport: `Noise_XXpsk0_25519ed_ChaChaPoly_BLAKE2b`, following
 * the Noise Protocol Framework (revision 34): HKDF over HMAC-BLAKE2b, ChaChaPoly with the counter
 * nonce, the psk0 modifier. The tests run it against `noise-handshake` (the
 * implementation Hyperswarm ships) in both roles.
 *
 * Rules:
 * - XX: both sides learn and authenticate each other's static key; the static keys are the nodes'
 *   ed25519 identities (the peer id is the hex of the public key).
 * - psk0: the network key (32 bytes, see network-key.ts) is mixed in before the first message, so the
 *   listener already fails to read the dialer's first message when their network keys differ, and
 *   nothing that follows (the hellos in messages 2 and 3) can be read by a node outside the network.
 * - The prologue names the wire protocol version: nodes of different versions never complete a handshake.
 * - DH is X25519. An ed25519 public key is mapped to its X25519 form (libsodium's birational map, as
 *   SSB's secret handshake does) when it is used; our own static secret is converted once per node.
 *   That costs two X25519 operations (~30 µs each here) where DH on the Edwards curve costs ~62 µs each:
 *   a connection's handshake costs both ends ~130 µs less CPU than Noise over ed25519 points
 *   (@hyperswarm/secret-stream's). Ephemeral keys are plain X25519 key pairs.
 * - Our own implementation rather than `noise-handshake` for speed: its HMAC (~3.3 µs, 21 per
 *   handshake per side) allocates and zeroes on every call; this one hashes from fixed scratch buffers.
 * - A message that does not authenticate, is cut short or carries an invalid key makes `recv` throw.
 */
export const PROTOCOL_PROLOGUE = Buffer.from('peerwarden/3')

const PROTOCOL_NAME = 'Noise_XXpsk0_25519ed_ChaChaPoly_BLAKE2b'
const HASHLEN = 64
const BLOCKLEN = 128
const KEYLEN = 32
const TAGLEN = 16

/** The node's static keys for the handshake: its ed25519 identity and the X25519 form of its secret. */
export interface StaticKeys extends KeyPair {
  readonly curveSecret: Buffer
}

export function staticKeys (identity: KeyPair): StaticKeys {
  const curveSecret = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_sk_to_curve25519(curveSecret, identity.secretKey)
  return { publicKey: identity.publicKey, secretKey: identity.secretKey, curveSecret }
}

/** h and ck at the start of every handshake (the protocol name fits in one hash). */
const INITIAL_H = Buffer.alloc(HASHLEN)
INITIAL_H.write(PROTOCOL_NAME, 'latin1')
const PROLOGUE_H = Buffer.alloc(HASHLEN)
sodium.crypto_generichash_batch(PROLOGUE_H, [INITIAL_H, PROTOCOL_PROLOGUE])

/** Our handshake state for one connection (the initiator sends messages 1 and 3, the responder 2). */
export class NoiseHandshake {
  /** The remote's ed25519 public key, once its message with it was read. */
  remotePublicKey: Buffer | null = null
  complete = false
  private readonly h = Buffer.from(PROLOGUE_H)
  private readonly ck = Buffer.from(INITIAL_H)
  private k: Buffer | null = null
  private n = 0
  private readonly e: Buffer = Buffer.alloc(32)
  private readonly eSecret: Buffer = Buffer.alloc(32)
  private re: Buffer | null = null
  private step = 0
  private tx: Buffer | null = null
  private rx: Buffer | null = null
  private hash: Buffer | null = null

  constructor (readonly initiator: boolean, private readonly keys: StaticKeys, psk: Buffer) {
    // psk0: the first token of the first message.
    this.mixKeyAndHash(psk)
  }

  /** Our next message, carrying `payload` (encrypted in every message; the first one's is empty). */
  send (payload: Uint8Array = EMPTY): Buffer {
    const step = this.step++
    if (this.initiator ? step !== 0 && step !== 2 : step !== 1) throw new Error('not our turn to send')
    const parts: Buffer[] = []
    if (step === 0 || step === 1) {
      // -> e (with psk: also MixKey(e)) / <- e, ee, s, es
      sodium.crypto_box_keypair(this.e, this.eSecret)
      this.mixHash(this.e)
      this.mixKey(this.e)
      parts.push(this.e)
      if (step === 1) {
        this.mixKey(x25519(this.eSecret, this.re!)) // ee
        parts.push(this.encryptAndHash(this.keys.publicKey)) // s
        this.mixKey(x25519(this.keys.curveSecret, this.re!)) // es: the responder's static, the initiator's e
      }
    } else {
      // -> s, se
      parts.push(this.encryptAndHash(this.keys.publicKey))
      this.mixKey(x25519(this.keys.curveSecret, this.re!))
    }
    parts.push(this.encryptAndHash(payload))
    if (step === 2) this.split()
    return Buffer.concat(parts)
  }

  /** Reads the remote's next message and returns its payload; throws if it does not authenticate. */
  recv (message: Uint8Array): Buffer {
    const step = this.step++
    if (this.initiator ? step !== 1 : step !== 0 && step !== 2) throw new Error('not our turn to receive')
    const msg = Buffer.from(message.buffer, message.byteOffset, message.byteLength)
    let at = 0
    const take = (n: number): Buffer => {
      if (at + n > msg.byteLength) throw new Error('handshake message too short')
      const part = msg.subarray(at, at + n)
      at += n
      return part
    }
    if (step === 0 || step === 1) {
      this.re = Buffer.from(take(32))
      this.mixHash(this.re)
      this.mixKey(this.re)
      if (step === 1) {
        this.mixKey(x25519(this.eSecret, this.re)) // ee
        this.remotePublicKey = this.decryptAndHash(take(32 + TAGLEN)) // s
        this.mixKey(x25519(this.eSecret, edToCurve(this.remotePublicKey))) // es
      }
    } else {
      this.remotePublicKey = this.decryptAndHash(take(32 + TAGLEN)) // s
      this.mixKey(x25519(this.eSecret, edToCurve(this.remotePublicKey))) // se
    }
    const payload = this.decryptAndHash(msg.subarray(at))
    if (step === 2) this.split()
    return payload
  }

  /** Once complete: our sending key, our receiving key and the handshake hash (both ends share it). */
  result (): { tx: Buffer; rx: Buffer; hash: Buffer } {
    if (!this.complete) throw new Error('the handshake is not complete')
    return { tx: this.tx!, rx: this.rx!, hash: this.hash! }
  }

  private mixHash (data: Uint8Array): void {
    sodium.crypto_generichash_batch(this.h, [this.h, data])
  }

  private mixKey (ikm: Uint8Array): void {
    hkdf(this.ck, ikm, 2)
    this.ck.set(out1)
    this.k = Buffer.from(out2.subarray(0, KEYLEN))
    this.n = 0
  }

  private mixKeyAndHash (ikm: Uint8Array): void {
    hkdf(this.ck, ikm, 3)
    this.ck.set(out1)
    this.mixHash(out2)
    this.k = Buffer.from(out3.subarray(0, KEYLEN))
    this.n = 0
  }

  private encryptAndHash (plain: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(plain.byteLength + TAGLEN)
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plain, this.h, null, this.nonce(), this.k!)
    this.mixHash(out)
    return out
  }

  private decryptAndHash (cipher: Buffer): Buffer {
    if (cipher.byteLength < TAGLEN) throw new Error('handshake message too short')
    const out = Buffer.allocUnsafe(cipher.byteLength - TAGLEN)
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, cipher, this.h, this.nonce(), this.k!)
    this.mixHash(cipher)
    return out
  }

  /** ChaChaPoly's nonce: 32 zero bits, then the 64-bit little-endian counter. */
  private nonce (): Buffer {
    const nonce = Buffer.alloc(12)
    nonce.writeUInt32LE(this.n++, 4)
    return nonce
  }

  private split (): void {
    hkdf(this.ck, EMPTY, 2)
    const k1 = Buffer.from(out1.subarray(0, KEYLEN))
    const k2 = Buffer.from(out2.subarray(0, KEYLEN))
    this.tx = this.initiator ? k1 : k2
    this.rx = this.initiator ? k2 : k1
    this.hash = Buffer.from(this.h)
    this.complete = true
    this.k = null
    this.eSecret.fill(0)
    this.ck.fill(0)
  }
}

const EMPTY = Buffer.alloc(0)

// Scratch buffers of the HKDF (one handshake step runs at a time: JavaScript is single-threaded).
const out1 = Buffer.alloc(HASHLEN)
const out2 = Buffer.alloc(HASHLEN)
const out3 = Buffer.alloc(HASHLEN)
const tempKey = Buffer.alloc(HASHLEN)
const innerPad = Buffer.alloc(BLOCKLEN)
const outerPad = Buffer.alloc(BLOCKLEN)
const ONE = Buffer.from([1])
const TWO = Buffer.from([2])
const THREE = Buffer.from([3])

/** HKDF(ck, ikm) of the Noise specification into out1..out<n> (n = 2 or 3). */
function hkdf (chainingKey: Buffer, ikm: Uint8Array, n: 2 | 3): void {
  hmac(tempKey, chainingKey, [ikm])
  hmac(out1, tempKey, [ONE])
  hmac(out2, tempKey, [out1, TWO])
  if (n === 3) hmac(out3, tempKey, [out2, THREE])
}

/** HMAC-BLAKE2b-512 (RFC 2104; the key is at most one block, as every key here is). */
function hmac (out: Buffer, key: Buffer, data: Uint8Array[]): void {
  for (let i = 0; i < BLOCKLEN; i++) {
    const b = i < key.byteLength ? key[i] : 0
    innerPad[i] = b ^ 0x36
    outerPad[i] = b ^ 0x5c
  }
  sodium.crypto_generichash_batch(out, [innerPad, ...data])
  sodium.crypto_generichash_batch(out, [outerPad, out])
}

/** X25519; libsodium throws on a low-order remote key (an all-zero result). */
export function x25519 (secret: Buffer, remote: Buffer): Buffer {
  const out = Buffer.alloc(32)
  sodium.crypto_scalarmult(out, secret, remote)
  return out
}

/** The X25519 form of an ed25519 public key; libsodium throws on a key that is not a valid point. */
export function edToCurve (publicKey: Buffer): Buffer {
  const out = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(out, publicKey)
  return out
}
