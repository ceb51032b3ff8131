/**
 * peerwarden/node — a runnable peer: TCP + Noise transport, identity, topics, rendezvous, store on disk.
 *
 * @module
 */
export { createNode, type NodeOptions, type PeerNode, type NodeEvents } from './node.js'
export type { TypedEventTarget, TypedListener } from '../manager/events.js'
export { discoveryKey } from './discovery.js'
export { HINT_LIMITS_DEFAULTS, FAILED_DIAL_LIMITS_DEFAULTS, type HintLimits, type FailedDialLimits } from './budget-options.js'
export { PeerwardenError } from '../errors.js'
