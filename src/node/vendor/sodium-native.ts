import raw from 'sodium-native'

/**
 * The part of sodium-native the node uses, typed here because the module ships no types. Kept
 * private to the package: the emitted declarations name this interface, never the module, so an
 * application's own types for sodium-native are left alone.
 */
export interface Sodium {
  crypto_sign_keypair (pk: Buffer, sk: Buffer): void
  crypto_sign_seed_keypair (pk: Buffer, sk: Buffer, seed: Buffer): void
  crypto_sign_ed25519_sk_to_curve25519 (out: Buffer, sk: Buffer): void
  crypto_sign_ed25519_pk_to_curve25519 (out: Buffer, pk: Buffer): void
  crypto_box_keypair (pk: Buffer, sk: Buffer): void
  crypto_scalarmult (out: Buffer, sk: Buffer, pk: Buffer): void
  crypto_generichash_batch (out: Buffer, batch: Uint8Array[], key?: Uint8Array): void
  crypto_aead_chacha20poly1305_ietf_encrypt (c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number
  crypto_aead_chacha20poly1305_ietf_decrypt (m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number
  crypto_aead_chacha20poly1305_ietf_encrypt_detached (c: Uint8Array, mac: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number
  crypto_aead_chacha20poly1305_ietf_decrypt_detached (m: Uint8Array, nsec: null, c: Uint8Array, mac: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): void
}

const sodium: Sodium = raw
export default sodium
