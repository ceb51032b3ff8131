// Minimal types for the Holepunch modules the node uses (they ship none).

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
