import type { Clock } from '../manager/types.js'
import type { Instance } from './instance.js'
import type { RedisQueue } from './redis-queue.js'
import type { BroadcastEntry, Command } from './schema.js'

/** What a broadcast needs of its caller (caller.ts). */
export interface BroadcastHost {
  /** The instances connected now, by peer. */
  readonly instances: ReadonlyMap<string, Instance>
  /** Redis for queued broadcasts; undefined = in memory. */
  readonly queue: RedisQueue | undefined
  /** Who publishes to the queue: 'role/variant'. */
  readonly from: string
  readonly clock: Clock
  /** Sends the call to one instance (not balanced: no breaker counts it); settles as that call does. */
  sendTo: (instance: Instance, command: Command, args: unknown, deadline: number, trace: string | undefined, signal: AbortSignal | undefined) => Promise<unknown>
}

/**
 * A broadcast call of `command` to the instances of `role`.
 *
 * Rules:
 * - Queued with Redis: published to the command's stream (durable: every instance's group gets it,
 *   even one that is down right now); settles once Redis has it, within the call's deadline.
 * - Otherwise every instance connected at send time, except a draining one (it takes no new call:
 *   it is no longer one of "every instance"). Without `responds` the first failure rejects the call;
 *   with it, one settled entry per instance, in the order they were sent to.
 */
export async function broadcast (host: BroadcastHost, role: string, command: Command, args: unknown, deadline: number, signal: AbortSignal | undefined, trace: string | undefined): Promise<unknown> {
  if (command.queued && host.queue !== undefined) {
    await host.queue.publish(role, command.name, args, host.from, { timeout: Math.max(0, deadline - host.clock.now()), ...(signal !== undefined ? { signal } : {}) })
    return undefined
  }
  const all = [...host.instances.values()].filter((i) => i.role === role && !i.draining)
  const settled = await Promise.allSettled(all.map(async (i) => await host.sendTo(i, command, args, deadline, trace, signal)))
  if (!command.responds) {
    const failure = settled.find((s) => s.status === 'rejected')
    if (failure !== undefined) throw (failure as PromiseRejectedResult).reason
    return undefined
  }
  return settled.map((s, k): BroadcastEntry<unknown> => s.status === 'fulfilled'
    ? { variant: all[k].variant, ok: true, value: s.value }
    : { variant: all[k].variant, ok: false, error: s.reason as Error })
}
