// Minimal types for hyperdht as the idle-connections benchmark drives it (it ships none). Only what
// the benchmark uses.

declare module 'hyperdht' {
  import { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  interface KeyPair { publicKey: Buffer; secretKey: Buffer }
  interface NoiseStream extends Duplex { readonly opened: Promise<boolean>; readonly remotePublicKey: Buffer | null }
  class HyperDHT extends EventEmitter {
    constructor (opts?: { bootstrap?: Array<{ host: string; port: number }>; host?: string; ephemeral?: boolean; firewalled?: boolean; connectionKeepAlive?: number | false })
    static keyPair (seed?: Buffer): KeyPair
    fullyBootstrapped (): Promise<void>
    connect (remotePublicKey: Buffer, opts?: { keyPair?: KeyPair }): NoiseStream
    destroy (opts?: { force?: boolean }): Promise<void>
  }
  export default HyperDHT
  export type { KeyPair, NoiseStream }
}
