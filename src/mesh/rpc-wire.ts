import c from 'compact-encoding'
import type { Channel, Message } from 'protomux'

/** The messages of the RPC channel ('peerwarden/mesh-rpc/1'): one JSON message type. */
export type RpcMessage =
  | { t: 'call'; id: number; cmd: string; args: unknown; deadline: number }
  | { t: 'ack'; id: number }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; error: { message: string; code?: string } }
  | { t: 'cancel'; id: number }
  /** "Your certificate is good": each side lists the other only once both sides said so. */
  | { t: 'admit' }

/** compact-encoding's state and codecs, as far as used here (src/node/vendor.d.ts types the module loosely). */
interface State { start: number; end: number; buffer: Uint8Array | null }
interface Codec<T> { preencode: (state: State, v: T) => void; encode: (state: State, v: T) => void; decode: (state: State) => T }
const { utf8, json } = c as unknown as { utf8: Codec<string>; json: Codec<unknown> }

let lastValue: unknown
let lastText = ''

/**
 * `c.json` on the wire (the same bytes), with one `JSON.stringify` per message instead of two:
 * protomux preencodes a message and encodes it right after, synchronously, so the text made for the
 * length is kept for the bytes. Anything else (an encode without its preencode) stringifies again.
 */
export const jsonOnce = {
  preencode (state: State, v: unknown): void {
    lastText = JSON.stringify(v)
    lastValue = v
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
    return json.decode(state)
  }
}

/**
 * The RPC messages of one channel. The first message of a tick leaves at once (a lone call or answer
 * waits for nothing); the channel is corked for what else the tick sends, which leaves as one
 * protomux batch (one encryption and one write for many calls or answers) once the microtask queue
 * drains. Order is kept: the first message's write is already queued in the stream when the batch
 * follows it.
 *
 * `send` encodes at once, so a value JSON cannot encode (a BigInt, a cycle) throws to the sender,
 * never later in a microtask.
 */
export class Outbox {
  /** A message left in this tick: later ones go into a corked batch. */
  private busy = false
  private corked = false

  constructor (private readonly channel: Channel, private readonly message: Message<RpcMessage>) {}

  /** Sends `msg` (dropped silently if the channel is closed, as protomux does); throws if it cannot be encoded. */
  send (msg: RpcMessage): void {
    if (!this.busy) {
      this.message.send(msg)
      this.busy = true
      // After the send: the stream's own write (a microtask it queued just now) goes first.
      queueMicrotask(this.flush)
      return
    }
    if (!this.corked) {
      this.corked = true
      this.channel.cork()
    }
    this.message.send(msg)
  }

  private readonly flush = (): void => {
    if (!this.corked) { this.busy = false; return }
    this.corked = false
    // Still busy: what reacts to this batch within the same drain is batched next.
    queueMicrotask(this.flush)
    this.channel.uncork()
  }
}
