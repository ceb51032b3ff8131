import { Redis } from 'ioredis'
import { PeerwardenError } from '../errors.js'

export interface QueueOptions {
  /** After this many failed deliveries a message goes to the dead-letter stream. Default 5. */
  maxDeliveries?: number
  /** Streams are trimmed to about this many entries. Default 100_000. */
  maxLength?: number
  /** Wait before retrying a message whose handler failed, ms. Default 200. */
  retryDelay?: number
}

/** The stream of a queued command, and its dead-letter stream. */
export function streamKey (role: string, command: string): string { return `peerwarden:queue:${role}:${command}` }
export function deadKey (role: string, command: string): string { return `${streamKey(role, command)}:dead` }

/**
 * Queued broadcast commands on Redis Streams: at least once, in order, surviving a restart.
 *
 * Rules:
 * - `publish` appends the message to the command's stream (XADD); it is durable once that returns.
 * - Every instance of the receiving role has its own consumer group (named after its variant), created
 *   when the instance starts, so every instance receives every message published after that.
 * - An instance handles its messages one at a time, in stream order, and acknowledges (XACK) only after
 *   its handler succeeded. After a crash, the instance restarted with the same variant first re-reads
 *   what it had received but not acknowledged, so nothing is lost and only unacknowledged messages
 *   are delivered again.
 * - A message whose handler fails is retried (in order: nothing after it runs first); after
 *   `maxDeliveries` attempts it moves to the dead-letter stream `<stream>:dead` and is acknowledged.
 */
export class RedisQueue {
  private readonly redis: Redis
  private readonly blocking: Redis[] = []
  private closed = false
  private readonly loops: Array<Promise<void>> = []

  constructor (url: string, private readonly options: QueueOptions = {}) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 })
    this.redis.on('error', () => { /* reconnects; commands fail with a clear error meanwhile */ })
  }

  async publish (role: string, command: string, args: unknown, from: string): Promise<string> {
    if (this.closed) throw PeerwardenError.closed('the queue')
    try {
      const id = await this.redis.xadd(streamKey(role, command), 'MAXLEN', '~', String(this.options.maxLength ?? 100_000), '*',
        'args', JSON.stringify(args ?? null), 'from', from)
      return id ?? ''
    } catch (err) {
      throw new PeerwardenError('ERR_QUEUE', `cannot queue ${role}.${command}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Creates the instance's consumer group now (so it receives everything published from here on), then consumes. */
  async consume (role: string, command: string, variant: string, handler: (args: unknown, meta: { id: string; from: string }) => Promise<void>): Promise<void> {
    const key = streamKey(role, command)
    const group = `instance:${variant}`
    try {
      await this.redis.xgroup('CREATE', key, group, '$', 'MKSTREAM')
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw new PeerwardenError('ERR_QUEUE', `cannot create the consumer group of ${key}: ${(err as Error).message}`, { cause: err })
    }
    const reader = this.redis.duplicate()
    reader.on('error', () => {})
    this.blocking.push(reader)
    this.loops.push(this.loop(reader, role, command, key, group, variant, handler))
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const r of this.blocking) r.disconnect()
    await Promise.allSettled(this.loops)
    this.redis.disconnect()
  }

  private async loop (reader: Redis, role: string, command: string, key: string, group: string, consumer: string,
    handler: (args: unknown, meta: { id: string; from: string }) => Promise<void>): Promise<void> {
    const maxDeliveries = this.options.maxDeliveries ?? 5
    let backlog = true // first what we received before a crash and never acknowledged
    while (!this.closed) {
      let entries: Array<[string, string[]]>
      try {
        const res = await reader.xreadgroup('GROUP', group, consumer, 'COUNT', 32, 'BLOCK', 1000, 'STREAMS', key, backlog ? '0' : '>') as Array<[string, Array<[string, string[]]>]> | null
        entries = res?.[0]?.[1] ?? []
      } catch {
        if (this.closed) return
        await delay(this.options.retryDelay ?? 200)
        continue
      }
      if (backlog && entries.length === 0) { backlog = false; continue }
      for (const [id, fields] of entries) {
        if (this.closed) return
        const f = toMap(fields)
        let ok = false
        try {
          await handler(JSON.parse(f.get('args') ?? 'null'), { id, from: f.get('from') ?? '' })
          ok = true
        } catch {
          ok = false
        }
        if (this.closed) return
        if (ok) {
          await this.redis.xack(key, group, id)
          continue
        }
        const info = await this.redis.xpending(key, group, id, id, 1) as Array<[string, string, number, number]>
        const deliveries = info[0]?.[3] ?? maxDeliveries
        if (deliveries >= maxDeliveries) {
          await this.redis.xadd(deadKey(role, command), '*', 'id', id, 'args', f.get('args') ?? 'null', 'from', f.get('from') ?? '', 'group', group)
          await this.redis.xack(key, group, id)
          continue
        }
        // In order: nothing after a failed message runs before it; read our pending ones again.
        backlog = true
        await delay(this.options.retryDelay ?? 200)
        break
      }
    }
  }
}

function toMap (fields: string[]): Map<string, string> {
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i], fields[i + 1])
  return m
}

async function delay (ms: number): Promise<void> { await new Promise((resolve) => { setTimeout(resolve, ms) }) }
