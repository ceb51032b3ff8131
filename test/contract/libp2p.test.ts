import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { peerwarden, type PeerwardenService } from '../../src/adapters/libp2p.js'
import { until, within } from '../helpers/wait.js'
import { connectionContract, spyManager, type ConnectedPair } from './connection.js'

// The libp2p adapter's managed connection (src/adapters/libp2p.ts) over TCP + Noise + yamux on
// 127.0.0.1. libp2p has no way to send a reason with a close (the remote sees the stream end), so
// the reason property is not checked. `streams` is the number of libp2p streams on the connection.

type Node = Awaited<ReturnType<typeof createLibp2p>>
const PROTOCOL = '/peerwarden-contract/1.0.0'
let nodes: Node[] = []

async function mk (): Promise<Node> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1_000 },
    services: { warden: peerwarden({ lowWater: 0 }) }
  })
  // The listener closes its side once the dialler closed its own (a stream is gone when both are).
  await node.handle(PROTOCOL, (arg: unknown) => {
    const stream = ((arg as { stream?: unknown }).stream ?? arg) as { close: () => Promise<void>; addEventListener?: (type: string, fn: () => void) => void }
    stream.addEventListener?.('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
  })
  return node
}

const warden = (node: Node): PeerwardenService => (node.services as unknown as { warden: PeerwardenService }).warden

connectionContract({
  name: 'libp2p',
  timeoutMs: 10_000,
  async connect (): Promise<ConnectedPair> {
    const a = await mk()
    const b = await mk()
    nodes = [a, b]
    const diallerManager = spyManager(warden(a).manager)
    const listenerManager = spyManager(warden(b).manager)
    const address = b.getMultiaddrs().find((ma) => ma.toString().startsWith('/ip4/127.0.0.1/tcp/'))!.toString()
    const outbound = await diallerManager.manager.connectNow(address)
    await until(() => listenerManager.manager.listConnections().length === 1, 5_000, 'the listener to hold the connection')
    const id = listenerManager.manager.listConnections()[0]!.id
    const inbound = listenerManager.connectedOnes.find((c) => c.id === id)!
    return { outbound, inbound, dialler: a.peerId.toString(), listener: b.peerId.toString(), diallerManager, listenerManager }
  },
  async openStream (pair) {
    const [a] = nodes
    const conn = a!.getConnections().find((c) => c.id === pair.outbound.id)!
    const stream = await conn.newStream(PROTOCOL)
    return () => { void Promise.resolve((stream as unknown as { close: () => Promise<void> }).close()).catch(() => {}) }
  },
  async cleanup () {
    await within(Promise.allSettled(nodes.map(async (n) => { await n.stop() })), 10_000, 'libp2p stop').catch(() => {})
    nodes = []
  }
})
