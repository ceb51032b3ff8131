/**
 * peerwarden/mesh — schema-driven RPC between node roles (the socketmesh design, done right).
 */
export { createRegistry, type MeshRegistry, type RegistryOptions, type DirectoryEntry } from './registry.js'
export { createMeshNode, type MeshNode, type MeshNodeOptions, type MeshEvents } from './mesh-node.js'
export type { ReadyOptions } from './ready.js'
export type { TypedEventTarget, TypedListener } from '../manager/events.js'
export { defineSchema, Schema, type MeshSchema, type RoleSpec, type CommandSpec, type CommandObject, type CallContext, type CallOptions, type Handler, type MeshCalls, type BroadcastEntry, type CommandCall } from './schema.js'
export type { Certificate } from './certificate.js'
export type { MemberStatus } from './registry-status.js'
export { PeerwardenError } from '../errors.js'
