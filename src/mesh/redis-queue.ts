import type { Redis } from 'ioredis'
import { systemClock } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { requireOptional } from '../optional-dependency.js'
import type { Clock } from '../manager/types.js'
import type { DeadlineFigures } from './queue-deadline.js'
import { defineReadScript } from './redis-queue-read.js'
import { consumeStream, type ConsumerHost, type QueueCheck, type QueueHandler } from './redis-queue-consumer.js'
import { AckTrimmer, defineQueueScripts, forgetGroup, listGroups, type GroupLag, type QueueScripts } from './redis-queue-trim.js'
import type { PublishOptions, QueueFigures, QueueOptions } from './redis-queue-options.js'
import { DEFAULT_QUEUE_MESSAGE_BYTES } from './redis-queue-options.js'
import { QueueWake } from './redis-queue-wake.js'
import { redisVersionProblem } from './redis-version.js'

export { DEFAULT_QUEUE_MESSAGE_BYTES, type PublishOptions, type QueueFigures, type QueueOptions } from './redis-queue-options.js'

/** The stream of a queued command, and its dead-letter stream. */
export function streamKey (role: string, command: string): string { return `peerwarden:queue:${role}:${command}` }
export function deadKey (role: string, command: string): string { return `${streamKey(role, command)}:dead` }

/**
 * Queued broadcast commands on Redis Streams: at least once, in order, surviving a restart.
 *
 * Rules:
 * - Redis 6.2 or later (MIN_REDIS_VERSION, ./redis-version.ts). `start()` — run by `consume`, and by
 *   each `publish` (within its timeout) until it passed — reads the server's version (INFO server)
 *   and fails with ERR_QUEUE_REDIS_VERSION naming the address, the version found and the one needed,
 *   before any stream is touched. A server that does not say its version is not refused for that;
 *   one out of reach is asked again by the next call (whose own command then fails as it would).
 * - `publish` appends the message to the command's stream (XADD); it is durable once that returns.
 * - Every instance of the receiving role has its own consumer group (named after its variant), created
 *   when the instance starts, so every instance receives every message published after that.
 * - An instance handles its messages one at a time, in stream order, and acknowledges (XACK) only after
 *   its handler succeeded. After a crash, the instance restarted with the same variant first re-reads
 *   what it had received but not acknowledged, so nothing is lost and only unacknowledged messages
 *   are delivered again.
 * - A message whose handler fails is retried (in order: nothing after it runs first); after
 *   `maxDeliveries` attempts it moves to the dead-letter stream `<stream>:dead` and is acknowledged.
 * - An entry our publisher would not write (another writer on the stream: no `args` or `from`,
 *   `args` not JSON or over `maxMessageBytes`, `from` over 193 characters) is dead-lettered at its
 *   first read; no handler sees it (redis-queue-consumer.ts's `decodeEntry`). Entries are read by a
 *   script that sizes them inside Redis: one over `maxMessageBytes` (+ 4 KiB) never leaves it. So is one the
 *   consumer's `check` refuses (a mesh node's: the schema's, as for a call).
 * - Every dead letter carries the entry's id, `args` (left out when oversized), `from`, the group and
 *   `error` (why: the handler's last error, or what did not decode), and is reported through
 *   `onError` as ERR_QUEUE_DEAD_LETTER.
 * - `publish` settles within its `timeout` (default `commandTimeout`) whatever Redis does (hangs,
 *   refuses, is not Redis): ERR_TIMEOUT when Redis did not confirm in time — the message may still be
 *   queued, if Redis later reads what was sent — and ERR_QUEUE naming the address and the socket's
 *   error (`cannot reach Redis at 127.0.0.1:6390 (ECONNREFUSED)`) when it cannot be reached.
 * - Redis failing while a message is acknowledged leaves it pending: it is read again (at least once)
 *   once Redis answers, reported once per outage (ERR_QUEUE). Nothing Redis does ends the process.
 * - No message is dropped before every consumer group acknowledged it. Acknowledged messages are
 *   trimmed (XTRIM MINID, batched: every `trimEvery` acks or `trimInterval` ms), never past any
 *   group's oldest pending or unread entry. A stream holding `maxLength` entries that some group
 *   still needs refuses `publish` with ERR_BUSY naming the stream and the lagging groups
 *   (backpressure, not loss); the check and the append are one atomic script, one round-trip.
 * - The group of an instance gone for good holds its stream until `forgetGroup` destroys it;
 *   `groups()` gives each group's pending and unread counts. Dead-letter streams keep about
 *   `maxLength` entries, dropping their oldest (nobody acknowledges them).
 * - A message removed from the stream by someone else (XTRIM, XDEL) after it was delivered and
 *   before it was acknowledged is acknowledged and reported (ERR_QUEUE_TRIMMED).
 * - A consumer group found gone (NOGROUP: Redis restarted without persistence, the stream deleted,
 *   the group destroyed) is recreated from the start of the stream — what is in the stream is
 *   delivered, perhaps again (at least once) — and reported through `onError` as ERR_QUEUE_GROUP_LOST.
 */
