import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { clip, errorText, MAX_ERROR_MESSAGE, MAX_ROLE_LENGTH, MAX_VARIANT_LENGTH } from './messages.js'
import { HandlerDeadline, type DeadlineFigures } from './queue-deadline.js'
import { ENTRY_SLACK_BYTES, OVERSIZED_FIELD, type ReadScript } from './redis-queue-read.js'
import { NOTIFIED_POLL, type StreamWake } from './redis-queue-wake.js'

/**
 * A queued command's handler: the message's arguments, its stream id, who published it, and its
 * deadline (`signal` aborts with ERR_TIMEOUT at `deadline`, a clock time in ms; ./queue-deadline.ts).
 */
export type QueueHandler = (args: unknown, meta: { id: string; from: string; signal: AbortSignal; deadline: number }) => Promise<void>

/**
 * The consumer's own rule for a decoded message (the schema's, for a mesh node): the arguments the
 * handler gets, or why the message is refused (dead-lettered at once: it would be refused again).
 */
export type QueueCheck = (args: unknown, from: string) => { value: unknown } | { refused: string }

/**
 * What the read loop needs of an ioredis client, spelled out here so that its declarations do not
 * name ioredis (an optional dependency, absent from many installs).
 */
export interface ConsumerClient {
  xack: (key: string, group: string, id: string) => Promise<unknown>
  xpending: (key: string, group: string, start: string, end: string, count: number) => Promise<unknown>
  xadd: (key: string, maxlen: 'MAXLEN', approx: '~', length: string, id: '*', ...fields: string[]) => Promise<unknown>
  xgroup: (subcommand: 'CREATE', key: string, group: string, id: string, mkstream: 'MKSTREAM') => Promise<unknown>
}

/** What a consumer's read loop uses of its queue (./redis-queue.ts). */
export interface ConsumerHost {
  /** The queue's command connection (acknowledgements, dead letters, group creation). */
  readonly redis: ConsumerClient
  readonly address: string
  readonly maxDeliveries: number
  readonly maxLength: number
  /** The largest `args` field parsed, bytes (UTF-8). */
  readonly maxMessageBytes: number
  readonly retryDelay: number
  /** The longest wait between two reads of an idle stream, ms (`QueueOptions.pollInterval`). */
  readonly pollInterval: number
  /** A handler's deadline, ms (`QueueOptions.handlerTimeout`), unless its target has its own. */
  readonly handlerTimeout: number
  /** Handlers past their deadline a consumer lets run before it takes no new message (`QueueOptions.maxOverdueHandlers`). */
  readonly maxOverdueHandlers: number
  readonly clock: Clock
  /** What the deadlines count, and the reads (`RedisQueue.stats()`). */
  readonly figures: DeadlineFigures & { reads: number }
  /** The wake-ups of stream `key` (./redis-queue-wake.ts). */
  wake: (key: string) => StreamWake
  closed(): boolean
  /** Aborts when the queue closes (handlers' signals abort with it). */
  readonly closing: AbortSignal
  /** A message of `key` was acknowledged (the trimmer counts it). */
  acked(key: string): void
  /** A problem survived (`onError`). */
  report(err: PeerwardenError): void
  /** A Redis failure, as ERR_QUEUE. */
  failed(doing: string, err: unknown): PeerwardenError
}

/** One consumer: the stream it reads, its group, its name in the group, the dead-letter stream and the handler. */
export interface ConsumerTarget {
  readonly key: string
  readonly dead: string
  readonly group: string
  readonly consumer: string
  readonly handler: QueueHandler
  readonly check?: QueueCheck | undefined
  /** This command's handler deadline, ms (default: the host's `handlerTimeout`). */
  readonly timeout?: number | undefined
}

/** The first wait after a read that found nothing, ms; it doubles up to `pollInterval` while the stream stays idle. */
const FIRST_IDLE_WAIT = 5

/**
 * One consumer's read loop, on its own connection `reader` (the read script, ./redis-queue-read.ts),
 * idle until its stream's keyspace notification (./redis-queue-wake.ts) or polling where there are none, until the queue closes: the
 * delivery rules of `RedisQueue` (./redis-queue.ts) — backlog first, in order, acknowledged after the
 * handler, retried, dead-lettered after `maxDeliveries`, a lost group recreated. Handles what Redis
 * throws; rejects only on a bug.
 */
