import raw from 'protomux'

/**
 * The part of protomux the node and the mesh use, typed here because the module ships no types.
 * Private to the package, like the other wrappers in this folder: declarations that mention a mux,
 * a channel or a message name these interfaces, never the module.
 */
export interface Message<T> { send (value: T): boolean }

export interface Channel {
  readonly opened: boolean
  readonly closed: boolean
  open (handshake?: unknown): void
  close (): void
  cork (): void
  uncork (): void
  addMessage<T> (opts: { encoding: unknown; onmessage?: (value: T) => void | Promise<void> }): Message<T>
}

export interface ChannelOptions {
  protocol: string
  id?: Buffer
  handshake?: unknown
  unique?: boolean
  onopen?: (handshake: unknown) => void | Promise<void>
  onclose?: () => void | Promise<void>
  ondestroy?: () => void | Promise<void>
}

export interface Protomux {
  /** Nested corks in force: while above 0, messages collect in one batch, sent by the last uncork. */
  readonly corked: number
  createChannel (opts: ChannelOptions): Channel | null
  pair (opts: { protocol: string; id?: Buffer }, cb: (id: Buffer | null) => void): void
  unpair (opts: { protocol: string; id?: Buffer }): void
  cork (): void
  uncork (): void
  destroy (err?: Error): void
}

export interface ProtomuxClass {
  new (stream: unknown): Protomux
  from (stream: unknown): Protomux
}

// The class and its instances share the name, as in the module itself (a value and a type).
export const Protomux: ProtomuxClass = raw
export default Protomux
