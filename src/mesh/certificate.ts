import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import { PeerwardenError } from '../errors.js'

/** What the registry vouches for: this peer id holds this role (and variant) until `expires`. */
export interface Certificate {
  role: string
  variant: string
  /** The holder's peer id (hex of its Noise public key). */
  peer: string
  /** The registry's peer id, whose key signed this. */
  registry: string
  /** ms since epoch. */
  expires: number
  /** ed25519 signature (hex) over the other fields. */
  sig: string
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')

function payload (c: Omit<Certificate, 'sig'>): Buffer {
  return Buffer.from(JSON.stringify(['peerwarden/mesh-cert/1', c.role, c.variant, c.peer, c.registry, c.expires]))
}

/** Signs a certificate with the registry's ed25519 secret key (libsodium layout: seed ‖ public key). */
export function issue (secretKey: Uint8Array, c: Omit<Certificate, 'sig'>): Certificate {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.from(secretKey).subarray(0, 32)]), format: 'der', type: 'pkcs8' })
  return { ...c, sig: sign(null, payload(c), key).toString('hex') }
}

/**
 * Checks a certificate: well formed, signed by the key of `registry` (or of one of a set of trusted
 * registries: each registry of a mesh signs with its own key), issued to `peer`, not expired.
 * Throws `PeerwardenError('ERR_CERTIFICATE')` saying what is wrong.
 */
export function check (c: unknown, expect: { registry: string | ReadonlySet<string>; peer: string; now: number }): Certificate {
  const cert = c as Certificate
  if (cert == null || typeof cert !== 'object' || typeof cert.role !== 'string' || typeof cert.variant !== 'string' ||
    typeof cert.peer !== 'string' || typeof cert.registry !== 'string' || typeof cert.expires !== 'number' || typeof cert.sig !== 'string') {
    throw new PeerwardenError('ERR_CERTIFICATE', 'malformed certificate')
  }
  const trusted = typeof expect.registry === 'string' ? cert.registry === expect.registry : expect.registry.has(cert.registry)
  if (!trusted) throw new PeerwardenError('ERR_CERTIFICATE', 'certificate issued by another registry')
  if (cert.peer !== expect.peer) throw new PeerwardenError('ERR_CERTIFICATE', `certificate issued to another peer (${cert.peer.slice(0, 12)}…)`)
  if (cert.expires <= expect.now) throw new PeerwardenError('ERR_CERTIFICATE', `certificate expired at ${new Date(cert.expires).toISOString()}`)
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(cert.registry, 'hex')]), format: 'der', type: 'spki' })
  let ok = false
  try { ok = verify(null, payload(cert), key, Buffer.from(cert.sig, 'hex')) } catch { ok = false }
  if (!ok) throw new PeerwardenError('ERR_CERTIFICATE', 'certificate signature is not the registry\'s')
  return cert
}
