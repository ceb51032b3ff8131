import { PeerwardenError } from '../errors.js'

/**
 * The decoder of what the queue's notification connection (./redis-queue-wake.ts) receives: RESP2
 * replies to AUTH and SUBSCRIBE, and the messages of the keyspace channels it subscribed to.
 *
 * Rules:
 * - A keyspace notification carries the command's name (`xadd`), never data, but anyone who may
 *   PUBLISH can send any payload (up to 512 MB) on the same channel: so every frame is small or
 *   refused. A line, a bulk string and a whole frame hold at most MAX_NOTIFY_FRAME bytes; more, or
 *   anything but `+line`, `-line` and a 3-element array of bulk strings (an integer third for
 *   `subscribe`), is ERR_QUEUE, and the connection is dropped before the rest is read.
 * - A message's payload is never returned: a message is a wake-up for its channel, nothing more.
 */

/** The most bytes a frame may hold: channel names of our streams, and the event name. */
export const MAX_NOTIFY_FRAME = 1024

/** A decoded frame: a wake-up for `channel`, a confirmed subscription, or a reply to a command. */
export type NotifyFrame =
  | { kind: 'message'; channel: string }
  | { kind: 'subscribe'; channel: string }
  | { kind: 'ok' }
  | { kind: 'error'; message: string }

/** Turns the connection's bytes into frames, holding at most one incomplete frame. */
export class NotifyDecoder {
  private held: Buffer = Buffer.alloc(0)

  /** The frames `chunk` completes; ERR_QUEUE (drop the connection) on anything else. */
  push (chunk: Buffer): NotifyFrame[] {
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk])
    const frames: NotifyFrame[] = []
    for (;;) {
      const parsed = frame(this.held)
      if (parsed === undefined) break
      if (parsed.end > MAX_NOTIFY_FRAME) throw refused(`a frame of ${parsed.end} bytes (at most ${MAX_NOTIFY_FRAME})`)
      frames.push(parsed.frame)
      this.held = this.held.subarray(parsed.end)
    }
    if (this.held.length > MAX_NOTIFY_FRAME) throw refused(`a frame over ${MAX_NOTIFY_FRAME} bytes`)
    return frames
  }
}

function refused (what: string): PeerwardenError {
  return new PeerwardenError('ERR_QUEUE', `the notification connection received ${what}, not a keyspace notification: dropped`)
}

/** A line from `at` (without its CRLF) and where the next starts; undefined when incomplete. */
function line (b: Buffer, at: number): { text: string; end: number } | undefined {
  const cr = b.indexOf('\r\n', at, 'latin1')
  if (cr < 0) {
    if (b.length - at > MAX_NOTIFY_FRAME) throw refused(`a line over ${MAX_NOTIFY_FRAME} bytes`)
    return undefined
  }
  if (cr - at > MAX_NOTIFY_FRAME) throw refused(`a line over ${MAX_NOTIFY_FRAME} bytes`)
  return { text: b.toString('utf8', at, cr), end: cr + 2 }
}

/** A bulk string (`$n`) or integer (`:n`) element at `at`; undefined when incomplete. */
function element (b: Buffer, at: number): { value: string; integer: boolean; end: number } | undefined {
  const head = line(b, at)
  if (head === undefined) return undefined
  if (head.text.startsWith(':') && /^:-?\d{1,18}$/.test(head.text)) return { value: head.text.slice(1), integer: true, end: head.end }
  if (!/^\$\d{1,10}$/.test(head.text)) throw refused('an element that is not a bulk string')
  const n = Number(head.text.slice(1))
  if (n > MAX_NOTIFY_FRAME) throw refused(`a bulk string of ${n} bytes`)
  if (b.length < head.end + n + 2) return undefined
  if (b[head.end + n] !== 13 || b[head.end + n + 1] !== 10) throw refused('a bulk string without its CRLF')
  return { value: b.toString('utf8', head.end, head.end + n), integer: false, end: head.end + n + 2 }
}

/** The first frame of `b` and where it ends; undefined when incomplete. */
function frame (b: Buffer): { frame: NotifyFrame; end: number } | undefined {
  if (b.length === 0) return undefined
  const first = b[0]
  if (first === 0x2b || first === 0x2d) { // '+' '-'
    const l = line(b, 0)
    if (l === undefined) return undefined
    return { frame: first === 0x2b ? { kind: 'ok' } : { kind: 'error', message: l.text.slice(1) }, end: l.end }
  }
  if (first !== 0x2a) throw refused('a reply that is not an array') // '*'
  const head = line(b, 0)
  if (head === undefined) return undefined
  if (head.text !== '*3') throw refused(`an array of ${head.text.slice(1)} elements`)
  const kind = element(b, head.end)
  if (kind === undefined) return undefined
  const channel = element(b, kind.end)
  if (channel === undefined) return undefined
  const third = element(b, channel.end)
  if (third === undefined) return undefined
  if (kind.integer || channel.integer) throw refused('an integer where a name goes')
  if (kind.value === 'message' && !third.integer) return { frame: { kind: 'message', channel: channel.value }, end: third.end }
  if (kind.value === 'subscribe' && third.integer) return { frame: { kind: 'subscribe', channel: channel.value }, end: third.end }
  throw refused(`a ${JSON.stringify(kind.value.slice(0, 32))} frame`)
}
