/**
 * peerwarden/node — a runnable peer: TCP + Noise transport, identity, topics, rendezvous, store on disk.
 */
export { createNode, type NodeOptions, type PeerNode } from './node.js'
export { discoveryKey } from './discovery.js'
export { PeerwardenError } from '../errors.js'
