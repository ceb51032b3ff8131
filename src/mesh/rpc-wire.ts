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
 * waits for nothing); what else is sent during the same tick is queued and leaves when the microtask
 * queue drains — as one protomux batch (one encryption and one write for many calls or answers), or
 * as is when it is a single message. Order is kept: the first message's write is already queued in
 * the stream when the batch follows it.
 */
export class Outbox {
  private queued: RpcMessage[] = []
  /** A message left in this tick: later ones are queued until the microtask queue drains. */
  private busy = false

  constructor (private readonly channel: Channel, private readonly message: Message<RpcMessage>) {}

  /** Sends or queues `msg`; dropped silently if the channel closes first (as protomux does). */
  send (msg: RpcMessage): void {
    if (!this.busy) {
      this.busy = true
      this.message.send(msg)
      // After the send: the stream's own write (a microtask it queued just now) goes first.
      queueMicrotask(this.flush)
      return
    }
    this.queued.push(msg)
  }

  private readonly flush = (): void => {
    const q = this.queued
    if (q.length === 0) { this.busy = false; return }
    this.queued = []
    // Still busy: what the batch's own continuation sends waits for the next flush.
    queueMicrotask(this.flush)
    if (q.length === 1) {
      this.message.send(q[0])
      return
    }
    this.channel.cork()
    try {
      for (const m of q) this.message.send(m)
    } finally {
      this.channel.uncork()
    }
  }
}
