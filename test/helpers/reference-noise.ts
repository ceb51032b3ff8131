import Noise from 'noise-handshake'
import sodium from 'sodium-native'
import { edToCurve, PROTOCOL_PROLOGUE, x25519, type StaticKeys } from '../../src/node/noise.js'

/**
 * A reference for the node's own Noise implementation (src/node/noise.ts): the same handshake,
 * `Noise_XXpsk0_25519ed_ChaChaPoly_BLAKE2b`, driven through `noise-handshake` (the implementation
 * Hyperswarm ships) with X25519 DH on ed25519 identities. The tests run handshakes between the two in
 * both roles: they agree only if ours follows the Noise specification byte for byte.
 */
interface LocalKey { publicKey: Buffer; curveSecret: Buffer }

/** Our handshake state for one connection (a thin layer over `noise-handshake`). */
export class ReferenceHandshake {
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
