/**
 * Corestore scenarios run on both transports (the Hyperswarm networker and the node networker):
 * the test files give the networkers, these check what a user sees of the replication.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import Corestore from 'corestore'
import type { ReplicationStats } from '../../src/adapters/corestore.js'
import { until } from '../helpers/wait.js'

export interface Core {
  key: Buffer
  discoveryKey: Buffer
  length: number
  peers: unknown[]
  ready(): Promise<void>
  close(): Promise<void>
  append(block: Buffer | Buffer[]): Promise<unknown>
  get(index: number, opts?: { timeout?: number }): Promise<Buffer>
  update(opts?: { wait?: boolean }): Promise<boolean>
}
export interface Store { get(opts: { name?: string; key?: Buffer }): Core; ready(): Promise<void>; close(): Promise<void>; replicate(stream: unknown): unknown }

/** What both networkers offer. */
export interface AnyNetworker {
  join(discoveryKey: Uint8Array, opts?: { announce?: boolean; lookup?: boolean }): Promise<void>
  leave(discoveryKey: Uint8Array): Promise<void>
  joined(discoveryKey: Uint8Array): boolean
  replicationStats(): ReplicationStats
  readonly manager: { stats(): { connections: number } }
}

export const block = (i: number): Buffer => Buffer.from(`block ${i} `.padEnd(64, '.'))

/** Corestores on temp dirs, closed and removed after the test (`dir` reopens a store on the same directory). */
export function stores (t: TestContext): { store: (dir?: string) => Store; dir: () => string } {
  const dirs: string[] = []
  const open: Store[] = []
  t.after(async () => {
    await Promise.allSettled(open.map(async (s) => { await s.close() }))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'pw-corestore-'))
    dirs.push(d)
    return d
  }
  return {
    dir,
    store: (at = dir()) => {
      const s = new (Corestore as unknown as new (dir: string) => Store)(at)
      open.push(s)
      return s
    }
  }
}

/**
 * After `leave(A)`, new blocks of core A stop arriving while core B goes on replicating on the same
 * connection; the channel stays closed when the writer opens A again (leave then join: Hypercore
 * re-pairs), and a join of A by the reader replicates it again.
 */
export async function leaveStopsOneCore (opts: {
  ws: Store
  rs: Store
  writer: AnyNetworker
  reader: AnyNetworker
  /** Connections the reader holds (one: the writer). */
  connections: () => number
}): Promise<void> {
  const { ws, rs, writer, reader, connections } = opts
  const a = ws.get({ name: 'a' })
  const b = ws.get({ name: 'b' })
  for (const c of [a, b]) { await c.ready(); await c.append(block(0)) }
  await writer.join(a.discoveryKey, { announce: true, lookup: false })
  await writer.join(b.discoveryKey, { announce: true, lookup: false })
  const ra = rs.get({ key: a.key })
  const rb = rs.get({ key: b.key })
  for (const c of [ra, rb]) await c.ready()
  await reader.join(ra.discoveryKey)
  await reader.join(rb.discoveryKey)
  assert.deepEqual(await ra.get(0, { timeout: 20_000 }), block(0))
  assert.deepEqual(await rb.get(0, { timeout: 20_000 }), block(0))
  assert.equal(connections(), 1)

  await reader.leave(ra.discoveryKey)
  assert.equal(reader.joined(ra.discoveryKey), false)
  assert.equal(reader.joined(rb.discoveryKey), true)
  await a.append(block(1))
  await b.append(block(1))
  // B's block 1 came over the connection A shares: A's would have come too.
  assert.deepEqual(await rb.get(1, { timeout: 20_000 }), block(1))
  assert.equal(connections(), 1, 'the connection stays for B')
  assert.equal(ra.peers.length, 0, 'no replication channel of A is open')
  assert.equal(await ra.update({ wait: true }), false, 'nobody to update A from')
  assert.equal(ra.length, 1)
  await assert.rejects(ra.get(1, { timeout: 300 }))

  // The writer opens A's channel again (it leaves and joins A): the reader's connection refuses it.
  const refused = reader.replicationStats().refusedChannels
  await writer.leave(a.discoveryKey)
  await writer.join(a.discoveryKey, { announce: true, lookup: false })
  await until(() => reader.replicationStats().refusedChannels > refused, 20_000, 'the reader to refuse the channel the writer opened again')
  await a.append(block(2))
  await b.append(block(2))
  assert.deepEqual(await rb.get(2, { timeout: 20_000 }), block(2))
  assert.equal(ra.peers.length, 0, 'A stays closed')
  assert.equal(ra.length, 1)

  // Joined again, A replicates again.
  await reader.join(ra.discoveryKey)
  assert.equal(reader.joined(ra.discoveryKey), true)
  assert.deepEqual(await ra.get(2, { timeout: 20_000 }), block(2))
  assert.deepEqual(await ra.get(1, { timeout: 20_000 }), block(1))
}

/** Samples `count()` on every call of the returned `sample` and keeps the peak. */
export function peakOf (count: () => number): { sample: () => void; readonly peak: number } {
  let peak = 0
  return {
    sample: () => { peak = Math.max(peak, count()) },
    get peak () { return peak }
  }
}

/**
 * Six readers of `log` (each its own store and networker, made by `open`) join its key and verify
 * its 1,000 blocks through one another and the writer; then no networker holds more than 3
 * connections. Returns the readers' networkers.
 */
export async function sixReadersVerify<N extends AnyNetworker> (opts: { log: Core; store: () => Store; open: (store: Store) => N | Promise<N>; writer: N }): Promise<N[]> {
  const readers = await Promise.all(Array.from({ length: 6 }, async () => {
    const s = opts.store()
    const core = s.get({ key: opts.log.key })
    await core.ready()
    const net = await opts.open(s)
    await net.join(core.discoveryKey)
    return { core, net }
  }))
  await Promise.all(readers.map(async (r) => {
    for (let i = 0; i < 1000; i++) assert.deepEqual(await r.core.get(i, { timeout: 30_000 }), block(i))
  }))
  for (const n of [opts.writer, ...readers.map((r) => r.net)]) assert.ok(n.manager.stats().connections <= 3)
  return readers.map((r) => r.net)
}
