/**
 * peerwarden/mesh — schema-driven RPC between node roles (the socketmesh design, done right).
 *
 * @module
 */
export { createRegistry, type MeshRegistry, type RegistryOptions, type DirectoryEntry, type RegistryStats } from './registry.js'
export type { NoticeStats } from './registry-types.js'
export { createMeshNode, type MeshNode, type MeshNodeOptions, type MeshEvents } from './mesh-node.js'
export type { ReadyOptions } from './ready.js'
export type { TypedEventTarget, TypedListener } from '../manager/events.js'
export { defineSchema, Schema, type MeshSchema, type RoleSpec, type CommandSpec, type CommandObject, type CallContext, type CallOptions, type Handler, type MeshCalls, type BroadcastEntry, type CommandCall } from './schema.js'
export type { Certificate } from './certificate.js'
export type { MemberStatus } from './registry-status.js'
export type { HealthReport } from './messages.js'
export { PeerwardenError } from '../errors.js'
export type { MeshStats } from './types.js'
export type { BreakerOptions, BreakerState } from './breaker.js'
export type { BreakerFigures } from './caller.js'
export type { CommandFigures } from './metrics.js'
export type { RetryOptions } from './retry.js'
export { parseTraceparent } from './trace.js'
export type { MeshTracer } from './otel.js'
export { registerMeshMetrics, type MetricsRegistry } from './prometheus.js'
