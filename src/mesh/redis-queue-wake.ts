import net from 'node:net'
import tls from 'node:tls'
import { PeerwardenError } from '../errors.js'
import { NotifyDecoder, type NotifyFrame } from './redis-notify-decoder.js'

/**
 * How idle consumers learn of a new message (`QueueOptions.notifications`):
 * - `'enable'` (default): keyspace notifications for stream commands (`notify-keyspace-events`
 *   K and t), turned on with CONFIG SET when the server has them off (only adding those two flags);
 * - `'use'`: used when the server has them on, never turned on;
 * - `'off'`: never; consumers poll.
 * Where they are off and cannot be turned on (a managed Redis refusing CONFIG), consumers poll.
 */
export type NotificationsMode = 'enable' | 'use' | 'off'

/** How long a consumer woken by notifications waits, idle, before reading anyway, ms: a lost notification costs at most this. */
export const NOTIFIED_POLL = 1000

/** The longest wait before the notification connection is made again, ms. */
const MAX_RECONNECT_DELAY = 5000

/** What the wake-ups need of their queue (./redis-queue.ts). */
export interface WakeHost {
  /** Where Redis is and how to log in (the queue client's options, as ioredis parsed them from the URL). */
  readonly server: { host?: string | null | undefined; port?: number | null | undefined; username?: string | null | undefined; password?: string | null | undefined; db?: number | null | undefined; tls?: tls.ConnectionOptions | null | undefined }
  /** CONFIG GET / SET on the queue's command connection. */
  config: (...args: string[]) => Promise<unknown>
  readonly mode: NotificationsMode
  readonly retryDelay: number
  report: (err: PeerwardenError) => void
}

/** The wake-ups of one stream, for its consumer's read loop (./redis-queue-consumer.ts). */
export class StreamWake {
  /** Counts wake-ups: a loop that saw it change since its last read reads again at once. */
  seq = 0
  /** Notifications for this stream are subscribed: an idle consumer may wait NOTIFIED_POLL. */
  notifying = false
  private waiter: (() => void) | undefined

  /** A notification (or a change of `notifying`): the waiting loop reads now. */
  wake (): void {
    this.seq++
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  /** Resolves at the next `wake()` or after `ms`. */
  async wait (ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.waiter = resolve
      timer = setTimeout(resolve, ms)
    })
    clearTimeout(timer)
    this.waiter = undefined
  }
}

/**
 * One connection per queue subscribed to the keyspace channels (`__keyspace@<db>__:<stream>`) of the
 * streams it consumes: a message there wakes that stream's consumer, which runs the read script at
 * once (./redis-queue-read.ts: entries are sized in Redis, never sent whole).
 *
 * Rules:
 * - The channel says which stream changed; its payload (Redis's: the command's name) is never read.
 *   A writer may PUBLISH on the channel itself: it gains a wake-up (one read of an idle stream);
 *   a frame of more than 1 KiB, or of any other shape, drops the connection unread
 *   (./redis-notify-decoder.ts), counted in `notificationsDropped`, reported (ERR_QUEUE), and made again.
 * - A stream's consumer polls as without notifications until its channel is subscribed, and again
 *   whenever the connection is down; subscribed, it reads at each wake-up and every NOTIFIED_POLL.
 *   Each (re)subscription wakes it, for what was published meanwhile.
 * - Its own connection (not ioredis: a subscriber there would read any payload whole), made again after
 *   `retryDelay`, doubling up to 5 s, until the queue closes.
 */
export class QueueWake {
  private readonly streams = new Map<string, StreamWake>()
  private socket: net.Socket | undefined
  /** The socket is connected (TLS: its handshake done) and AUTH sent: a SUBSCRIBE now goes after it. */
  private loggedIn = false
  private decoder = new NotifyDecoder()
  /** Whether notifications are on (checked, or turned on, once): undefined until known. */
  private available: Promise<boolean> | undefined
  private closed = false
  private reconnectDelay: number
  private reconnectTimer: NodeJS.Timeout | undefined
  /** A refusal or a dropped connection was reported, and no subscription confirmed since: once per outage. */
  private failing = false
  /** Notifications received, and connections dropped for a frame that was not one. */
  readonly figures = { notifications: 0, dropped: 0 }

  constructor (private readonly host: WakeHost) {
    this.reconnectDelay = host.retryDelay
  }

  /** The keyspace channel of stream `key`. */
  private channel (key: string): string { return `__keyspace@${this.host.server.db ?? 0}__:${key}` }

  /** The wake-ups of `key`, subscribed as soon as notifications are known to be on. */
  stream (key: string): StreamWake {
    const channel = this.channel(key)
    let w = this.streams.get(channel)
    if (w !== undefined) return w
    this.streams.set(channel, w = new StreamWake())
    if (this.socket !== undefined && this.loggedIn) this.send('SUBSCRIBE', channel)
    else if (this.socket === undefined && this.host.mode !== 'off') void this.start()
    return w
  }

