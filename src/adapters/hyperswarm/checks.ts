/**
 * What `manageSwarm` checks before it touches the swarm: a Hyperswarm instance, not one already
 * managed, options that mean what a Hyperswarm user would think they mean. Each mistake is an
 * `ERR_INVALID_ARGUMENT` naming the argument and what to do.
 */
import { PeerwardenError } from '../../errors.js'
import { DEFAULTS, describe } from '../../manager/validate.js'
import { rejectManagerInstance } from '../../options-mistakes.js'
import type { HyperswarmLike, ManageSwarmOptions } from './types.js'

/** The swarms under a manager now: a second `manageSwarm` would patch the patches. */
const managed = new WeakSet<object>()

/**
 * Checks `swarm` and `options` (see the module comment) and marks the swarm managed until
 * `releaseSwarm`.
 *
 * Rules:
 * - `swarm` must look like a Hyperswarm v4 instance: a key pair, `connections`, `peers`, `join`, `on`.
 * - A swarm already managed is refused: close the first `manageSwarm` (or use its `.manager`).
 * - `options.maxPeers` is the manager's peer-table budget (peers remembered), not Hyperswarm's
 *   `maxPeers`; below `highWater` it is refused (the manager could not remember the peers it is
 *   connected to): the bound on connections is `highWater`.
 */
export function claimSwarm (swarm: unknown, options: ManageSwarmOptions): asserts swarm is HyperswarmLike {
  if (!isSwarm(swarm)) {
    const hint = typeof swarm === 'function' ? ' (the Hyperswarm class? pass an instance: new Hyperswarm())' : ''
    rejectManagerInstance('swarm', swarm, 'manageSwarm')
    throw PeerwardenError.invalid(`swarm must be a Hyperswarm instance (new Hyperswarm()), got ${describe(swarm)}${hint}`)
  }
  if (managed.has(swarm)) {
    throw PeerwardenError.invalid('swarm is already managed: close() the first manageSwarm (or use its .manager) before managing it again')
  }
  const { maxPeers, highWater, lowWater } = options
  if (typeof maxPeers === 'number') {
    const high = typeof highWater === 'number' ? highWater : Math.max(DEFAULTS.highWater, typeof lowWater === 'number' ? lowWater : 0)
    if (maxPeers < high) {
      throw PeerwardenError.invalid(`maxPeers (${maxPeers}) must be >= highWater (${high}): under manageSwarm it is how many peers the manager remembers, not Hyperswarm's maxPeers; to bound the connections, set highWater`)
    }
  }
  managed.add(swarm)
}

/** The swarm is no longer managed (`close()`): it may be managed again. */
export function releaseSwarm (swarm: HyperswarmLike): void {
  managed.delete(swarm)
}

function isSwarm (value: unknown): value is HyperswarmLike {
  if (value == null || typeof value !== 'object') return false
  const s = value as Partial<Record<keyof HyperswarmLike, unknown>>
  const keyPair = s.keyPair as { publicKey?: unknown } | undefined
  return keyPair?.publicKey instanceof Uint8Array && s.connections instanceof Set && s.peers instanceof Map &&
    typeof s.join === 'function' && typeof s.on === 'function'
}
