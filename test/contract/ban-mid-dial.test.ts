import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { PeerwardenError, type ConnectionManager } from '../../src/index.js'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { peerwarden, type PeerwardenService } from '../../src/adapters/libp2p.js'
import { manageSwarm, type HyperswarmLike } from '../../src/adapters/hyperswarm.js'
import { createNode } from '../../src/node/index.js'
import { sleep, within } from '../helpers/wait.js'

// connectNow of a peer banned while the dial is in flight, through each transport that dials for the
// manager (the node's TCP + Noise, libp2p): the ban lands on 'dial:started', the handshake goes on,
// and connectNow rejects ERR_BANNED (regression: ERR_DIAL_FAILED), nothing counted; and through
// Hyperswarm's manageSwarm (the in-memory case: ban-corners.test.ts).

/** Bans `peer` as soon as the manager starts dialling it. */
function banOnDialStart (manager: ConnectionManager, peer: string): void {
  manager.events.addEventListener('dial:started', () => { manager.setPriority([{ peer, priority: 'banned' }]) }, { once: true })
}

test('node: connectNow of a peer banned while the dial is in flight rejects ERR_BANNED and counts no connection', { timeout: 30_000 }, async () => {
  const a = await createNode({ manager: { lowWater: 0 } })
  const b = await createNode({ manager: { lowWater: 0 } })
  try {
    a.manager.addPeers([{ id: b.id, address: b.addresses[0] }])
    banOnDialStart(a.manager, b.id)
    const err = await within(a.manager.connectNow(b.id).then(() => undefined, (e: unknown) => e), 10_000, 'connectNow')
    assert.ok(err instanceof PeerwardenError, `connectNow rejected (${String(err)})`)
    assert.equal(err.code, 'ERR_BANNED')
    assert.equal(a.manager.stats().connections, 0)
    await sleep(200)
    assert.equal(a.manager.stats().connections, 0, 'nothing is counted later either')
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

type Node = Awaited<ReturnType<typeof createLibp2p>>

async function mk (): Promise<Node> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { warden: peerwarden({ lowWater: 0 }) }
  })
}
const manager = (node: Node): ConnectionManager => (node.services as unknown as { warden: PeerwardenService }).warden.manager

test('libp2p: connectNow of a peer banned while the dial is in flight rejects ERR_BANNED and counts no connection', { timeout: 30_000 }, async () => {
  const a = await mk()
  const b = await mk()
  try {
    const id = b.peerId.toString()
    const address = b.getMultiaddrs().find((ma) => ma.toString().startsWith('/ip4/127.0.0.1/tcp/'))!.toString()
    manager(a).addPeers([{ id, address: `${address}/p2p/${id}` }])
    banOnDialStart(manager(a), id)
    const err = await within(manager(a).connectNow(id).then(() => undefined, (e: unknown) => e), 10_000, 'connectNow')
    assert.ok(err instanceof PeerwardenError, `connectNow rejected (${String(err)})`)
    assert.equal(err.code, 'ERR_BANNED')
    assert.equal(manager(a).stats().connections, 0)
    await sleep(200)
    assert.equal(manager(a).stats().connections, 0, 'nothing is counted later either')
    assert.equal(a.getConnections().filter((c) => c.remotePeer.toString() === id && c.status === 'open').length, 0, 'libp2p holds no open connection to it')
  } finally {
    await within(Promise.allSettled([a.stop(), b.stop()]), 10_000, 'libp2p stop').catch(() => {})
  }
})

test('hyperswarm: connectNow of a peer banned while the dial is in flight rejects ERR_BANNED and counts no connection', { timeout: 60_000 }, async () => {
  const noop = (): void => {}
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const swarms = [new Hyperswarm({ dht: testnet.createNode() }), new Hyperswarm({ dht: testnet.createNode() })]
  for (const s of swarms) s.on('connection', (conn: { on: (e: string, fn: () => void) => void }) => { conn.on('error', noop) })
  const managed = swarms.map((s) => manageSwarm(s as unknown as HyperswarmLike, { lowWater: 0, highWater: 4, dialTimeout: 5_000 }))
  try {
    await Promise.all(swarms.map(async (s) => { await s.dht.fullyBootstrapped() }))
    await Promise.all(swarms.map(async (s) => { await (s as unknown as { listen(): Promise<void> }).listen() }))
    const b = Buffer.from((swarms[1] as unknown as HyperswarmLike).keyPair.publicKey).toString('hex')
    const a = managed[0]!.manager
    a.addPeers([{ id: b, address: `hyperswarm:${b}` }])
    banOnDialStart(a, b)
    const err = await within(a.connectNow(b).then(() => undefined, (e: unknown) => e), 20_000, 'connectNow')
    assert.ok(err instanceof PeerwardenError, `connectNow rejected (${String(err)})`)
    assert.equal(err.code, 'ERR_BANNED')
    assert.equal(a.stats().connections, 0)
    await sleep(200)
    assert.equal(a.stats().connections, 0, 'nothing is counted later either')
  } finally {
    await within(Promise.allSettled(managed.map(async (m) => { await m.close() })), 5_000, 'close').catch(noop)
    await within(Promise.allSettled(swarms.map(async (s) => { await s.destroy() })), 8_000, 'destroy').catch(async () => {
      await Promise.allSettled(swarms.map(async (s) => { await s.destroy({ force: true }) }))
    })
    await within(testnet.destroy(), 5_000, 'testnet').catch(noop)
  }
})
