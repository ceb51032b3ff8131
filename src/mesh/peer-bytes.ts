import type { Instance } from './instance.js'

/**
 * What a certified peer's calls make this node hold: the bytes of the messages they came in.
 *
 * A certificate proves a peer's role, not its manners: one peer's handlers could hold 1024 running
 * calls of 8 MiB of arguments each. So a call is charged the message it came in (a single call, or
 * the whole batch it was part of) while it runs or waits here.
 *
 * Rules:
 * - A message's bytes are held against its peer from the first of its calls accepted here until the
 *   last of them ended (answered, failed, released, or dropped while waiting): what a batch's
 *   calls keep alive is the batch, however its bytes are spread among them.
 * - A call whose message is not held yet must fit: past `max` bytes held for its peer it is answered
 *   ERR_BUSY (its handler does not run; `refused` counts it). A message alone always fits, and a
 *   call whose message is held already (a sibling in its batch was accepted) costs nothing more.
 * - `held` is the bytes held over all peers (a peer's at most `max`, plus one message).
 */
export class PeerBytes {
  /** Bytes held over all peers. */
  held = 0
  /** Calls answered ERR_BUSY past their peer's budget. */
  refused = 0

  constructor (readonly max: number) {}

  /** Whether a call that came in `charge` from `from` may be accepted (see the rules). */
  fits (from: Instance, charge: Charge): boolean {
    return charge.calls > 0 || from.heldBytes === 0 || from.heldBytes + charge.bytes <= this.max
  }

  /** Holds `charge` for one more accepted call of `from`; returns that call's release (idempotent). */
  hold (from: Instance, charge: Charge): () => void {
    if (charge.calls++ === 0) {
      from.heldBytes += charge.bytes
      this.held += charge.bytes
    }
    let released = false
    return () => {
      if (released) return
      released = true
      if (--charge.calls > 0) return
      from.heldBytes -= charge.bytes
      this.held -= charge.bytes
    }
  }
}

/** One message from a peer (a call, or a batch of them) and how many of its calls are accepted and not ended. */
export class Charge {
  /** Its calls accepted here and not yet ended. */
  calls = 0
  constructor (readonly bytes: number) {}
}

/** The default of `limits.messageBytes`: the largest RPC message (or batch) read from a certified peer. */
export const DEFAULT_MESSAGE_BYTES = 1024 * 1024
/** The default of `limits.bytesPerPeer`: bytes of call messages one peer's calls may keep here. */
export const DEFAULT_BYTES_PER_PEER = 32 * 1024 * 1024
