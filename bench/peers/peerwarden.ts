/**
 * peerwarden's side of the benchmarks: real nodes (createNode) on 127.0.0.1, applications talking
 * over a Protomux channel of a NodeConnection.
 */
import c from 'compact-encoding'
import type { Message } from 'protomux'
import { createNode, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { NodeConnection } from '../../src/node/connection.js'
import { ECHO_PROTOCOL, nowMs, withTimeout } from './common.js'

/** A node that never dials on its own (lowWater 0): the benchmark decides every connection. */
export async function quietNode (extra: NodeOptions = {}): Promise<PeerNode> {
  return await createNode({ ...extra, manager: { lowWater: 0, highWater: 64, ...extra.manager } })
}

/** Calls `fn` for every connection the node accepts (inbound or outbound). */
export function onConnection (node: PeerNode, fn: (conn: NodeConnection) => void): void {
  node.events.addEventListener('connection', (e) => {
    const { connection } = e.detail
    if (connection instanceof NodeConnection) fn(connection)
  })
}

/**
 * Answers a channel the remote opens, through `mux.pair`: the responder creates its end only when
 * the remote's open arrives. (If both ends open proactively, the one that opens first is rejected by
 * a remote that has not created its end yet: Protomux rejects an open nobody pairs at once.)
 */
export function answer (conn: NodeConnection, protocol: string, make: () => void): void {
  conn.mux.pair({ protocol }, () => { make() })
}

/**
 * Serves the echo channel on every connection (`node.protocol`: the remote's open may arrive with its
 * hello, before our manager accepted the connection; it then waits for the acceptance and pairs with
 * ours): each message comes back unchanged.
 */
export function serveEcho (node: PeerNode): void {
  node.protocol(ECHO_PROTOCOL, (conn) => {
    const ch = conn.mux.createChannel({ protocol: ECHO_PROTOCOL })
    if (ch === null) return
    const m: Message<Buffer> = ch.addMessage<Buffer>({ encoding: c.raw, onmessage: (b) => { m.send(b) } })
    ch.open()
  })
}

/**
 * One sequential new connection: `connectNow` (TCP, Noise XX, the control channel's hello with the
 * network-key proof, the manager's admission), an echo channel, one echoed message; then both
 * ends close (the raw baseline destroys both ends too).
 */
export async function peerwardenRoundTrip (a: PeerNode, b: PeerNode, target: string, payload: Buffer): Promise<void> {
  const conn = await a.manager.connectNow(target)
  if (!(conn instanceof NodeConnection)) throw new Error('connectNow did not give a NodeConnection')
  try {
    const ch = conn.mux.createChannel({ protocol: ECHO_PROTOCOL })
    if (ch === null) throw new Error('echo channel refused')
    // Settled once: the close that follows every echo builds no Error (a stack trace per connection).
    let settle: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined
    const echoed = new Promise<Buffer>((resolve, reject) => { settle = { resolve, reject } })
    const send = ch.addMessage<Buffer>({ encoding: c.raw, onmessage: (b) => { const s = settle; settle = undefined; s?.resolve(b) } })
    conn.onClose(() => {
      const s = settle
      settle = undefined
      s?.reject(new Error(`connection closed before the echo (${conn.remoteCloseReason ?? conn.closeReason ?? 'no reason'})`))
    })
    ch.open()
    send.send(payload)
    if ((await echoed).length !== payload.length) throw new Error('echo mismatch')
  } finally {
    await a.manager.disconnect(b.id)
    await b.manager.disconnect(a.id)
  }
}

export interface MeshResult {
  /** From the first join to every node at lowWater; undefined on timeout. */
  joinMs: number | undefined
  /** The same, counted from the start of node creation. */
  totalMs: number | undefined
  /** Nodes at lowWater when it ended (all of them unless it timed out). */
  atLowWater: number
  /** Nodes that then held lowWater connections to topic peers, not counting the bootstrap node. */
  atLowWaterWithoutBootstrap: number
  failedHandshakes: number
}

/**
 * A bootstrap node (default options unless `bootstrapHighWater`) plus `n` nodes (lowWater 3, highWater
 * 6) that all join one topic at once; resolves when every one of the `n` holds at least lowWater
 * connections (what the manager counts, the bootstrap connection included), or after `timeoutMs`.
 */
export async function peerwardenMesh (n: number, timeoutMs: number, opts: { lowWater?: number; highWater?: number; bootstrapHighWater?: number } = {}): Promise<MeshResult> {
  const lowWater = opts.lowWater ?? 3
  const highWater = opts.highWater ?? 6
  const boot = await createNode(opts.bootstrapHighWater === undefined ? {} : { manager: { highWater: opts.bootstrapHighWater } })
  const bootstrap = [`${boot.addresses[0]}#${boot.id}`]
  const topic = `bench-topic-${Math.random().toString(36).slice(2)}`
  let nodes: PeerNode[] = []
  try {
    const tCreate = nowMs()
    nodes = await Promise.all(Array.from({ length: n }, async () => await createNode({ bootstrap, manager: { lowWater, highWater } })))
    const atLow = (node: PeerNode): boolean => node.manager.stats().connections >= lowWater
    let poll: NodeJS.Timeout | undefined
    const full = new Promise<void>((resolve) => {
      const check = (): void => { if (nodes.every(atLow)) resolve() }
      for (const node of nodes) node.events.addEventListener('connection', check)
      poll = setInterval(check, 5)
    })
    const tJoin = nowMs()
    for (const node of nodes) void node.join(topic).catch(() => { /* surfaces as a timeout */ })
    let joinMs: number | undefined
    let totalMs: number | undefined
    try {
      await withTimeout(full, timeoutMs, `peerwarden mesh of ${n}`)
      const t = nowMs()
      joinMs = t - tJoin
      totalMs = t - tCreate
    } catch { /* timed out: reported as such */ } finally {
      clearInterval(poll)
    }
    return {
      joinMs,
      totalMs,
      atLowWater: nodes.filter(atLow).length,
      atLowWaterWithoutBootstrap: nodes.filter((node) => node.connections().filter((ci) => ci.peer !== boot.id).length >= lowWater).length,
      failedHandshakes: nodes.reduce((s, node) => s + node.stats().failedHandshakes, 0) + boot.stats().failedHandshakes
    }
  } finally {
    await Promise.all([...nodes, boot].map(async (node) => { await node.close() }))
  }
}
