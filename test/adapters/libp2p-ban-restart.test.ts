import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { peerwarden, type PeerwardenLibp2pOptions, type PeerwardenService } from '../../src/adapters/libp2p.js'
import { sqliteStore } from '../../src/store/sqlite-store.js'
import { sleep, until, untilRunnable, within } from '../helpers/wait.js'

// A ban in a libp2p node's persistent store holds after the node restarts: the banned peer is
// neither dialled (though it is a previous peer the restart would redial) nor let in.

type Node = Awaited<ReturnType<typeof createLibp2p>>
interface Conn { remotePeer: { toString(): string }; status: string }

async function mk (warden?: PeerwardenLibp2pOptions): Promise<Node> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1_000 },
    services: (warden !== undefined ? { warden: peerwarden(warden) } : {}) as any
  })
}
const manager = (node: Node): PeerwardenService['manager'] => (node.services as unknown as { warden: PeerwardenService }).warden.manager
const addr = (node: Node): string => node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))!.toString()
const connectedTo = (node: Node, other: Node): boolean => (node.getConnections() as unknown as Conn[]).some((c) => c.status === 'open' && c.remotePeer.toString() === other.peerId.toString())

test('libp2p: a ban kept in the store holds after a restart: the banned previous peer is neither redialled nor let in, the others are redialled', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-libp2p-ban-'))
  const nodes: Node[] = []
  try {
    const good = await mk()
    const bad = await mk()
    nodes.push(good, bad)
    const file = join(dir, 'peers.db')
    const first = await mk({ lowWater: 2, highWater: 6, store: sqliteStore(file) })
    nodes.push(first)
    for (const o of [good, bad]) await first.peerStore.merge(o.peerId, { multiaddrs: [multiaddr(addr(o))] })
    await until(() => connectedTo(first, good) && connectedTo(first, bad), 10_000, 'the first run to connect both peers')
    manager(first).setPriority([{ peer: bad.peerId.toString(), priority: 'banned' }])
    await until(() => !connectedTo(first, bad), 5_000, 'the ban to close the connection')
    await first.stop()

    let badOpened = 0
    bad.addEventListener('connection:open', () => { badOpened++ })
    const second = await mk({ lowWater: 2, highWater: 6, store: sqliteStore(file) })
    nodes.push(second)
    await until(() => connectedTo(second, good), 10_000, 'the restarted node to redial its good previous peer')
    await sleep(500)
    assert.equal(manager(second).getPeer(bad.peerId.toString())?.priority, 'banned', 'the ban came back from the store')
    assert.equal(badOpened, 0, 'the banned previous peer is not redialled')
    // It dials in: refused, never connected on the restarted node.
    await bad.dial(multiaddr(addr(second))).catch(() => {})
    await untilRunnable(() => !connectedTo(bad, second), 5_000, 'the banned peer\'s dial to be refused')
    assert.ok(!connectedTo(second, bad))
  } finally {
    await within(Promise.allSettled(nodes.map(async (n) => { await n.stop() })), 20_000, 'the libp2p nodes to stop')
    rmSync(dir, { recursive: true, force: true })
  }
})
