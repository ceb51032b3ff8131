/**
 * Corestore replication, side by side: one writer's 64 MiB core (1,024 blocks of 64 KiB) downloaded
 * and verified by a fresh reader, over
 * - `node`: the peerwarden node transport (`createNodeNetworker`, TCP + Noise, the writer as bootstrap);
 * - `hyperswarm`: plain Hyperswarm + Corestore (`swarm.on('connection', c => store.replicate(c))`),
 *   on a local testnet bound to 127.0.0.1;
 * - `managed`: the same Hyperswarm under the manager (`createNetworker`, i.e. `manageSwarm`).
 * Figures: time to first block (from the reader's start: its transport, discovery, connection, then
 * `core.get(0)`), then throughput in MiB/s of verified blocks (the other 1,023 blocks downloaded as
 * one range). Every contestant runs once per round, in an order that rotates from round to round;
 * ratios are medians of the per-round ratios against plain Hyperswarm. Writer and readers share one
 * process (as two peers on one machine would share its cores).
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { createNetworker, createNodeNetworker } from '../src/adapters/corestore.js'
import { createNode, type PeerNode } from '../src/node/index.js'
import type { Figure } from './manager.bench.js'
import { collect, median, nowMs, ratio, rotated, withTimeout } from './peers/common.js'

const BLOCK = 64 * 1024
const BLOCKS = 1024
const MIB = (BLOCK * BLOCKS) / (1024 * 1024)

interface Core {
  key: Buffer
  discoveryKey: Buffer
  length: number
  ready(): Promise<void>
  append(blocks: Buffer[]): Promise<unknown>
  get(index: number): Promise<Buffer>
  download(range: { start: number; end: number }): { done(): Promise<void> }
}
interface Store { get(opts: { name?: string; key?: Buffer; inflightRange?: [number, number] }): Core; close(): Promise<void>; replicate(stream: unknown): unknown }
const newStore = (dir: string): Store => new (Corestore as unknown as new (dir: string) => Store)(dir)

type Name = 'node' | 'node, 16 in flight' | 'hyperswarm' | 'managed'
/** A reader's transport joined to the writer's core: closes it. */
type Reader = (store: Store, discoveryKey: Buffer) => Promise<() => Promise<void>>
interface Contestant { name: Name; reader: Reader; close: () => Promise<void>; inflight?: [number, number] }
interface Run { mibps: number; firstMs: number }

function tempDir (): string { return mkdtempSync(join(tmpdir(), 'pw-bench-corestore-')) }

/** The writer's side of each transport, announcing `log`, and how a reader joins it. */
async function contestants (ws: Store, log: Core, testnet: Testnet): Promise<Contestant[]> {
  const writerNode = await createNode({ manager: { lowWater: 4, highWater: 8 } })
  const nodeWriter = createNodeNetworker(ws, writerNode)
  await nodeWriter.join(log.discoveryKey, { announce: true, lookup: false })
  const bootstrap = `${writerNode.addresses[0]}#${writerNode.id}`

  const plainWriter = new Hyperswarm({ dht: testnet.createNode() })
  plainWriter.on('connection', (conn) => { conn.on('error', () => {}); ws.replicate(conn) })
  await plainWriter.join(log.discoveryKey, { server: true, client: false }).flushed()

  // A topic of its own: a reader of one swarm must not find the other swarm's writer too.
  const managedTopic = createHash('sha256').update('managed').update(log.discoveryKey).digest()
  const managedWriter = createNetworker(ws, { dht: testnet.createNode(), lowWater: 4, highWater: 8 })
  await managedWriter.join(managedTopic, { announce: true, lookup: false })

  return [
    {
      name: 'node',
      reader: async (store, dk) => {
        const net = createNodeNetworker(store, await createNode({ bootstrap: [bootstrap], manager: { lowWater: 4, highWater: 8 } }) as PeerNode)
        await net.join(dk, { announce: false, lookup: true })
        return async () => { await net.close() }
      },
      close: async () => { await nodeWriter.close() }
    },
    {
      // Hypercore sizes its request window by the transport: 16 blocks in flight on a UDX stream of
      // low RTT (Hyperswarm on one machine), 48 on a stream without UDX statistics (the node's). The
      // same window as Hyperswarm's compares the transports alone.
      name: 'node, 16 in flight',
      inflight: [16, 16],
      reader: async (store, dk) => {
        const net = createNodeNetworker(store, await createNode({ bootstrap: [bootstrap], manager: { lowWater: 4, highWater: 8 } }) as PeerNode)
        await net.join(dk, { announce: false, lookup: true })
        return async () => { await net.close() }
      },
      close: async () => {}
    },
    {
      name: 'hyperswarm',
      reader: async (store, dk) => {
        const swarm = new Hyperswarm({ dht: testnet.createNode() })
        swarm.on('connection', (conn) => { conn.on('error', () => {}); store.replicate(conn) })
        swarm.join(dk, { server: false, client: true })
        await swarm.flush()
        return async () => { await swarm.destroy() }
      },
      close: async () => { await plainWriter.destroy() }
    },
    {
      name: 'managed',
      reader: async (store) => {
        const net = createNetworker(store, { dht: testnet.createNode(), lowWater: 4, highWater: 8 })
        await net.join(managedTopic, { announce: false, lookup: true })
        return async () => { await net.close() } // destroys its swarm, and the swarm its DHT node
      },
      close: async () => { await managedWriter.close() }
    }
  ]
}

