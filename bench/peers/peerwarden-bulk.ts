/**
 * peerwarden's side of the two-process bulk benchmark, for this tree and for the previous release
 * (the package `node bench/previous.mjs` unpacked into bench/.previous): the same code drives both,
 * through the public `createNode` of each build.
 *
 * Rules:
 * - Both ends of a contestant run the same build: 'peerwarden' is this tree, 'previous' the previous
 *   release on both sides (its sender's and its receiver's costs are what changed). Each is loaded
 *   as it ships: this tree's dist/ (run `npm run build` first), the previous release's packed dist/.
 * - A connection is used through what both builds have (`mux`, `stream`), not `instanceof` (the
 *   previous build's NodeConnection is another class).
 */
import { existsSync, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import c from 'compact-encoding'
import type Protomux from 'protomux'
import type { Message } from 'protomux'
import type { NodeOptions, PeerNode } from '../../src/node/index.js'
import { BULK_PROTOCOL } from './common.js'

/** Which build a bulk contestant runs. */
export type BulkBuild = 'peerwarden' | 'previous'

/** What the bulk benchmark needs of a build. */
interface Api { createNode: (opts?: NodeOptions) => Promise<PeerNode> }

/** What the bulk benchmark uses of a connection (both builds' NodeConnection have it). */
interface BulkConnection { mux: Protomux; stream: NodeJS.EventEmitter }

/** The previous release's package directory (from build/bench/peers/). */
const PREVIOUS = new URL('../../../bench/.previous/node_modules/peerwarden-previous/', import.meta.url)

/** The previous release's ref (bench/previous.mjs records it), or undefined when none is built. */
export function previousRef (): string | undefined {
  const pkgPath = fileURLToPath(new URL('package.json', PREVIOUS))
  if (!existsSync(pkgPath)) return undefined
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { peerwardenRef?: { ref: string } }
  return pkg.peerwardenRef?.ref ?? 'previous'
}

/** This tree's package as it ships (dist/, from `npm run build`; from build/bench/peers/). */
const THIS_TREE = new URL('../../../dist/', import.meta.url)

/**
 * Each build as its package ships (dist/), the previous release's and this tree's alike: what an
 * application loads is what holds the heap (dist's modules carry no comments: scripts/postbuild.mjs).
 */
async function load (build: BulkBuild): Promise<Api> {
  return await import(new URL('node/index.js', build === 'peerwarden' ? THIS_TREE : new URL('dist/', PREVIOUS)).href) as Api
}

/** A node that never dials on its own (lowWater 0): the benchmark decides every connection. */
async function quietNode (api: Api): Promise<PeerNode> {
  return await api.createNode({ manager: { lowWater: 0, highWater: 64 } })
}

/** `conn` as a node connection, or undefined (a connection of another kind has no `mux` or `stream`). */
function asBulk (conn: unknown): BulkConnection | undefined {
  const bc = conn as Partial<BulkConnection> | null
  return bc?.mux === undefined || bc.stream === undefined ? undefined : bc as BulkConnection
}

interface BulkMessages { start: Message<number>; data: Message<Buffer>; ack: Message<number> }

/** The bulk channel: message 0 starts a run with its length, 1 carries payload, 2 acks a run. */
function bulkChannel (conn: BulkConnection, handlers: { start?: (n: number) => void; data?: (b: Buffer) => void; ack?: (n: number) => void }): BulkMessages {
  const ch = conn.mux.createChannel({ protocol: BULK_PROTOCOL })
  if (ch === null) throw new Error('bulk channel refused')
  const start = ch.addMessage<number>({ encoding: c.uint, onmessage: handlers.start })
  const data = ch.addMessage<Buffer>({ encoding: c.raw, onmessage: handlers.data })
  const ack = ch.addMessage<number>({ encoding: c.uint, onmessage: handlers.ack })
  ch.open()
  return { start, data, ack }
}

/**
 * The bulk receiver (runs in the child): answers the bulk channel the sender opens (through
 * `mux.pair`), counts each run's bytes and acks once all arrived.
 */
export async function bulkReceiver (build: BulkBuild): Promise<{ address: string; peer: string; close: () => Promise<void> }> {
  const node = await quietNode(await load(build))
  node.events.addEventListener('connection', (e) => {
    const conn = asBulk(e.detail.connection)
    conn?.mux.pair({ protocol: BULK_PROTOCOL }, () => {
      let expect = -1
      let got = 0
      const m: BulkMessages = bulkChannel(conn, {
        start: (n) => { expect = n; got = 0; if (n === 0) m.ack.send(0) },
        data: (b) => {
          got += b.byteLength
          if (expect >= 0 && got >= expect) { m.ack.send(got); expect = -1 }
        }
      })
    })
  })
  return { address: node.addresses[0], peer: node.id, close: async () => { await node.close() } }
}

/** The bulk sender: one connection and one channel to the receiver; `send(total)` times one run. */
export async function bulkSender (build: BulkBuild, target: string, chunk: number): Promise<{ send: (total: number) => Promise<number>; close: () => Promise<void> }> {
  const node = await quietNode(await load(build))
  try {
    const conn = asBulk(await node.manager.connectNow(target))
    if (conn === undefined) throw new Error('connectNow did not give a node connection')
    let onAck: (() => void) | undefined
    const m = bulkChannel(conn, { ack: () => { onAck?.() } })
    const buf = Buffer.alloc(chunk, 7)
    return {
      send: async (total) => {
        const acked = new Promise<void>((resolve) => { onAck = resolve })
        const t0 = performance.now()
        m.start.send(total)
        for (let sent = 0; sent < total;) {
          const n = Math.min(chunk, total - sent)
          sent += n
          if (!m.data.send(n === chunk ? buf : buf.subarray(0, n))) await once(conn.stream, 'drain')
        }
        await acked
        return performance.now() - t0
      },
      close: async () => { await node.close() }
    }
  } catch (err) {
    await node.close()
    throw err
  }
}
