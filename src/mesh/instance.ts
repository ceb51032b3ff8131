import type { HandlerContext } from './handler-context.js'
import type { Outbox } from './rpc-wire.js'

/**
 * The other end of one RPC channel (listed in `instances` once both sides admitted each other).
 *
 * Rules:
 * - Made by the mesh node when the remote's certificate checks out; its role, variant and `mayCall`
 *   are fixed from then on.
 * - The caller side owns `outstanding`, `lastPicked` and `busyUntil`; the responder side owns
 *   `running` and `heldBytes`; the channel owns `draining` and `drains`. Neither writes the others' fields.
 */
export interface Instance {
  peer: string
  role: string
  variant: string
  /** `ctx.from` of the calls it makes to us (frozen: one object shared by all of them). */
  who: { readonly role: string; readonly variant: string }
  /** It may call us (the schema relates its role to ours); fixed by its certificate. */
  mayCall: boolean
  send: Outbox
  outstanding: number
  /** Round-robin tie-break among equally loaded instances. */
  lastPicked: number
  /** Until then (clock time), it comes after the others: it refused a call ERR_BUSY (for a second), or ERR_DRAINING (Infinity). */
  busyUntil: number
  /** It told us it is draining: no new call goes to it. */
  draining: boolean
  /** Its handshake said it understands 'drain' and 'drain-ack' (an older peer's does not). */
  drains: boolean
  /** Its calls our handlers are still running (async ones), by call id: a cancel finds them here. */
  running: Map<number, HandlerContext>
  /** Bytes of its messages whose calls run or wait here (peer-bytes.ts). */
  heldBytes: number
}