  /** How consumers learn of new messages now. */
  get mode (): 'notifications' | 'polling' {
    for (const w of this.streams.values()) if (w.notifying) return 'notifications'
    return 'polling'
  }

  close (): void {
    this.closed = true
    clearTimeout(this.reconnectTimer)
    this.socket?.destroy()
    for (const w of this.streams.values()) { w.notifying = false; w.wake() }
  }

  /** Connects once notifications are on. Never rejects: a connection that cannot be made leaves the consumers polling, reported. */
  private async start (): Promise<void> {
    this.available ??= this.enable()
    if (!await this.available || this.closed || this.socket !== undefined) return
    try {
      this.connect()
    } catch (err) {
      this.host.report(new PeerwardenError('ERR_QUEUE', `cannot open the queue's notification connection (${(err as Error).message}): consumers poll`, { cause: err }))
    }
  }

  /** Keyspace notifications for streams: on already, or turned on (mode 'enable'); false where they cannot be. */
  private async enable (): Promise<boolean> {
    try {
      const reply = await this.host.config('GET', 'notify-keyspace-events') as string[]
      const flags = reply[1] ?? ''
      if (flags.includes('K') && (flags.includes('t') || flags.includes('A'))) return true
      if (this.host.mode !== 'enable') return false
      await this.host.config('SET', 'notify-keyspace-events', `${flags}${flags.includes('K') ? '' : 'K'}t`)
      return true
    } catch (err) {
      // A managed Redis refusing CONFIG (unknown command, NOPERM, a renamed command): consumers poll,
      // for good. Redis out of reach: they poll until it answers again.
      if (/NOPERM|unknown command|unknown subcommand|read.?only|denied|not allowed|disabled/i.test(String((err as Error).message))) return false
      if (!this.closed) this.reconnectTimer = setTimeout(() => { this.available = undefined; void this.start() }, MAX_RECONNECT_DELAY)
      return false
    }
  }

  private connect (): void {
    const host = this.host.server.host ?? '127.0.0.1'
    const port = this.host.server.port ?? 6379
    const secure = this.host.server.tls ?? undefined
    const socket = secure !== undefined ? tls.connect({ host, port, ...secure }) : net.connect({ host, port })
    this.socket = socket
    this.decoder = new NotifyDecoder()
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    socket.on(secure !== undefined ? 'secureConnect' : 'connect', () => {
      const { username, password } = this.host.server
      if (password != null && password !== '') this.send(...(username != null && username !== '' ? ['AUTH', username, password] : ['AUTH', password]))
      this.loggedIn = true
      if (this.streams.size > 0) this.send('SUBSCRIBE', ...this.streams.keys())
    })
    socket.on('data', (chunk: Buffer) => {
      let frames: NotifyFrame[]
      try {
        frames = this.decoder.push(chunk)
      } catch (err) {
        this.figures.dropped++
        if (!this.failing) this.host.report(err as PeerwardenError)
        this.failing = true
        socket.destroy()
        return
      }
      for (const f of frames) this.onFrame(f, socket)
    })
    socket.on('error', () => { /* 'close' follows */ })
    socket.on('close', () => {
      if (this.socket === socket) { this.socket = undefined; this.loggedIn = false }
      for (const w of this.streams.values()) {
        if (w.notifying) { w.notifying = false; w.wake() }
      }
      if (this.closed) return
      // Checked again: a Redis restarted without persistence has lost a CONFIG SET.
      this.available = undefined
      this.reconnectTimer = setTimeout(() => { void this.start() }, this.reconnectDelay)
      this.reconnectDelay = Math.min(MAX_RECONNECT_DELAY, this.reconnectDelay * 2)
    })
  }

  private onFrame (f: NotifyFrame, socket: net.Socket): void {
    if (f.kind === 'message') {
      this.figures.notifications++
      this.streams.get(f.channel)?.wake()
    } else if (f.kind === 'subscribe') {
      const w = this.streams.get(f.channel)
      if (w === undefined) return
      this.reconnectDelay = this.host.retryDelay
      this.failing = false
      w.notifying = true
      w.wake()
    } else if (f.kind === 'error') {
      if (!this.failing) this.host.report(new PeerwardenError('ERR_QUEUE', `Redis refused the queue's notification connection (${f.message.slice(0, 200)}): consumers poll, and it is tried again`))
      this.failing = true
      socket.destroy()
    }
  }

  /** Sends one command (RESP array of bulk strings). */
  private send (...args: string[]): void {
    let out = `*${args.length}\r\n`
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`
    this.socket?.write(out)
  }
}
