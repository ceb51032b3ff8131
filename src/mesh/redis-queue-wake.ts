import { randomBytes } from 'node:crypto'
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

/** How long the probe waits for its own notification, ms: none by then, notifications are off. */
const PROBE_WAIT = 2000

/** The longest wait before the notification connection is made again, ms. */
const MAX_RECONNECT_DELAY = 5000

/** What the wake-ups need of their queue (./redis-queue.ts). */
export interface WakeHost {
  /** Where Redis is and how to log in (the queue client's options, as ioredis parsed them from the URL). */
  readonly server: { host?: string | null | undefined; port?: number | null | undefined; username?: string | null | undefined; password?: string | null | undefined; db?: number | null | undefined; tls?: tls.ConnectionOptions | null | undefined }
  /** CONFIG GET / SET on the queue's command connection. */
  config: (...args: string[]) => Promise<unknown>
  /** Appends to stream `key` and deletes it (the probe of a user that may not run CONFIG). */
  touch: (key: string) => Promise<void>
  readonly mode: NotificationsMode
  readonly retryDelay: number
  report: (err: PeerwardenError) => void
}

/** The wake-ups of one stream, for its consumer's read loop (./redis-queue-consumer.ts). */
export class StreamWake {
  /** Counts wake-ups: a loop that saw it change since its last read reads again at once. */
  seq = 0
  /** Notifications for this stream are subscribed and known to be on: an idle consumer may wait NOTIFIED_POLL. */
  notifying = false
  /** Its channel is subscribed (notifying once notifications are known to be on). */
  subscribed = false
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
 * - Notifications are known to be on from CONFIG GET (or SET), checked again at each connection. A
 *   user that may not run CONFIG (a managed Redis) probes instead: it subscribes to the channel of a
 *   key of its own (`peerwarden:queue:probe:<random>`), appends to that key and deletes it; its own
 *   notification within 2 s says they are on, else its consumers poll for good, nothing reported.
 */
export class QueueWake {
  private readonly streams = new Map<string, StreamWake>()
  private socket: net.Socket | undefined
  /** The socket is connected (TLS: its handshake done) and AUTH sent: a SUBSCRIBE now goes after it. */
  private loggedIn = false
  private decoder = new NotifyDecoder()
  /** Whether notifications are on (checked, or turned on), or to be probed: undefined until asked. */
  private available: Promise<'on' | 'probe' | 'off'> | undefined
  /** Notifications are known to be on for the connection now: subscribed streams are notifying. */
  private verified = false
  /** The probe's key while it runs, and its timer. */
  private probeKey: string | undefined
  private probeTimer: NodeJS.Timeout | undefined
  /** The probe found notifications off: no connection is made again. */
  private gaveUp = false
  private closed = false
  private reconnectDelay: number
  private reconnectTimer: NodeJS.Timeout | undefined
  /** A refusal or a dropped connection was reported, and no subscription confirmed since: once per outage. */
  private failing = false
  /** Notifications received, connections dropped for a frame that was not one, and channels subscribed with notifications on. */
  readonly figures = { notifications: 0, dropped: 0, subscriptions: 0 }

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
    else if (this.socket === undefined && this.host.mode !== 'off' && !this.gaveUp) void this.start()
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
    clearTimeout(this.probeTimer)
    this.socket?.destroy()
    for (const w of this.streams.values()) { w.notifying = false; w.wake() }
  }

  /** Connects once notifications are on. Never rejects: a connection that cannot be made leaves the consumers polling, reported. */
  private async start (): Promise<void> {
    this.available ??= this.enable()
    const state = await this.available
    if (state === 'off' || this.closed || this.gaveUp || this.socket !== undefined) return
    try {
      this.connect(state === 'probe')
    } catch (err) {
      this.host.report(new PeerwardenError('ERR_QUEUE', `cannot open the queue's notification connection (${(err as Error).message}): consumers poll`, { cause: err }))
    }
  }

