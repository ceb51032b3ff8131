import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import sodium from './vendor/sodium-native.js'
import { PeerwardenError } from '../errors.js'

/** An ed25519 key pair; the peer id is the lowercase hex of the public key. */
export interface KeyPair { publicKey: Buffer; secretKey: Buffer }

export const KEY_FILE = 'identity.json'

/**
 * The node's identity.
 *
 * Rules:
 * - With `seed` (32 bytes, or a string hashed with SHA-256 to 32 bytes) the key pair is derived from it.
 * - Else with `dataDir`, the key pair is read from `<dataDir>/identity.json`, or generated once and
 *   written there with file mode 0600 (written to a temporary file and renamed, so a crash never
 *   leaves half a key).
 * - Else a fresh key pair lives in memory only.
 */
export function loadIdentity (opts: { seed?: Uint8Array | string; dataDir?: string }): KeyPair {
  if (opts.seed !== undefined) return keyPair(seedBytes(opts.seed))
  if (opts.dataDir === undefined) return keyPair()
  const file = join(opts.dataDir, KEY_FILE)
  if (existsSync(file)) {
    let data: unknown
    try {
      data = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new PeerwardenError('ERR_IDENTITY', `cannot read the key pair in ${file}: ${(err as Error).message}`, { cause: err })
    }
    return storedKeyPair(data, file)
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 })
  const kp = keyPair()
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ publicKey: kp.publicKey.toString('hex'), secretKey: kp.secretKey.toString('hex') }), { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
  return kp
}

/**
 * The key pair of a parsed identity file.
 *
 * Rules:
 * - `publicKey` is 64 hex characters and `secretKey` 128 (libsodium's ed25519 secret key: the seed,
 *   then the public key); anything else fails with `ERR_IDENTITY` naming the field.
 * - The public key must be the secret key's: a file whose halves disagree (edited by hand, or two
 *   files mixed) would sign with one identity and announce another.
 */
function storedKeyPair (data: unknown, file: string): KeyPair {
  const field = (name: 'publicKey' | 'secretKey', chars: number): Buffer => {
    const value = data != null && typeof data === 'object' ? (data as Record<string, unknown>)[name] : undefined
    if (typeof value !== 'string' || value.length !== chars || !/^[0-9a-f]*$/i.test(value)) {
      const got = typeof value === 'string' ? `${value.length} characters` : value === null ? 'null' : typeof value
      throw new PeerwardenError('ERR_IDENTITY', `cannot read the key pair in ${file}: ${name} must be ${chars} hex characters, got ${got}`)
    }
    return Buffer.from(value, 'hex')
  }
  const kp = { publicKey: field('publicKey', 64), secretKey: field('secretKey', 128) }
  const derived = keyPair(kp.secretKey.subarray(0, 32))
  if (!derived.publicKey.equals(kp.publicKey) || !derived.secretKey.equals(kp.secretKey)) {
    throw new PeerwardenError('ERR_IDENTITY', `cannot read the key pair in ${file}: publicKey is not the public key of secretKey`)
  }
  return kp
}

/** A fresh ed25519 key pair, or the one of a 32-byte seed. */
function keyPair (seed?: Buffer): KeyPair {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(64)
  if (seed === undefined) sodium.crypto_sign_keypair(publicKey, secretKey)
  else sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  return { publicKey, secretKey }
}

function seedBytes (seed: Uint8Array | string): Buffer {
  if (typeof seed === 'string') {
    if (seed.length === 0) throw PeerwardenError.invalid('seed must not be empty')
    return /^[0-9a-f]{64}$/i.test(seed) ? Buffer.from(seed, 'hex') : createHash('sha256').update(seed).digest()
  }
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw PeerwardenError.invalid('seed must be 32 bytes (or a string)')
  return Buffer.from(seed)
}

export function peerIdOf (publicKey: Uint8Array): string {
  return Buffer.from(publicKey).toString('hex')
}
