import type { ConnectionManager } from '../../manager/types.js'
import { hex } from './keys.js'
import type { SwarmPatches } from './patches.js'
import type { HyperswarmLike } from './types.js'

/**
 * `options.topicQuota` on a managed swarm: the quota is set for every topic the swarm joins.
 *
 * Rules:
 * - Topics joined before `manageSwarm` get it at once; `join` sets it, `leave` removes it, and
 *   `clear()` (which leaves every topic without calling `leave`) removes every topic's.
 * - Nothing after `closed()`; the patches are undone with the adapter's others (`patches.restore()`).
 */
export function installTopicQuotas (swarm: HyperswarmLike, patches: SwarmPatches, manager: ConnectionManager, quota: { min: number; max?: number }, closed: () => boolean): void {
  for (const topic of swarm._discovery?.keys() ?? []) manager.setTopicQuota(topic, quota)
  patches.patch('join', (original) => (topic, opts) => {
    const session = original(topic, opts)
    if (!closed()) manager.setTopicQuota(hex(topic), quota)
    return session
  })
  patches.patch('leave', (original) => async (topic) => {
    if (!closed() && topic != null) manager.setTopicQuota(hex(topic), undefined)
    await original(topic)
  })
  if (swarm.clear !== undefined) {
    patches.patch('clear', (original) => async () => {
      if (!closed()) for (const topic of swarm._discovery?.keys() ?? []) manager.setTopicQuota(topic, undefined)
      return await original()
    })
  }
}