  /** Keyspace notifications for streams: on already, or turned on (mode 'enable'), off, or to be probed (CONFIG refused). */
  private async enable (): Promise<'on' | 'probe' | 'off'> {
    let flags: string
    try {
      flags = (await this.host.config('GET', 'notify-keyspace-events') as string[])[1] ?? ''
    } catch (err) {
      // A managed Redis refusing CONFIG (unknown command, NOPERM, a renamed command): probed. Redis
      // out of reach: consumers poll until it answers again.
      if (refusal(err)) return 'probe'
      if (!this.closed) this.reconnectTimer = setTimeout(() => { this.available = undefined; void this.start() }, MAX_RECONNECT_DELAY)
      return 'off'
    }
    if (flags.includes('K') && (flags.includes('t') || flags.includes('A'))) return 'on'
    if (this.host.mode !== 'enable') return 'off'
    try {
      await this.host.config('SET', 'notify-keyspace-events', `${flags}${flags.includes('K') ? '' : 'K'}t`)
      return 'on'
    } catch {
      return 'off' // they are off, and we may not turn them on: consumers poll
    }
  }

  private connect (probe: boolean): void {
    const host = this.host.server.host ?? '127.0.0.1'
    const port = this.host.server.port ?? 6379
    const secure = this.host.server.tls ?? undefined
    const socket = secure !== undefined ? tls.connect({ host, port, ...secure }) : net.connect({ host, port })
    this.socket = socket
    this.decoder = new NotifyDecoder()
    this.verified = !probe
    this.probeKey = probe ? `peerwarden:queue:probe:${randomBytes(8).toString('hex')}` : undefined
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    socket.on(secure !== undefined ? 'secureConnect' : 'connect', () => {
      const { username, password } = this.host.server
      if (password != null && password !== '') this.send(...(username != null && username !== '' ? ['AUTH', username, password] : ['AUTH', password]))
      this.loggedIn = true
      const channels = [...this.streams.keys()]
      if (this.probeKey !== undefined) channels.push(this.channel(this.probeKey))
      if (channels.length > 0) this.send('SUBSCRIBE', ...channels)
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
      clearTimeout(this.probeTimer)
      for (const w of this.streams.values()) {
        w.subscribed = false
        if (w.notifying) { w.notifying = false; w.wake() }
      }
      if (this.closed || this.gaveUp) return
      // Checked again: a Redis restarted without persistence has lost a CONFIG SET.
      this.available = undefined
      this.reconnectTimer = setTimeout(() => { void this.start() }, this.reconnectDelay)
      this.reconnectDelay = Math.min(MAX_RECONNECT_DELAY, this.reconnectDelay * 2)
    })
  }

  private onFrame (f: NotifyFrame, socket: net.Socket): void {
    const probing = this.probeKey !== undefined && (f.kind === 'message' || f.kind === 'subscribe') && f.channel === this.channel(this.probeKey)
    if (f.kind === 'message') {
      if (probing) {
        if (this.verified) return
        // Our own append was notified: they are on.
        clearTimeout(this.probeTimer)
        this.verified = true
        for (const w of this.streams.values()) if (w.subscribed) { w.notifying = true; this.figures.subscriptions++; w.wake() }
        return
      }
      this.figures.notifications++
      this.streams.get(f.channel)?.wake()
    } else if (f.kind === 'subscribe') {
      this.reconnectDelay = this.host.retryDelay
      this.failing = false
      if (probing) { this.probe(this.probeKey!, socket); return }
      const w = this.streams.get(f.channel)
      if (w === undefined) return
      w.subscribed = true
      if (!this.verified) return
      w.notifying = true
      this.figures.subscriptions++
      w.wake()
    } else if (f.kind === 'error') {
      if (!this.failing) this.host.report(new PeerwardenError('ERR_QUEUE', `Redis refused the queue's notification connection (${f.message.slice(0, 200)}): consumers poll, and it is tried again`))
      this.failing = true
      socket.destroy()
    }
  }

  /** Appends to the probe's key: its notification is expected within PROBE_WAIT, else they are off for good. */
  private probe (key: string, socket: net.Socket): void {
    const off = (): void => {
      if (this.verified || this.socket !== socket) return
      this.gaveUp = true
      socket.destroy()
    }
    this.probeTimer = setTimeout(off, PROBE_WAIT)
    this.host.touch(key).catch(() => { clearTimeout(this.probeTimer); off() })
  }

  /** Sends one command (RESP array of bulk strings). */
  private send (...args: string[]): void {
    let out = `*${args.length}\r\n`
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`
    this.socket?.write(out)
  }
}

/** Redis refused the command to this user (ACL, a renamed or disabled command): it will again. */
function refusal (err: unknown): boolean {
  return /NOPERM|unknown command|unknown subcommand|denied|not allowed|disabled/i.test(String((err as Error).message))
}
