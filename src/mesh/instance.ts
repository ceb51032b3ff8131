import type { HandlerContext } from './handler-context.js'
import type { Outbox } from './rpc-wire.js'

/**
 * The other end of one RPC channel (listed in `instances` once both sides admitted each other).
 *
 * Rules:
 * - Made by the mesh node when the remote's certificate checks out; its role, variant and `mayCall`
 *   are fixed from then on.
 * - The caller side owns `outstanding` and `lastPicked`; the responder side owns
 *   `running`. Neither writes the other's fields.
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
  /** Its calls our handlers are still running (async ones), by call id: a cancel finds them here. */
  running: Map<number, HandlerContext>
}