export class RedisQueue {
  private readonly redis: Redis & QueueScripts
  private readonly trimmer: AckTrimmer
  private readonly blocking: Redis[] = []
  private closed = false
  /** Aborted by `close()`: running handlers see their signal abort, and nobody waits for them. */
  private readonly closing = new AbortController()
  private readonly loops: Array<Promise<void>> = []
  private readonly clock: Clock
  private readonly commandTimeout: number
  /** The last socket error, until the connection is ready again: what "cannot reach" says. */
  private socketError: (Error & { code?: string }) | undefined
  /** The version check (`start()`), once it passed or while it runs. */
  private started: Promise<void> | undefined
  private startedOk = false
  /** What the consumer loops use (./redis-queue-consumer.ts). */
  private readonly consumerHost: ConsumerHost
  private readonly figures: DeadlineFigures & { reads: number } = { handlerTimeouts: 0, overdueHandlers: 0, stalledConsumers: 0, reads: 0 }
  /** The consumers' wake-ups (keyspace notifications). */
  private readonly wakes: QueueWake

  constructor (url: string, private readonly options: QueueOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.commandTimeout = options.commandTimeout ?? 10_000
    if (!(Number.isFinite(this.commandTimeout) && this.commandTimeout > 0)) throw PeerwardenError.invalid(`commandTimeout must be a positive number of ms, got ${String(options.commandTimeout)}`)
    const pollInterval = options.pollInterval ?? 50
    if (!(Number.isFinite(pollInterval) && pollInterval > 0)) throw PeerwardenError.invalid(`pollInterval must be a positive number of ms, got ${String(options.pollInterval)}`)
    const handlerTimeout = options.handlerTimeout ?? 10_000
    if (typeof handlerTimeout !== 'number' || !(handlerTimeout > 0)) throw PeerwardenError.invalid(`handlerTimeout must be a positive number of ms (or Infinity), got ${String(options.handlerTimeout)}`)
    const maxOverdueHandlers = options.maxOverdueHandlers ?? 4
    if (!(maxOverdueHandlers === Infinity || (Number.isInteger(maxOverdueHandlers) && maxOverdueHandlers > 0))) throw PeerwardenError.invalid(`maxOverdueHandlers must be a positive integer (or Infinity), got ${String(options.maxOverdueHandlers)}`)
    const notifications = options.notifications ?? 'enable'
    if (!['enable', 'use', 'off'].includes(notifications)) throw PeerwardenError.invalid(`notifications must be 'enable', 'use' or 'off', got ${String(notifications)}`)
    // ioredis is an optional peer dependency, loaded only by an application that queues commands.
    const { Redis: Client } = requireOptional<typeof import('ioredis')>('ioredis', 'the Redis queue (queued commands)')
    this.redis = defineQueueScripts(new Client(url, { lazyConnect: false, maxRetriesPerRequest: 3, commandTimeout: this.commandTimeout }))
    this.trimmer = new AckTrimmer(this.redis, { every: options.trimEvery ?? 100, interval: options.trimInterval ?? 1000 })
    // Reconnects by itself; meanwhile commands fail with the error kept here.
    this.redis.on('error', (err: Error) => { this.socketError = err })
    this.redis.on('ready', () => { this.socketError = undefined })
    this.wakes = new QueueWake({
      server: this.redis.options,
      config: async (...args) => await (this.redis.config as (...a: string[]) => Promise<unknown>)(...args),
      touch: async (key) => { await this.redis.xadd(key, 'MAXLEN', '0', '*', 'probe', '1'); await this.redis.del(key) },
      mode: notifications,
      retryDelay: options.retryDelay ?? 200,
      report: (err) => { this.report(err) }
    })
    this.consumerHost = {
      redis: this.redis,
      address: this.address,
      maxDeliveries: options.maxDeliveries ?? 5,
      maxLength: this.maxLength,
      maxMessageBytes: this.maxMessageBytes,
      retryDelay: options.retryDelay ?? 200,
      pollInterval,
      handlerTimeout,
      maxOverdueHandlers,
      clock: this.clock,
      figures: this.figures,
      wake: (key) => this.wakes.stream(key),
      closed: () => this.closed,
      closing: this.closing.signal,
      acked: (key) => { this.trimmer.acked(key) },
      report: (err) => { this.report(err) },
      failed: (doing, err) => this.failed(doing, err)
    }
  }

