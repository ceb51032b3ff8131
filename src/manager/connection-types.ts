/** A peer's id, as its transport spells it (the node's: the 64-hex public key). Compared as a string. */
export type PeerId = string

/** A peer's standing. Trimming takes `low` before `medium` before `high`; `banned` peers are never connected. */
export type Priority = 'high' | 'medium' | 'low' | 'banned'
/** The priorities by name: `Priority.BANNED` is `'banned'`. */
export const Priority = { HIGH: 'high', MEDIUM: 'medium', LOW: 'low', BANNED: 'banned' } as const

/** What a transport hands the manager: one live connection. */
export interface Connection {
  /** Unique per connection. */
  readonly id: string
  /** The remote peer (known once the handshake is done). */
  readonly peer: PeerId
  readonly direction: 'inbound' | 'outbound'
  /** Remote address, e.g. 'tcp://127.0.0.1:4001', '/ip4/127.0.0.1/tcp/4001' or '127.0.0.1'. */
  readonly address?: string
  /** Open streams right now; 0 = idle. Read when ranking; `undefined` counts as idle. */
  readonly streams?: number
  /**
   * A connection with limits of its own (relayed: a duration and a byte budget). A connection that
   * is not limited always wins the duplicate rule against one that is.
   */
  readonly limited?: boolean
  /** Closes the connection; the manager passes one of {@link CloseReason}. */
  close(reason?: string): void | Promise<void>
}

/** Reason codes the manager gives to `Connection.close(reason)`. */
export type CloseReason = 'trimmed' | 'banned' | 'denied' | 'duplicate' | 'lifetime' | 'stopped' | 'over-limit' | 'initial-sync'
  /** A connection that arrived after its dial timed out or was called off. */
  | 'abandoned'
  /** The peer sent a message its decoder refused (or whose handling failed): the connection is closed, never the process. */
  | 'protocol'
  /** A dead connection: nothing was heard from the peer within the transport's dead timeout. */
  | 'timeout'
  /**
   * The peer outran a per-connection budget of the transport: more channels opened than it may hold
   * waiting, or more bytes queued for it than it reads (the node's transport).
   */
  | 'over-budget'

/** Injected everywhere; nothing in the core reads `Date.now` or `setTimeout` directly. */
export interface Clock {
  /** The current time in milliseconds. */
  now(): number
  /** Runs `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown
  /** Cancels a timer `setTimeout` returned; a handle already fired or cleared is ignored. */
  clearTimeout(handle: unknown): void
}

/** Opens an outbound connection. Must honour `signal`. */
export type DialFn = (address: string, opts: { peer?: PeerId; signal: AbortSignal }) => Promise<Connection>
