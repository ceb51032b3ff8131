import type { Clock } from '../manager/types.js'
import type { StaticKeys } from './noise.js'
import type { ReadMeter } from './paused-queue.js'
import type { QueueBudget } from './queue-budget.js'
import type { ReceiveBudget } from './receive-budget.js'
import { TAG } from './transport-cipher.js'

/** The largest message `SecureStream.write` takes (16 MiB). */
export const MAX_MESSAGE = 16 * 1024 * 1024
/** The largest handshake frame (Noise's limit): garbage never makes us allocate more. */
export const MAX_HANDSHAKE_FRAME = 65535
/** A first handshake message: the ephemeral key and the tag of the empty payload (psk0 encrypts it). */
export const FIRST_MESSAGE_BYTES = 32 + TAG

/** What a secure stream (secure-stream.ts) is made with: its keys, its hello, its budgets. */
export interface SecureStreamOptions {
  keys: StaticKeys
  /** The network's pre-shared key (see network-key.ts). */
  psk: Buffer
  /** Our handshake payload (the hello), asked for when our message that carries it is sent. */
  payload: () => Uint8Array
  /**
   * The dialer checks the listener's key here as soon as it is known, before it sends its own identity
   * and hello: a throw ends the handshake with that error.
   */
  checkRemote?: (remotePublicKey: Buffer) => void
  /** Where `lastRead` and `lastWrite` come from (the liveness sweep's clock). Default: the system clock. */
  clock?: Clock
  /** Bytes queued while paused before the socket is paused too. Default `QUEUE_HIGH_BYTES` (1 MiB). */
  maxQueuedBytes?: number
  /** Where the stream adds its read-side figures (the transport's, for its stats). */
  meter?: ReadMeter
  /** The node-wide budget and deadline of partly received frames (receive-budget.ts). Default: none. */
  receiving?: ReceiveBudget
  /** Where the remote comes from for `receiving`'s per-source share (`peerSource`); undefined: exempt. */
  receivingSource?: string
  /** The node-wide budget of bytes queued both ways (queue-budget.ts). Default: none. */
  queueing?: QueueBudget
}