  /**
   * Checks that the server is Redis 6.2 or later (once; again after a failure to reach it):
   * ERR_QUEUE_REDIS_VERSION when older, ERR_QUEUE or ERR_TIMEOUT when Redis cannot be asked.
   */
  async start (): Promise<void> {
    if (this.closed) throw PeerwardenError.closed('the queue')
    this.started ??= this.checkVersion().then(() => { this.startedOk = true }, (err: unknown) => {
      if ((err as PeerwardenError).code !== 'ERR_QUEUE_REDIS_VERSION') this.started = undefined
      throw err
    })
    await this.started
  }

  /** `start()`, failing only on a server too old: Redis out of reach, the next command says so itself. */
  private async versionChecked (): Promise<void> {
    try {
      await this.start()
    } catch (err) {
      if ((err as PeerwardenError).code === 'ERR_QUEUE_REDIS_VERSION' || this.closed) throw err
    }
  }

  private async checkVersion (): Promise<void> {
    let info: string
    try {
      info = await this.redis.info('server')
    } catch (err) {
      if ((err as Error).message === 'Command timed out') throw this.timedOut('checking the Redis version', this.commandTimeout)
      // An ACL that refuses INFO, or a server without it: not refused for that.
      if (/NOPERM|unknown command/i.test(String((err as Error).message)) && this.redis.status === 'ready') return
      throw this.failed('cannot check the Redis version', err)
    }
    const problem = redisVersionProblem(this.address, info)
    if (problem !== undefined) throw problem
  }

  /** Where Redis is, as `host:port`. */
  get address (): string { return `${this.redis.options.host ?? '127.0.0.1'}:${this.redis.options.port ?? 6379}` }

  async publish (role: string, command: string, args: unknown, from: string, opts: PublishOptions = {}): Promise<string> {
    if (this.closed) throw PeerwardenError.closed('the queue')
    const what = `${role}.${command}`
    if (opts.signal?.aborted === true) throw new PeerwardenError('ERR_ABORTED', `${what} aborted`, { cause: opts.signal.reason })
    const timeout = Math.min(opts.timeout ?? this.commandTimeout, this.commandTimeout)
    const key = streamKey(role, command)
    const text = JSON.stringify(args ?? null)
    // What the consumers would dead-letter unread is refused here.
    const bytes = Buffer.byteLength(text)
    if (bytes > this.maxMessageBytes) throw new PeerwardenError('ERR_MESSAGE_TOO_LARGE', `cannot queue ${what}: its arguments are ${bytes} bytes of JSON (maxMessageBytes ${this.maxMessageBytes})`)
    // One round-trip, atomic: trims what every group acknowledged if full, then appends or refuses.
    // Until the version check passed, it goes first, within the same timeout; Redis out of reach
    // there, the append says so itself.
    const append = async (): Promise<string | [number, string]> => await this.redis.pwQueuePublish(key, String(this.maxLength), text, from)
    const xadd = this.startedOk ? append() : this.versionChecked().then(append)
    let handle: unknown
    let onAbort: (() => void) | undefined
    const bound = new Promise<never>((_resolve, reject) => {
      handle = this.clock.setTimeout(() => { reject(this.timedOut(what, timeout)) }, Math.max(0, timeout))
      if (opts.signal !== undefined) {
        onAbort = () => { reject(new PeerwardenError('ERR_ABORTED', `${what} aborted (it may still be queued)`, { cause: opts.signal!.reason })) }
        opts.signal.addEventListener('abort', onAbort, { once: true })
      }
    })
    try {
      const reply = await Promise.race([xadd, bound])
      if (typeof reply === 'string') return reply
      throw new PeerwardenError('ERR_BUSY', `cannot queue ${what}: the stream ${key} holds ${reply[0]} messages (maxLength ${this.maxLength}) still needed by its consumer groups: ${reply[1] !== '' ? reply[1] : 'none named'}. Nothing was dropped; retry once they catch up, or forget the group of an instance gone for good (mesh.forgetQueueGroup)`)
    } catch (err) {
      if (err instanceof PeerwardenError) throw err
      if ((err as Error).message === 'Command timed out') throw this.timedOut(what, timeout)
      throw this.failed(`cannot queue ${what}`, err)
    } finally {
      this.clock.clearTimeout(handle)
      if (onAbort !== undefined) opts.signal!.removeEventListener('abort', onAbort)
      xadd.catch(() => { /* settled by the bound first */ })
    }
  }