/** One reader downloads and verifies the whole core over `c`. */
async function download (c: Contestant, key: Buffer): Promise<Run> {
  const dir = tempDir()
  const store = newStore(dir)
  let close: (() => Promise<void>) | undefined
  try {
    collect()
    const start = nowMs()
    const core = store.get({ key, ...(c.inflight !== undefined ? { inflightRange: c.inflight } : {}) })
    await core.ready()
    close = await c.reader(store, core.discoveryKey)
    await withTimeout(core.get(0), 30_000, `${c.name} first block`)
    const firstMs = nowMs() - start
    // Then the rest, as a range: throughput from here to the last block verified.
    const from = nowMs()
    await withTimeout(core.download({ start: 1, end: BLOCKS }).done(), 120_000, `${c.name} download`)
    const end = nowMs()
    if (core.length !== BLOCKS) throw new Error(`${c.name}: ${core.length} blocks, not ${BLOCKS}`)
    return { mibps: (MIB * (BLOCKS - 1) / BLOCKS) / ((end - from) / 1000), firstMs }
  } finally {
    await close?.()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Throughput and time to first block of the three transports, rotated rounds (see the module's comment). */
export async function corestoreReplication (rounds = 5): Promise<Figure[]> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const wdir = tempDir()
  const ws = newStore(wdir)
  const log = ws.get({ name: 'log' })
  await log.ready()
  for (let i = 0; i < BLOCKS; i += 64) {
    await log.append(Array.from({ length: 64 }, (_, k) => Buffer.alloc(BLOCK, (i + k) & 0xff)))
  }
  const all = await contestants(ws, log, testnet)
  const runs = new Map<Name, Run[]>(all.map((c) => [c.name, []]))
  try {
    // A warm-up download each: JIT, storage caches.
    for (const c of all) await download(c, log.key)
    for (let r = 0; r < rounds; r++) {
      for (const c of rotated(all, r)) runs.get(c.name)!.push(await download(c, log.key))
    }
  } finally {
    for (const c of all) await c.close().catch(() => {})
    await ws.close()
    await testnet.destroy()
    rmSync(wdir, { recursive: true, force: true })
  }
  const of = (n: Name): Run[] => runs.get(n)!
  const perRound = (n: Name, f: (x: Run) => number, inverse = false): number[] =>
    of(n).map((x, i) => inverse ? f(of('hyperswarm')[i]!) / f(x) : f(x) / f(of('hyperswarm')[i]!))
  const figures: Figure[] = []
  for (const n of ['node', 'node, 16 in flight', 'hyperswarm', 'managed'] as const) {
    figures.push({ name: `corestore ${MIB} MiB core, ${n}: throughput of verified blocks`, value: +median(of(n).map((x) => x.mibps)).toFixed(1), unit: 'MiB/s', runs: rounds })
    figures.push({ name: `corestore ${MIB} MiB core, ${n}: time to first block`, value: +median(of(n).map((x) => x.firstMs)).toFixed(1), unit: 'ms', runs: rounds })
  }
  for (const n of ['node', 'node, 16 in flight', 'managed'] as const) {
    const tp = perRound(n, (x) => x.mibps)
    figures.push({
      name: `corestore throughput, ${n} vs plain Hyperswarm`,
      value: ratio(median(tp), 1),
      unit: 'x',
      target: '>= 1.0x',
      runs: rounds,
      note: `per round ${tp.map((x) => x.toFixed(2)).join(', ')}`
    })
    const ttfb = perRound(n, (x) => x.firstMs, true)
    figures.push({ name: `corestore time to first block, ${n} vs plain Hyperswarm (above 1: sooner)`, value: ratio(median(ttfb), 1), unit: 'x', runs: rounds })
  }
  return figures
}
