import { PeerwardenError } from '../errors.js'
import c from '../node/vendor/compact-encoding.js'
import type { Channel, Message } from '../node/vendor/protomux.js'
import { checkMessageSize, MALFORMED, MAX_MESSAGE_BYTES } from '../node/wire.js'
import { MAX_BATCH_MESSAGES } from './messages.js'

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

/** The UTF-8 length of `text`, counted only when it might reach `limit` (a character is at most 3 bytes). */
function utf8Length (text: string, limit: number): number {
  return text.length * 3 <= limit ? text.length : Buffer.byteLength(text)
}

/** A batch message is sent once it holds this many bytes of messages (more follow in the next one). */
export const BATCH_BYTES = 64 * 1024

/**
 * The batch message's codec: a JSON array written as one length-prefixed UTF-8 text (the sender
 * joins the texts of its messages, each stringified once when it was sent). Its decode never
 * throws: bytes that are not one JSON text decode to `MALFORMED`.
 */
export const batchText = {
  preencode (state: State, text: string): void { utf8.preencode(state, text) },
  encode (state: State, text: string): void { utf8.encode(state, text) },
  decode: jsonOnce.decode
}

/**
 * The RPC messages of one channel. The first message of a tick leaves at once (a lone call or answer
 * waits for nothing); what else the tick sends leaves together once the microtask queue drains, in
 * order after it:
 * - to a peer that reads batch messages (its handshake said `batch: true`; `batches`), as batch
 *   messages: one JSON array of up to `MAX_BATCH_MESSAGES` messages or about `BATCH_BYTES` bytes
 *   each, so a hundred calls cost one message, one JSON parse, one encryption and one write instead
 *   of a hundred protomux messages;
 * - to an older peer, as a corked protomux batch of single messages (one encryption and one write).
 *
 * `send` encodes at once, so a value JSON cannot encode (a BigInt, a cycle), or a message over
 * `MAX_MESSAGE_BYTES` (ERR_MESSAGE_TOO_LARGE), throws to the sender and nothing is sent; never later
 * in a microtask. So a batch never crosses the transport's frame: protomux flushes it at 8 MiB, a
 * batch message holds one message or at most `BATCH_BYTES` (three times that in multi-byte text),
 * and no message is over 8 MiB − 1 KiB.
 */
export class Outbox {
  /** The remote reads batch messages (set from its handshake, before anything but the first message is sent). */
  batches = false
  /**
   * The largest message the remote reads (its handshake's `maxMessage`, set before anything but the
   * first message is sent); a larger one throws ERR_MESSAGE_TOO_LARGE to the sender instead of
   * closing the connection at the remote.
   */
  maxBytes = MAX_MESSAGE_BYTES
  /** A message left in this tick: later ones go into a batch. */
  private busy = false
  private corked = false
  /** The texts of the batch message being gathered, and their bytes (at least). */
  private texts: string[] = []
  private bytes = 0

  constructor (private readonly channel: Channel, private readonly message: Message<OutgoingRpc>, private readonly batch?: Message<string>) {}

  /**
   * Sends `msg` (dropped silently if the channel is closed, as protomux does); throws if it cannot be
   * encoded or is too large. `what` names it in that error.
   */
  send (msg: OutgoingRpc, what: string = `a ${msg.t} message`): void {
    const text = JSON.stringify(msg)
    const bytes = utf8Length(text, Math.min(this.maxBytes, MAX_MESSAGE_BYTES))
    // Room for the channel id, the type and the length prefix.
    checkMessageSize(bytes + 16, what)
    if (bytes + 16 > this.maxBytes) throw new PeerwardenError('ERR_MESSAGE_TOO_LARGE', `${what} is ${bytes} bytes encoded (the remote reads at most ${this.maxBytes})`)
    if (!this.busy) {
      lastValue = msg
      lastText = text
      this.write(msg)
      this.busy = true
      queueMicrotask(this.flush)
      return
    }
    if (this.batches && this.batch !== undefined) {
      if (this.texts.length >= MAX_BATCH_MESSAGES || (this.bytes + bytes > BATCH_BYTES && this.texts.length > 0)) this.sendBatch()
      this.texts.push(text)
      this.bytes += bytes + 1
      return
    }
    lastValue = msg
    lastText = text
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

  /** The gathered texts as one batch message (they were encoded and sized when sent: this does not throw). */
  private sendBatch (): void {
    const texts = this.texts
    this.texts = []
    this.bytes = 0
    this.batch!.send(`[${texts.join(',')}]`)
  }

  private readonly flush = (): void => {
    if (this.texts.length > 0) {
      this.sendBatch()
      // Still busy: what reacts to this batch within the same drain is batched next.
      queueMicrotask(this.flush)
      return
    }
    if (!this.corked) { this.busy = false; return }
    this.corked = false
    queueMicrotask(this.flush)
    // Every message in the batch was encoded and sized when it was sent: writing it does not throw.
    this.channel.uncork()
  }
}