  /** What the handlers' deadlines counted and how the consumers wait, over every consumer of this queue. */
  stats (): QueueFigures { return { ...this.figures, notifications: this.wakes.figures.notifications, notificationsDropped: this.wakes.figures.dropped, notificationSubscriptions: this.wakes.figures.subscriptions, wakeMode: this.wakes.mode } }

  private get maxLength (): number { return this.options.maxLength ?? 100_000 }

  private get maxMessageBytes (): number { return this.options.maxMessageBytes ?? DEFAULT_QUEUE_MESSAGE_BYTES }

  /**
   * Destroys the consumer group of an instance gone for good (`variant`), which otherwise keeps the
   * stream from being trimmed, then trims. True when there was such a group. Its undelivered and
   * unacknowledged messages are dropped: call it only for an instance that will not come back.
   */
  async forgetGroup (role: string, command: string, variant: string): Promise<boolean> {
    return await forgetGroup(this.redis, streamKey(role, command), `instance:${variant}`, (doing, err) => this.failed(doing, err))
  }

  /** The consumer groups of a command's stream: per group, its pending (delivered, unacknowledged) and unread messages (`lag`, undefined when Redis does not know). */
  async groups (role: string, command: string): Promise<GroupLag[]> {
    return await listGroups(this.redis, streamKey(role, command), (doing, err) => this.failed(doing, err))
  }

  private timedOut (what: string, ms: number): PeerwardenError {
    const reach = this.socketError !== undefined ? `, and cannot reach it (${errorName(this.socketError)})` : ''
    return new PeerwardenError('ERR_TIMEOUT', `Redis at ${this.address} did not answer within ${ms} ms${reach}: ${what} may or may not be queued`)
  }

  /** A Redis failure, as ERR_QUEUE: "cannot reach" when the socket is down, else Redis's own reply. */
  private failed (doing: string, err: unknown): PeerwardenError {
    const down = this.socketError !== undefined || this.redis.status !== 'ready'
    const why = down && this.socketError !== undefined
      ? `cannot reach Redis at ${this.address} (${errorName(this.socketError)})`
      : `Redis at ${this.address}: ${(err as Error).message}`
    return new PeerwardenError('ERR_QUEUE', `${why}: ${doing}`, { cause: err })
  }

  private report (err: PeerwardenError): void {
    try {
      if (this.options.onError !== undefined) this.options.onError(err)
      else process.emitWarning(err)
    } catch { /* a failing reporter must not stop the queue */ }
  }

  /**
   * Creates the instance's consumer group now (so it receives everything published from here on),
   * then consumes. `check` refuses a message before its handler (dead-lettered at once, reported);
   * `timeout` is this command's handler deadline (default `handlerTimeout`).
   */
  async consume (role: string, command: string, variant: string, handler: QueueHandler, check?: QueueCheck, timeout?: number): Promise<void> {
    await this.versionChecked()
    const key = streamKey(role, command)
    const group = `instance:${variant}`
    try {
      await this.redis.xgroup('CREATE', key, group, '$', 'MKSTREAM')
    } catch (err) {
      if ((err as Error).message === 'Command timed out') throw this.timedOut(`creating the consumer group ${group} of ${key}`, this.commandTimeout)
      if (!String((err as Error).message).includes('BUSYGROUP')) throw this.failed(`cannot create the consumer group ${group} of ${key}`, err)
    }
    const reader = defineReadScript(this.redis.duplicate())
    reader.on('error', () => {})
    this.blocking.push(reader)
    // The loop handles what Redis throws; anything else ends this consumer, reported, never an unhandled rejection.
    this.loops.push(consumeStream(this.consumerHost, reader, { key, dead: deadKey(role, command), group, consumer: variant, handler, check, timeout }).catch((err: unknown) => {
      this.report(new PeerwardenError('ERR_QUEUE', `the consumer ${group} of ${key} stopped: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
    }))
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.closing.abort()
    this.trimmer.close()
    this.wakes.close()
    // Disconnected first: a command waiting on a Redis that is down fails now instead of after
    // commandTimeout, so the loops end at once.
    for (const r of this.blocking) r.disconnect()
    this.redis.disconnect()
    await Promise.allSettled(this.loops)
  }
}

function errorName (err: Error & { code?: string }): string {
  return err.code ?? err.message
}