export async function consumeStream (host: ConsumerHost, reader: ReadScript, target: ConsumerTarget): Promise<void> {
  const { key, group, consumer } = target
  let backlog = true // first what we received before a crash and never acknowledged
  let failing = false // reported once per outage
  const deadline = new HandlerDeadline(host.clock, target.timeout ?? host.handlerTimeout, host.figures, host.closing, host.maxOverdueHandlers, (late) => {
    host.report(new PeerwardenError('ERR_BUSY', `the consumer ${group} of ${key} holds ${late} handlers past their deadline that ignore their signal (maxOverdueHandlers ${host.maxOverdueHandlers}): it takes no new message until one ends; the messages wait in the stream`))
  })
  let idle = 0 // the wait before the next read of an idle stream
  const wake = host.wake(key)
  while (!host.closed()) {
    let entries: Array<[string, string[] | null]>
    const seen = wake.seq
    host.figures.reads++
    try {
      // Sized on the server (./redis-queue-read.ts): an oversized entry never leaves Redis.
      entries = await orClosed(host, reader.pwQueueRead(key, group, consumer, 32, backlog ? '0' : '>', host.maxMessageBytes + ENTRY_SLACK_BYTES)) ?? []
      failing = false
    } catch (err) {
      if (host.closed()) return
      if (String((err as Error).message).startsWith('NOGROUP')) {
        await recreateGroup(host, key, group, err)
        backlog = true
        continue
      }
      if (!failing) host.report(host.failed(`cannot read ${key} for ${group}, retrying`, err))
      failing = true
      await delay(host.retryDelay)
      continue
    }
    if (backlog && entries.length === 0) { backlog = false; continue }
    if (entries.length === 0) {
      if (wake.notifying) {
        // Woken by a notification of the stream (or NOTIFIED_POLL, a safety net); one that came
        // during the read is not lost: the count moved.
        idle = 0
        if (wake.seq === seen) await wake.wait(NOTIFIED_POLL)
        continue
      }
      // No BLOCK in a script, no notifications: poll, backing off to pollInterval while idle.
      idle = Math.min(host.pollInterval, idle === 0 ? FIRST_IDLE_WAIT : idle * 2)
      await wake.wait(idle)
      continue
    }
    idle = 0
    try {
      for (const [id, fields] of entries) {
        if (host.closed()) return
        if (fields === null) {
          // Delivered to us, then removed from the stream by someone else (an operator's XTRIM or
          // XDEL; the queue never trims what a group still needs): nothing is left to run. Acknowledged (else every backlog read returns it), reported.
          await orClosed(host, host.redis.xack(key, group, id))
          host.report(new PeerwardenError('ERR_QUEUE_TRIMMED', `message ${id} of ${key} was trimmed or deleted from the stream outside the queue (XTRIM, XDEL) before ${group} handled it: it is lost`))
          continue
        }
        const entry = decodeEntry(toMap(fields), host.maxMessageBytes)
        if ('why' in entry) {
          // Not what our publisher writes (another writer on the stream): no handler runs it, and
          // running it again would not change that.
          await deadLetter(host, target, id, entry.fields, entry.why, 'it does not decode')
          continue
        }
        const checked = target.check?.(entry.args, entry.from)
        if (checked !== undefined) {
          if ('refused' in checked) {
            await deadLetter(host, target, id, new Map([['args', entry.text], ['from', entry.from]]), checked.refused, 'refused')
            continue
          }
          entry.args = checked.value
        }
        if (!await handleOne(host, target, deadline, id, entry)) {
          // In order: nothing after a failed message runs before it; read our pending ones again.
          backlog = true
          await delay(host.retryDelay)
          break
        }
      }
    } catch (err) {
      // Redis failed while acknowledging (or dead-lettering): the message is still pending for
      // us, so it is read again (at least once) once Redis answers.
      if (host.closed()) return
      if (!failing) host.report(host.failed(`cannot acknowledge a message of ${key} for ${group}, retrying`, err))
      failing = true
      backlog = true
      await delay(host.retryDelay)
    }
  }
}

/** A stream entry as our publisher writes it: `args` (JSON) and `from` ('role/variant'). */
interface Entry { args: unknown; from: string; text: string }

/** The longest `from` our publisher writes: a role, '/', a variant. */
const MAX_FROM = MAX_ROLE_LENGTH + 1 + MAX_VARIANT_LENGTH

/**
 * The decoder of a stream entry (any writer may append to the stream): `args` a string of at most
 * `maxBytes` bytes holding one JSON text, `from` a string of at most `MAX_FROM` characters. What
 * does not decode says why; its fields come back (for the dead letter) with an oversized `args` left out.
 */
export function decodeEntry (f: Map<string, string>, maxBytes: number): Entry | { why: string; fields: Map<string, string> } {
  const oversized = f.get(OVERSIZED_FIELD)
  if (oversized !== undefined) return { why: `an entry of ${oversized} bytes, over its args' maxMessageBytes ${maxBytes} with ${ENTRY_SLACK_BYTES} for the rest (sized in Redis, never read; left out of the dead letter)`, fields: new Map() }
  const text = f.get('args')
  const from = f.get('from')
  const refuse = (why: string): { why: string; fields: Map<string, string> } => ({ why, fields: f })
  if (text === undefined) return refuse('no args field')
  if (from === undefined) return refuse('no from field')
  if (from.length > MAX_FROM) return refuse(`a from field of ${from.length} characters (at most ${MAX_FROM})`)
  if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
    const kept = new Map(f)
    kept.delete('args')
    return { why: `an args field of ${Buffer.byteLength(text)} bytes (maxMessageBytes ${maxBytes}; left out of the dead letter)`, fields: kept }
  }
  try {
    return { args: JSON.parse(text), from, text }
  } catch {
    return refuse('an args field that is not JSON')
  }
}

