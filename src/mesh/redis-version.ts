import { PeerwardenError } from '../errors.js'

/**
 * The oldest Redis the queue runs on, and why: XTRIM and XADD with MINID (6.2) trim what every
 * consumer group acknowledged; XAUTOCLAIM-free reads, Lua scripts (EVALSHA) and XINFO GROUPS are older.
 */
export const MIN_REDIS_VERSION = '6.2.0'

/** What a server's `INFO server` reply says its Redis version is (`redis_version:`), or undefined. */
export function redisVersionOf (info: string): string | undefined {
  const m = /^redis_version:([0-9]+(?:\.[0-9]+){0,2})\S*\s*$/m.exec(info)
  return m?.[1]
}

/** Whether dotted version `a` is older than `b` (missing parts count as 0: `6.2` = `6.2.0`). */
export function olderThan (a: string, b: string): boolean {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) {
    const x = pa[i] ?? 0
    const y = pb[i] ?? 0
    if (x !== y) return x < y
  }
  return false
}

/**
 * The error for a server older than MIN_REDIS_VERSION (undefined when it is recent enough, or does
 * not say: a server that hides its version, INFO refused by an ACL say, is not refused for that).
 * Code ERR_QUEUE_REDIS_VERSION; the message names the address, what was found and what is needed.
 */
export function redisVersionProblem (address: string, info: string): PeerwardenError | undefined {
  const found = redisVersionOf(info)
  if (found === undefined || !olderThan(found, MIN_REDIS_VERSION)) return undefined
  return new PeerwardenError('ERR_QUEUE_REDIS_VERSION', `Redis at ${address} is version ${found}; the queue needs Redis ${MIN_REDIS_VERSION} or later (XADD and XTRIM with MINID): upgrade the server, or leave out the redis option (an in-memory queue, at most once)`)
}
