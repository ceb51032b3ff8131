import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { peerwarden, type PeerwardenLibp2pOptions, type PeerwardenService } from '../../src/adapters/libp2p.js'
import { sleep, until } from '../helpers/wait.js'

// The per-IP cap is the manager's, so it holds for every transport that reports the remote's
// address: here a real js-libp2p node, whose connections the adapter reports with their remote
// multiaddr (/ip4/127.0.0.1/tcp/…). Loopback is exempt by default: `local: true` counts it.

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

const open = (node: Node): number => (node.getConnections() as unknown as Conn[]).filter((c) => c.status === 'open').length

test('libp2p: six peers dialling from one IP keep connectionLimits.perIp (2) connections on a managed node, the rest refused', { timeout: 60_000 }, async (t) => {
  const nodes: Node[] = []
  t.after(async () => { await Promise.all(nodes.map(async (n) => { await n.stop() })) })
  const victim = await mk({ lowWater: 0, highWater: 20, connectionLimits: { perIp: 2, local: true } })
  nodes.push(victim)
  const address = victim.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))!
  for (let i = 0; i < 6; i++) {
    const peer = await mk()
    nodes.push(peer)
    await peer.dial(multiaddr(address.toString())).catch(() => {})
  }
  const manager = (victim.services as unknown as { warden: PeerwardenService }).warden.manager
  await until(() => manager.stats().connectionLimitRefusals >= 4, 10_000, 'the victim to refuse 4 peers by the cap')
  await sleep(500)
  assert.equal(manager.stats().connections, 2)
  await until(() => open(victim) === 2, 10_000, () => `the victim to close the refused connections (${open(victim)} open)`)
})
