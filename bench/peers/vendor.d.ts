// Minimal types for the Holepunch modules the peer benchmarks drive (they ship none). Only what the
// benchmarks use. 'protomux' and 'compact-encoding' are typed in src/node/vendor/untyped.d.ts.

declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream'
  interface KeyPair { publicKey: Buffer; secretKey: Buffer }
  class NoiseSecretStream extends Duplex {
    constructor (isInitiator: boolean, rawStream?: unknown, opts?: { keyPair?: KeyPair; remotePublicKey?: Buffer; keepAlive?: number })
    static keyPair (seed?: Buffer): KeyPair
    readonly isInitiator: boolean
    readonly publicKey: Buffer
    readonly remotePublicKey: Buffer | null
    readonly handshakeHash: Buffer | null
    readonly rawStream: import('node:net').Socket
    readonly rawBytesRead: number
    readonly rawBytesWritten: number
    readonly opened: Promise<boolean>
    userData: unknown
    setTimeout (ms: number): void
    setKeepAlive (ms: number): void
  }
  export default NoiseSecretStream
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  interface PeerDiscoverySession {
    flushed (): Promise<void>
    refresh (opts?: { client?: boolean; server?: boolean }): Promise<void>
    destroy (): Promise<void>
  }
  class Hyperswarm extends EventEmitter {
    constructor (opts?: { dht?: unknown; maxPeers?: number; keyPair?: unknown })
    readonly connections: Set<Duplex>
    readonly dht: { fullyBootstrapped (): Promise<void> }
    join (topic: Buffer, opts?: { server?: boolean; client?: boolean }): PeerDiscoverySession
    flush (): Promise<boolean>
    destroy (opts?: { force?: boolean }): Promise<void>
    on (event: 'connection', listener: (conn: Duplex, info: unknown) => void): this
    on (event: string, listener: (...args: any[]) => void): this
  }
  export default Hyperswarm
}

declare module '@hyperswarm/testnet' {
  interface HyperDHTNode { fullyBootstrapped (): Promise<void>; destroy (opts?: { force?: boolean }): Promise<void> }
  interface Testnet {
    readonly nodes: HyperDHTNode[]
    readonly bootstrap: Array<{ host: string; port: number }>
    /** An ephemeral DHT node bootstrapped on the testnet and bound to 127.0.0.1. */
    createNode (opts?: Record<string, unknown>): HyperDHTNode
    destroy (): Promise<void>
  }
  function createTestnet (size?: number, opts?: { host?: string; port?: number }): Promise<Testnet>
  export default createTestnet
  export type { Testnet, HyperDHTNode }
}