/**
 * Runs the handler on one message and acknowledges it, or dead-letters it after `maxDeliveries`.
 * False when it failed and is to be retried; throws only what Redis throws.
 */
async function handleOne (host: ConsumerHost, target: ConsumerTarget, deadline: HandlerDeadline, id: string, entry: Entry): Promise<boolean> {
  const { redis } = host
  const { key, group } = target
  const outcome = await deadline.run(id, async (signal, at) => { await target.handler(entry.args, { id, from: entry.from, signal, deadline: at }) })
  if (host.closed()) return true
  if (outcome.ok) {
    await orClosed(host, redis.xack(key, group, id))
    host.acked(key)
    return true
  }
  const failure = outcome.error
  const info = await orClosed(host, redis.xpending(key, group, id, id, 1)) as Array<[string, string, number, number]>
  const deliveries = info[0]?.[3] ?? host.maxDeliveries
  if (deliveries < host.maxDeliveries) return false
  deadline.forget(id)
  await deadLetter(host, target, id, new Map([['args', entry.text], ['from', entry.from]]), errorText(failure), `its handler failed ${deliveries} times (maxDeliveries ${host.maxDeliveries})`)
  return true
}

/**
 * Moves entry `id` to the dead-letter stream (its fields, the group, and `error`: why), acknowledges
 * it, and reports it (ERR_QUEUE_DEAD_LETTER): a dead letter is never silent. Throws only what Redis throws.
 */
async function deadLetter (host: ConsumerHost, target: ConsumerTarget, id: string, fields: Map<string, string>, error: string, because: string): Promise<void> {
  const { key, group } = target
  const why = clip(error, MAX_ERROR_MESSAGE)
  const out: string[] = ['id', id]
  for (const name of ['args', 'from']) {
    const value = fields.get(name)
    if (value !== undefined) out.push(name, value)
  }
  out.push('group', group, 'error', why)
  await orClosed(host, host.redis.xadd(target.dead, 'MAXLEN', '~', String(host.maxLength), '*', ...out))
  await orClosed(host, host.redis.xack(key, group, id))
  host.acked(key)
  host.report(new PeerwardenError('ERR_QUEUE_DEAD_LETTER', `message ${id} of ${key} went to ${target.dead} for ${group}: ${because}: ${why}`))
}

/**
 * The group is gone (NOGROUP): made again from the start of the stream, so that what was published
 * since (say, after Redis restarted empty) is delivered. Reported, never silent.
 */
async function recreateGroup (host: ConsumerHost, key: string, group: string, cause: unknown): Promise<void> {
  try {
    await orClosed(host, host.redis.xgroup('CREATE', key, group, '0', 'MKSTREAM'))
  } catch (err) {
    // Another instance of ours (same variant) made it first: fine. Anything else: the next read retries.
    if (host.closed()) return
    if (!String((err as Error).message).includes('BUSYGROUP')) {
      host.report(host.failed(`cannot recreate the consumer group ${group} of ${key}`, err))
      await delay(host.retryDelay)
      return
    }
  }
  host.report(new PeerwardenError('ERR_QUEUE_GROUP_LOST', `the consumer group ${group} of ${key} on Redis at ${host.address} was gone (Redis restarted without persistence?): recreated it from the start of the stream; messages still in the stream are delivered, some perhaps again`, { cause }))
}

/**
 * `p`, or ERR_CLOSED as soon as the queue closes: a command sent to a Redis that is down waits in
 * ioredis's offline queue until commandTimeout even after `disconnect()`, and `close()` waits for the loops.
 */
async function orClosed<T> (host: ConsumerHost, p: Promise<T>): Promise<T> {
  const closing = host.closing
  if (closing.aborted) { p.catch(() => {}); throw PeerwardenError.closed('the queue') }
  let onAbort: (() => void) | undefined
  const closed = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(PeerwardenError.closed('the queue')) }
    closing.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([p, closed])
  } finally {
    closing.removeEventListener('abort', onAbort!)
    p.catch(() => { /* settled by the close first */ })
  }
}

function toMap (fields: string[]): Map<string, string> {
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i], fields[i + 1])
  return m
}

async function delay (ms: number): Promise<void> { await new Promise((resolve) => { setTimeout(resolve, ms) }) }
