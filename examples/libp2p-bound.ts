// For a js-libp2p developer: the bound holds for inbound connections too. A hub with highWater 2
// is dialled by four nodes; it keeps two, evicting its lowest-ranked peer for each newcomer, and
// says why. (libp2p's own maxConnections: 2 is left in: the service raises it so its pruner never
// acts first.)
//
// npm install peerwarden libp2p @multiformats/multiaddr @libp2p/tcp @chainsafe/libp2p-noise \
//   @chainsafe/libp2p-yamux @libp2p/identify
import assert from 'node:assert/strict'
import { peerwarden } from 'peerwarden/libp2p' // first: it installs Promise.withResolvers on Node 20
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'

const start = async () => await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: { maxConnections: 2 },
  services: { identify: identify(), warden: peerwarden({ lowWater: 1, highWater: 2, gracePeriod: 0 }) }
})

const hub = await start()
const manager = hub.services.warden.manager
const others = [await start(), await start(), await start(), await start()]
for (const other of others) {
  await other.dial(hub.getMultiaddrs()) // each is accepted; past 2, the hub evicts to make room
}
assert.ok(manager.stats().connections <= 2)
for (const other of others) {
  const decisions = manager.explain(other.peerId.toString())
  console.log(other.peerId.toString().slice(-6), decisions.map((d) => `${d.action}: ${d.reason}`))
}
await Promise.all([hub, ...others].map(async (node) => { await node.stop() }))
