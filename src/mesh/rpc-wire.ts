import c from '../node/vendor/compact-encoding.js'
import type { Channel, Message } from '../node/vendor/protomux.js'
import { checkMessageSize, MALFORMED, MAX_MESSAGE_BYTES } from '../node/wire.js'

/**
 * The messages of the RPC channel ('peerwarden/mesh-rpc/1') as we send them: one JSON message type.
 * What we receive is decoded by messages.ts's `decodeRpc` (peers are hostile).
 */
export type OutgoingRpc =
  | { t: 'call'; id: number; cmd: string; args: unknown; deadline: number; attempt?: number; trace?: string }
  | { t: 'ack'; id: number }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: { message: string; code?: string } }
  | { t: 'cancel'; id: number }
  /** "Your certificate is good": each side lists the other only once both sides said so. */
  | { t: 'admit' }
  /** "I am draining: send me no new call" — only to a peer whose handshake said `drain: true`. */
  | { t: 'drain' }
  /** The answer to 'drain': every call sent before it has arrived. */
  | { t: 'drain-ack' }

/** compact-encoding's state and codecs, as far as used here (the wrapper types the module loosely). */
interface State { start: number; end: number; buffer: Uint8Array | null }
interface Codec<T> { preencode: (state: State, v: T) => void; encode: (state: State, v: T) => void; decode: (state: State) => T }
const { utf8, json } = c as unknown as { utf8: Codec<string>; json: Codec<unknown> }

let lastValue: unknown
let lastText = ''

/**
 * `c.json` on the wire (the same bytes), with one `JSON.stringify` per message instead of two:
 * the Outbox stringifies a message to check its size, and protomux preencodes and encodes it right
 * after, synchronously, so that text is kept for the length and the bytes. Anything else (an encode
 * without its preencode) stringifies again. Its decode never throws (as wire.ts's `safeJson`):
 * bytes that are not one JSON text decode to `MALFORMED`.
 */
export const jsonOnce = {
  preencode (state: State, v: unknown): void {
    if (v !== lastValue) {
      lastText = JSON.stringify(v)
      lastValue = v
    }
    utf8.preencode(state, lastText)
  },
  encode (state: State, v: unknown): void {
    const text = v === lastValue ? lastText : JSON.stringify(v)
    // Not kept past its message.
    lastValue = undefined
    lastText = ''
    utf8.encode(state, text)
  },
  decode (state: State): unknown {
    try { return json.decode(state) } catch { return MALFORMED }
  }
}

/** The UTF-8 length of `text`, counted only when it might matter (a character is at most 3 bytes). */
function utf8Length (text: string): number {
  return text.length * 3 <= MAX_MESSAGE_BYTES ? text.length : Buffer.byteLength(text)
}

/**
 * The RPC messages of one channel. The first message of a tick leaves at once (a lone call or answer
 * waits for nothing); the channel is corked for what else the tick sends, which leaves as one
 * protomux batch (one encryption and one write for many calls or answers) once the microtask queue
 * drains. Order is kept: the first message's write is already queued in the stream when the batch
 * follows it.
 *
 * `send` encodes at once, so a value JSON cannot encode (a BigInt, a cycle), or a message over
 * `MAX_MESSAGE_BYTES` (ERR_MESSAGE_TOO_LARGE), throws to the sender and nothing is sent; never later
 * in a microtask. So a batch never crosses the transport's frame: protomux flushes it at 8 MiB and no
 * message in it is over 8 MiB − 1 KiB.
 */
export class Outbox {
  /** A message left in this tick: later ones go into a corked batch. */
  private busy = false
  private corked = false

  constructor (private readonly channel: Channel, private readonly message: Message<OutgoingRpc>) {}

  /**
   * Sends `msg` (dropped silently if the channel is closed, as protomux does); throws if it cannot be
   * encoded or is too large. `what` names it in that error.
   */
  send (msg: OutgoingRpc, what: string = `a ${msg.t} message`): void {
    const text = JSON.stringify(msg)
    // Room for the channel id, the type and the length prefix.
    checkMessageSize(utf8Length(text) + 16, what)
    lastValue = msg
    lastText = text
    if (!this.busy) {
      this.write(msg)
      this.busy = true
      // After the send: the stream's own write (a microtask it queued just now) goes first.
      queueMicrotask(this.flush)
      return
    }
    if (!this.corked) {
      this.corked = true
      this.channel.cork()
    }
    this.write(msg)
  }

  private write (msg: OutgoingRpc): void {
    try {
      this.message.send(msg)
    } finally {
      // Not kept past its message (a closed channel sends nothing and encodes nothing).
      lastValue = undefined
      lastText = ''
    }
  }

  private readonly flush = (): void => {
    if (!this.corked) { this.busy = false; return }
    this.corked = false
    // Still busy: what reacts to this batch within the same drain is batched next.
    queueMicrotask(this.flush)
    // Every message in the batch was encoded and sized when it was sent: writing it does not throw.
    this.channel.uncork()
  }
}
