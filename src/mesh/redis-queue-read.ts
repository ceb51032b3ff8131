/**
 * The consumer's read, sized on the server: XREADGROUP runs inside a script that measures every entry
 * before anything leaves Redis, so an entry far over `maxMessageBytes` (another writer can append one
 * of up to 512 MB per field) is never sent to the process. Redis refuses BLOCK inside a script: an
 * idle consumer waits for its stream's keyspace notification instead (./redis-queue-wake.ts), or
 * polls where there are none (./redis-queue-consumer.ts).
 */

/** The field that stands for an oversized entry's fields in what the read script returns: its size in bytes follows. */
export const OVERSIZED_FIELD = '\u0000oversized'

/** Bytes an entry may hold on top of `maxBytes` for its `args`: `from` and the field names, with room. */
export const ENTRY_SLACK_BYTES = 4096

/**
 * read: KEYS[1] the stream; ARGV group, consumer, count, id ('0' for our pending entries, '>' for new
 * ones), the largest entry in bytes. XREADGROUP as the client would get it, except that an entry whose
 * fields (names and values) add up to more than the largest comes back as `{id, {OVERSIZED_FIELD, size}}`.
 * Delivered all the same (pending for us until acknowledged), so it is dead-lettered in order.
 */
const READ = `
local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], ARGV[4])
if not res then return {} end
local max = tonumber(ARGV[5])
local entries = res[1][2]
for _, e in ipairs(entries) do
  local f = e[2]
  if f then
    local size = 0
    for i = 1, #f do size = size + #f[i] end
    if size > max then e[2] = { '\\0oversized', tostring(size) } end
  end
end
return entries
`

/** An entry as the read script returns it: its id and fields (null: deleted from the stream after it was delivered). */
export type ReadEntry = [string, string[] | null]

/** The read script on a client (ioredis sends EVALSHA, and EVAL when Redis lost the script). */
export interface ReadScript {
  pwQueueRead: (key: string, group: string, consumer: string, count: number, id: string, maxEntryBytes: number) => Promise<ReadEntry[]>
}

/** Defines the read script on `redis` (the consumer's reader); returns it typed with it. */
export function defineReadScript<R extends { defineCommand: (name: string, definition: { numberOfKeys: number; lua: string }) => void }> (redis: R): R & ReadScript {
  redis.defineCommand('pwQueueRead', { numberOfKeys: 1, lua: READ })
  return redis as R & ReadScript
}
