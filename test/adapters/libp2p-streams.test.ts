import assert from 'node:assert/strict'
import { test } from 'node:test'
import { peerwarden, type PeerwardenService } from '../../src/adapters/libp2p.js'
import type { Connection } from '../../src/index.js'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { until, within } from '../helpers/wait.js'

type Node = Awaited<ReturnType<typeof createLibp2p>>
interface Conn { id: string; remotePeer: { toString(): string }; status: string; direction: string; streams: unknown[] }

const ECHO = '/peerwarden-test/echo/1.0.0'

async function mk (warden?: Parameters<typeof peerwarden>[0]): Promise<Node> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1_000_000 },
    services: (warden !== undefined ? { warden: peerwarden(warden) } : {}) as any
  })
  await node.handle(ECHO, () => {})
  return node
}

const addr = (node: Node): string => node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))!.toString()
const connTo = (node: Node, other: Node): Conn | undefined => (node.getConnections() as unknown as Conn[]).find((c) => c.status === 'open' && c.remotePeer.toString() === other.peerId.toString())

// A connection that reported its streams once (streamsChanged) is never sampled again before a trim.
// The adapter did not report libp2p's stream opens and closes, so a trim went by the idleness of the
// last report and closed a connection in use.

test('libp2p: a stream opened after the last report is reported: the trim keeps the busy connection and closes the idle one', { timeout: 40_000 }, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ lowWater: 1, highWater: 10, gracePeriod: 0 })
    const b = await mk()
    const c = await mk()
    nodes.push(t, b, c)
    const manager = (t.services as unknown as { warden: PeerwardenService }).warden.manager
    // Y: outbound from T to B; X: inbound to T from C. Both idle, X is the one an idle trim closes first (inbound).
    await manager.connectNow(addr(b))
    await c.dial(multiaddr(addr(t)))
    await until(() => manager.getPeer(c.peerId.toString())?.connected === true, 10_000, 'T to account the connection from C')
    const y = connTo(t, b)!
    const x = connTo(t, c)!
    assert.equal(x.direction, 'inbound')
    // A first stream, closed again: T's peer store learns that C speaks the protocol (a peer store
    // change makes the manager re-read the peer, reports or not; the second stream changes nothing there).
    const first = await c.dialProtocol(t.peerId, ECHO)
    await until(() => x.streams.length >= 1, 10_000, 'T to see the first stream')
    first.abort(new Error('done with it'))
    await until(() => x.streams.length === 0, 10_000, () => `the first stream to close on T (streams ${x.streams.length})`)
    // The last report: both idle (the manager finds its connection by id).
    manager.streamsChanged({ id: y.id } as unknown as Connection)
    manager.streamsChanged({ id: x.id } as unknown as Connection)
    // Then C opens another stream to T on X and keeps it open.
    const stream = await c.dialProtocol(t.peerId, ECHO)
    await until(() => x.streams.length >= 1, 10_000, () => `T to see the stream on X (streams ${x.streams.length})`)
    await manager.trim()
    assert.equal(manager.getPeer(b.peerId.toString())?.connected, false, 'the idle connection (Y, to B) was trimmed')
    assert.equal(manager.getPeer(c.peerId.toString())?.connected, true, 'the busy one (X, from C) stays: its stream was reported')
    await stream.close().catch(() => {})
  } finally {
    // Bounded, and failing when over: a race with an uncleared 10 s sleep kept the file's process alive
    // for 10 s after its last test, and let a stop that hung pass.
    await within(Promise.allSettled(nodes.map(async (n) => { await n.stop() })), 20_000, 'the libp2p nodes to stop')
  }
})
