// Minimal types for the Holepunch modules the node uses (they ship none).

declare module 'sodium-native' {
  const sodium: {
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
  export default sodium
}

declare module 'protomux' {
  interface Message<T> { send (value: T): boolean }
  interface Channel {
    readonly opened: boolean
    readonly closed: boolean
    open (handshake?: unknown): void
    close (): void
    cork (): void
    uncork (): void
    addMessage<T> (opts: { encoding: unknown; onmessage?: (value: T) => void | Promise<void> }): Message<T>
  }
  class Protomux {
    /** Nested corks in force: while above 0, messages collect in one batch, sent by the last uncork. */
    readonly corked: number
    constructor (stream: unknown)
    static from (stream: unknown): Protomux
    createChannel (opts: {
      protocol: string
      id?: Buffer
      handshake?: unknown
      unique?: boolean
      onopen?: (handshake: any) => void | Promise<void>
      onclose?: () => void | Promise<void>
      ondestroy?: () => void | Promise<void>
    }): Channel | null
    pair (opts: { protocol: string; id?: Buffer }, cb: (id: Buffer | null) => void): void
    unpair (opts: { protocol: string; id?: Buffer }): void
    cork (): void
    uncork (): void
    destroy (err?: Error): void
  }
  export default Protomux
  export type { Channel, Message }
}

declare module 'compact-encoding' {
  const c: { json: unknown; string: unknown; binary: unknown; uint: unknown; buffer: unknown; raw: unknown; any: unknown }
  export default c
}
