/**
 * Hand-made peers for the attack and fuzz suites: plain peerwarden nodes that speak the mesh's
 * channels by hand, with raw bytes, so that they can send anything (arbitrary JSON, arbitrary bytes,
 * a message the honest code would never write).
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import c from 'compact-encoding'
import type { Message } from 'protomux'
import { issue, type Certificate } from '../../src/mesh/certificate.js'
import { createMeshNode, createRegistry, type MeshNode, type MeshNodeOptions, type MeshRegistry, type MeshSchema, type RegistryOptions } from '../../src/mesh/index.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { createNode, type PeerNode } from '../../src/node/index.js'
import { until } from '../helpers/wait.js'

export const RPC_PROTOCOL = 'peerwarden/mesh-rpc/1'
export const REGISTRY_PROTOCOL = 'peerwarden/mesh-registry/1'

const cenc = c as unknown as { encode: (codec: unknown, v: unknown) => Uint8Array; decode: (codec: unknown, b: Uint8Array) => unknown; json: unknown }

/** `value` as the mesh's JSON codec writes it (a length-prefixed UTF-8 JSON text). */
export function jsonBytes (value: unknown): Uint8Array {
  return cenc.encode(cenc.json, value)
}

/** What the mesh's JSON codec read from `bytes`, or undefined. */
export function readJson (bytes: Uint8Array): unknown {
  try { return cenc.decode(cenc.json, bytes) } catch { return undefined }
}

export async function registry (t: TestContext, options: RegistryOptions): Promise<MeshRegistry> {
  const r = await createRegistry(options)
  t.after(async () => { await r.close() })
  return r
}

export async function meshNode<S extends MeshSchema> (t: TestContext, options: MeshNodeOptions<S>): Promise<MeshNode<S>> {
  const m = await createMeshNode(options)
  t.after(async () => { await m.close() })
  return m
}

export function tempDir (t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** The registry's signing key, read from its dataDir (libsodium layout). */
export function registryKey (dir: string): Buffer {
  const data = JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')) as { secretKey: string }
  return Buffer.from(data.secretKey, 'hex')
}

/** A genuine certificate for `peer`, signed with the registry's key. */
export function certify (key: Buffer, reg: MeshRegistry, peer: string, role: string, variant = 'hand'): Certificate {
  return issue(key, { role, variant, peer, registry: reg.id, expires: Date.now() + 600_000 })
}

/** One hand-made channel on one connection: what it heard, and how to send raw bytes or JSON. */
export interface RawChannel {
  conn: NodeConnection
  heard: unknown[]
  opened: () => boolean
  /** Sends one message: raw bytes as they are, anything else as JSON. */
  send: (m: Uint8Array | unknown) => void
}

/**
 * A plain node whose channel `protocol` is made by hand on every connection: it opens with
 * `handshake` (raw bytes, or a JSON value), records what it hears, and calls `onMessage` for each
 * message (decoded as JSON when it is JSON).
 */
export async function handMade (t: TestContext, protocol: string, opts: {
  handshake?: (self: string) => Uint8Array | unknown
  onMessage?: (msg: unknown, ch: RawChannel) => void
  onOpen?: (ch: RawChannel) => void
  /** Sent right after the channel's open, in the same tick (before the remote can close it). */
  initial?: () => Array<Uint8Array | unknown>
  /** Serve the channel on this node (default: a new plain node). */
  node?: PeerNode
  /** For a new node: its 32-byte seed (its id follows from it). */
  seed?: Uint8Array
} = {}): Promise<{ node: PeerNode; channels: RawChannel[]; last: () => RawChannel | undefined }> {
  let node = opts.node
  if (node === undefined) {
    const made = await createNode(opts.seed === undefined ? {} : { seed: opts.seed })
    t.after(async () => { await made.close() })
    node = made
  }
  const channels: RawChannel[] = []
  node.protocol(protocol, (conn) => {
    let opened = false
    const channel = conn.mux.createChannel({ protocol, handshake: c.raw, onopen: () => { opened = true; opts.onOpen?.(ch) } })
    if (channel === null) return
    const ch: RawChannel = {
      conn,
      heard: [],
      opened: () => opened,
      send: (m) => { msg.send(m instanceof Uint8Array ? m : jsonBytes(m)) }
    }
    const msg: Message<Uint8Array> = channel.addMessage<Uint8Array>({
      encoding: c.raw,
      onmessage: (bytes) => {
        const value = readJson(bytes)
        ch.heard.push(value)
        opts.onMessage?.(value, ch)
      }
    })
    channels.push(ch)
    const hs = opts.handshake?.(node.id)
    channel.open(hs instanceof Uint8Array ? hs : jsonBytes(hs === undefined ? {} : hs))
    for (const m of opts.initial?.() ?? []) ch.send(m)
  })
  return { node, channels, last: () => channels[channels.length - 1] }
}

/** Connects `attacker` to `target` ('tcp://…#id') and waits until its hand-made channel is open. */
export async function reach (attacker: { node: PeerNode; channels: RawChannel[] }, target: string, what: string): Promise<RawChannel> {
  const before = attacker.channels.length
  await attacker.node.manager.connectNow(target)
  await until(() => attacker.channels.length > before && attacker.channels[attacker.channels.length - 1].opened(), 5000, `${what}: the hand-made channel to open`)
  return attacker.channels[attacker.channels.length - 1]
}

/** The address to dial a mesh node or registry at. */
export function addressOf (m: { node: PeerNode; id: string }): string {
  return `${m.node.addresses[0]}#${m.id}`
}

/** Records the reasons the node closed connections for protocol errors, by peer. */
export function protocolErrors (node: PeerNode): Array<{ peer: string; reason: string }> {
  const out: Array<{ peer: string; reason: string }> = []
  node.events.addEventListener('protocol:error', (e) => { out.push((e as CustomEvent<{ peer: string; reason: string }>).detail) })
  return out
}

/** Records the node's disconnections: peer and close reason. */
export function disconnections (node: PeerNode): Array<{ peer: string; reason?: string }> {
  const out: Array<{ peer: string; reason?: string }> = []
  node.events.addEventListener('disconnection', (e) => { out.push((e as CustomEvent<{ peer: string; reason?: string }>).detail) })
  return out
}
