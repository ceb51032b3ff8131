import Noise from 'noise-handshake'
import sodium from 'sodium-native'
import type { KeyPair } from './identity.js'

/**
 * The Noise handshake of the node's transport: `Noise_XXpsk0_25519ed_ChaChaPoly_BLAKE2b`.
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
 * - The handshake payloads are at most 65,535 bytes (Noise's limit); a malformed or forged message
 *   makes `recv` throw.
 */
export const PROTOCOL_PROLOGUE = Buffer.from('peerwarden/3')

/** The node's static keys for the handshake: its ed25519 identity and the X25519 form of its secret. */
export interface StaticKeys extends KeyPair {
  readonly curveSecret: Buffer
}

export function staticKeys (identity: KeyPair): StaticKeys {
  const curveSecret = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_sk_to_curve25519(curveSecret, identity.secretKey)
  return { publicKey: identity.publicKey, secretKey: identity.secretKey, curveSecret }
}

interface LocalKey { publicKey: Buffer; curveSecret: Buffer }

/** Our handshake state for one connection (a thin layer over `noise-handshake`). */
export class NoiseHandshake {
  private readonly noise: NoiseState
  /** The remote's ed25519 public key, once its message with it was read. */
  remotePublicKey: Buffer | null = null

  constructor (readonly initiator: boolean, keys: StaticKeys, psk: Buffer) {
    const curve = {
      ALG: '25519ed',
      PKLEN: 32,
      DHLEN: 32,
      SCALARLEN: 32,
      SKLEN: 32,
      generateKeyPair: ephemeralKeyPair,
      // noise-handshake hands us the remote key it holds: the static one is `rs` (an ed25519 key).
      dh: (remote: Buffer, local: LocalKey): Buffer => x25519(local.curveSecret, remote === this.noise.rs ? edToCurve(remote) : remote)
    }
    this.noise = new Noise('XXpsk0', initiator, keys, { curve, psk }) as NoiseState
    this.noise.initialise(PROTOCOL_PROLOGUE)
  }

  /** Our next message, carrying `payload` (encrypted but for the first message's, which is empty). */
  send (payload?: Uint8Array): Buffer {
    return this.noise.send(payload)
  }

  /** Reads the remote's next message and returns its payload; throws if it does not authenticate. */
  recv (message: Uint8Array): Buffer {
    const payload = this.noise.recv(message)
    if (this.noise.rs !== null) this.remotePublicKey = Buffer.from(this.noise.rs)
    return payload
  }

  get complete (): boolean { return this.noise.complete }

  /** Once complete: our sending key, our receiving key and the handshake hash (both ends share it). */
  result (): { tx: Buffer; rx: Buffer; hash: Buffer } {
    const { tx, rx, hash } = this.noise
    return { tx: Buffer.from(tx!.subarray(0, 32)), rx: Buffer.from(rx!.subarray(0, 32)), hash: Buffer.from(hash!) }
  }
}

interface NoiseState {
  rs: Buffer | null
  complete: boolean
  tx: Uint8Array | null
  rx: Uint8Array | null
  hash: Uint8Array | null
  initialise (prologue: Uint8Array, remoteStatic?: Uint8Array): void
  send (payload?: Uint8Array): Buffer
  recv (message: Uint8Array): Buffer
}

function ephemeralKeyPair (): LocalKey & { secretKey: Buffer } {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(32)
  sodium.crypto_box_keypair(publicKey, secretKey)
  // noise-handshake wipes `secretKey` when the handshake completes; it is the same buffer.
  return { publicKey, secretKey, curveSecret: secretKey }
}

/** X25519; libsodium throws on a low-order remote key (an all-zero result). */
function x25519 (secret: Buffer, remote: Buffer): Buffer {
  const out = Buffer.alloc(32)
  sodium.crypto_scalarmult(out, secret, remote)
  return out
}

/** The X25519 form of an ed25519 public key; libsodium throws on a key that is not a valid point. */
function edToCurve (publicKey: Buffer): Buffer {
  const out = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(out, publicKey)
  return out
}
