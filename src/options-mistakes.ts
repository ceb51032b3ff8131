import { PeerwardenError } from './errors.js'

/**
 * Refuses a `ConnectionManager` (or a managed swarm, a node: anything holding one) passed where
 * options are expected — `createNode({ manager: createConnectionManager(…) })`, `peerwarden(manager)`
 * — by `name`, saying what to pass instead. Without it the manager's methods came out as a list of
 * unknown options. Every entry point makes its own manager from the options; its `manager` property
 * is that manager.
 */
export function rejectManagerInstance (name: string, value: unknown, makes: string): void {
  if (!isManagerLike(value)) return
  throw PeerwardenError.invalid(`${name} must be options, not a connection manager: ${makes} makes its own manager from the options (lowWater, highWater, …) and exposes it as .manager`)
}

/** A connection manager, or an object that holds one (a node, a managed swarm) and is no options bag. */
function isManagerLike (value: unknown): boolean {
  if (value == null || typeof value !== 'object') return false
  const v = value as Record<string, unknown>
  const manager = (typeof v.addPeers === 'function' && typeof v.listConnections === 'function') ||
    (v.manager != null && typeof v.manager === 'object' && typeof (v.manager as Record<string, unknown>).addPeers === 'function')
  return manager && typeof v.close === 'function'
}
