/**
 * Lua helpers shared by the queue's scripts. `trim(key)` removes from the stream every entry that
 * no consumer group still needs: per group, its oldest pending (delivered, unacknowledged) entry,
 * else the entry after its last-delivered id; the stream keeps everything from the oldest of those
 * on (XTRIM MINID, exact). A stream without groups is emptied: nobody can ever read those entries
 * (a group starts at the end of the stream).
 */
const HELPERS = `
local function parse (id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq), ms
end
local function less (a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local function after (id)
  local _, seq, ms = parse(id)
  return ms .. '-' .. string.format('%d', seq + 1)
end
local function field (g, name)
  for i = 1, #g, 2 do if g[i] == name then return g[i + 1] end end
  return false
end
local function trim (key)
  local groups = redis.call('XINFO', 'GROUPS', key)
  if #groups == 0 then return redis.call('XTRIM', key, 'MAXLEN', 0) end
  local need = false
  for _, g in ipairs(groups) do
    local oldest = redis.call('XPENDING', key, field(g, 'name'))[2]
    if not oldest then oldest = after(field(g, 'last-delivered-id')) end
    if not need or less(oldest, need) then need = oldest end
  end
  return redis.call('XTRIM', key, 'MINID', need)
end
`

/**
 * publish: KEYS[1] the stream; ARGV maxLength, args, from. Appends the message (its id as reply);
 * when the stream already holds maxLength entries it first trims what every group has acknowledged,
 * and when it is still full appends nothing and replies `{length, "group (n pending, m unread), …"}`.
 */
const PUBLISH = `${HELPERS}
local max = tonumber(ARGV[1])
if redis.call('XLEN', KEYS[1]) >= max then
  trim(KEYS[1])
  local n = redis.call('XLEN', KEYS[1])
  if n >= max then
    local lagging = {}
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
      local pending, lag = field(g, 'pending'), field(g, 'lag')
      if pending ~= 0 or lag ~= 0 then
        lagging[#lagging + 1] = field(g, 'name') .. ' (' .. pending .. ' pending, ' .. (lag and lag or 'unknown') .. ' unread)'
      end
    end
    return { n, table.concat(lagging, ', ') }
  end
end
return redis.call('XADD', KEYS[1], '*', 'args', ARGV[2], 'from', ARGV[3])
`

/** trim: KEYS[1] the stream. Replies how many entries were removed. */
const TRIM = `${HELPERS}
return trim(KEYS[1])
`

/** The queue's scripts on a client (ioredis sends EVALSHA, and EVAL when Redis lost the script). */
export interface QueueScripts {
  pwQueuePublish: (key: string, maxLength: string, args: string, from: string) => Promise<string | [number, string]>
  pwQueueTrim: (key: string) => Promise<number>
}

/**
 * What this file needs of an ioredis client, spelled out here so that its declarations do not
 * name ioredis (an optional dependency, absent from many installs).
 */
export interface QueueClient {
  defineCommand: (name: string, definition: { numberOfKeys: number; lua: string }) => void
  xgroup: (subcommand: 'DESTROY', key: string, group: string) => Promise<unknown>
  xinfo: (subcommand: 'GROUPS', key: string) => Promise<unknown>
}

/** Defines the queue's scripts on `redis`; returns it typed with them. */
export function defineQueueScripts<R extends QueueClient> (redis: R): R & QueueScripts {
  redis.defineCommand('pwQueuePublish', { numberOfKeys: 1, lua: PUBLISH })
  redis.defineCommand('pwQueueTrim', { numberOfKeys: 1, lua: TRIM })
  return redis as R & QueueScripts
}

/** When acknowledged messages are trimmed: after `every` acks on a stream, or `interval` ms after its first untrimmed ack. */
export interface TrimPolicy {
  every: number
  interval: number
}

/**
 * Batches the trimming of acknowledged messages: one XTRIM per stream after `every` acks or
 * `interval` ms, never one per message. A failed trim is left to the next one (and publish trims a
 * full stream itself), so nothing here can fail the consumer.
 */
export class AckTrimmer {
  private readonly counts = new Map<string, number>()
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private closed = false

  constructor (private readonly redis: QueueScripts, private readonly policy: TrimPolicy) {}

  /** One message of `key` was acknowledged. */
  acked (key: string): void {
    if (this.closed) return
    const n = (this.counts.get(key) ?? 0) + 1
    this.counts.set(key, n)
    if (n >= this.policy.every) { this.run(key); return }
    if (!this.timers.has(key)) {
      const timer = setTimeout(() => { this.run(key) }, this.policy.interval)
      timer.unref?.()
      this.timers.set(key, timer)
    }
  }

  /** Trims `key` now (after an ack batch, or when a group is forgotten). */
  run (key: string): void {
    clearTimeout(this.timers.get(key))
    this.timers.delete(key)
    this.counts.delete(key)
    if (this.closed) return
    this.redis.pwQueueTrim(key).catch(() => { /* retried by the next batch, or by a publish to a full stream */ })
  }

  close (): void {
    this.closed = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }
}

/** One consumer group of a stream: its pending (delivered, unacknowledged) and unread (`lag`, undefined when Redis does not know) messages. */
export interface GroupLag {
  group: string
  pending: number
  lag: number | undefined
}

/** How the queue turns a Redis failure into its PeerwardenError. */
type Failed = (doing: string, err: unknown) => Error

/** XGROUP DESTROY `group` of `key`, then trims what no remaining group needs. False when there was no such group. */
export async function forgetGroup (redis: QueueClient & QueueScripts, key: string, group: string, failed: Failed): Promise<boolean> {
  try {
    const n = await redis.xgroup('DESTROY', key, group)
    await redis.pwQueueTrim(key)
    return Number(n) > 0
  } catch (err) {
    if (String((err as Error).message).includes('no such key')) return false
    throw failed(`cannot forget the consumer group ${group} of ${key}`, err)
  }
}

/** The consumer groups of `key` (XINFO GROUPS); none when the stream does not exist. */
export async function listGroups (redis: QueueClient, key: string, failed: Failed): Promise<GroupLag[]> {
  let raw: unknown[][]
  try {
    raw = await redis.xinfo('GROUPS', key) as unknown[][]
  } catch (err) {
    if (String((err as Error).message).includes('no such key')) return []
    throw failed(`cannot list the consumer groups of ${key}`, err)
  }
  return raw.map((g) => {
    const f = new Map<string, unknown>()
    for (let i = 0; i + 1 < g.length; i += 2) f.set(String(g[i]), g[i + 1])
    const lag = f.get('lag')
    return { group: String(f.get('name')), pending: Number(f.get('pending') ?? 0), lag: lag === null || lag === undefined ? undefined : Number(lag) }
  })
}
