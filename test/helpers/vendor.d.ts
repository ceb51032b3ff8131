// Types for noise-handshake, the reference the Noise tests compare the node's implementation with.

declare module 'noise-handshake' {
  class NoiseState {
    constructor (pattern: string, initiator: boolean, staticKeypair: unknown, opts?: { curve?: unknown; psk?: Uint8Array })
  }
  export default NoiseState
}

// Corestore 7: the tests type what they use at the call site.
declare module 'corestore' {
  const Corestore: unknown
  export default Corestore
}
