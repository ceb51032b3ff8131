import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import Corestore from 'corestore'
import { createNodeNetworker, type NodeNetworker } from '../../src/adapters/corestore.js'
import { createNode } from '../../src/node/index.js'
import { within } from '../helpers/wait.js'

interface Core { key: Buffer; discoveryKey: Buffer; length: number; ready(): Promise<void>; append(b: Buffer | Buffer[]): Promise<unknown>; get(i: number, o?: { timeout?: number }): Promise<Buffer>; update(o?: { wait?: boolean }): Promise<boolean> }
interface Store { get(opts: { name?: string; key?: Buffer }): Core; close(): Promise<void>; replicate(stream: unknown): unknown }

const block = (i: number): Buffer => Buffer.from(`block ${i} `.padEnd(64, '.'))

test('corestore over the peerwarden node: three readers that joined the discovery key through a bootstrap node download and verify 1,000 blocks; one connection per peer', { timeout: 120_000 }, async (t) => {
  const dirs: string[] = []
  const stores: Store[] = []
  const networkers: NodeNetworker[] = []
  t.after(async () => {
    await within(Promise.allSettled(networkers.map(async (n) => { await n.close() })), 10_000, 'networkers').catch(() => {})
    await Promise.allSettled(stores.map(async (s) => { await s.close() }))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const store = (): Store => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-corestore-node-'))
    dirs.push(dir)
    const s = new (Corestore as unknown as new (dir: string) => Store)(dir)
    stores.push(s)
    return s
  }
  const ws = store()
  const log = ws.get({ name: 'log' })
  await log.ready()
  await log.append(Array.from({ length: 1000 }, (_, i) => block(i)))
  const writer = createNodeNetworker(ws, await createNode({ manager: { lowWater: 4, highWater: 8 } }))
  networkers.push(writer)
  const via = [`${(writer.node as unknown as { addresses: string[] }).addresses[0]}#${(writer.node as unknown as { id: string }).id}`]
  await writer.join(log.discoveryKey)
  const readers = await Promise.all([0, 1, 2].map(async () => {
    const s = store()
    const core = s.get({ key: log.key })
    await core.ready()
    const net = createNodeNetworker(s, await createNode({ bootstrap: via, manager: { lowWater: 4, highWater: 8 } }))
    networkers.push(net)
    await net.join(core.discoveryKey)
    return { core, net }
  }))
  for (const r of readers) {
    assert.equal(r.net.joined(r.core.discoveryKey), true)
    // Hypercore checks each block against the writer's signed Merkle tree as it arrives.
    for (let i = 0; i < 1000; i++) assert.deepEqual(await r.core.get(i, { timeout: 20_000 }), block(i))
    assert.equal(r.core.length, 1000)
    const peers = r.net.manager.listConnections().map((c) => c.peer)
    assert.equal(new Set(peers).size, peers.length, 'one connection per peer')
    assert.ok(peers.length <= 8)
  }
})
