#!/usr/bin/env node
/**
 * One lab node of the `libp2p` stack: js-libp2p (TCP, Noise, Yamux, identify, floodsub) with the
 * `peerwarden/libp2p` service at the scenario's watermarks, printing the same lines as the
 * peerwarden runner (runner.ts).
 *
 * - The bootstrap nodes are the service's `bootstrap` multiaddrs (`/ip4/<ip>/tcp/<port>/p2p/<id>`).
 * - Discovery beyond the bootstrap nodes is what js-libp2p applications use for it without a DHT,
 *   pubsub peer discovery (as `@libp2p/pubsub-peer-discovery` does it): every node publishes its
 *   listen addresses on a floodsub topic every 2 s, and what it hears goes into libp2p's peer store
 *   ('peer:update'), from which the service's manager dials.
 * - libp2p keeps its own defaults (5 inbound connections per second per host, 10 pending…); the
 *   refusal counters are not exposed by libp2p and stay 0. Dials are the manager's. The scenario's
 *   `node` options (createNode's) do not apply. A restarted node gets a new peer id (no key is kept).
 */
import '../adapters/promise-polyfill.js'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { identify } from '@libp2p/identify'
import { floodsub } from '@libp2p/floodsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { peerwarden } from '../adapters/libp2p.js'
import { failed, parseLabAddress, print, runnerConfig, sampleLoop } from './runner-common.js'

/** The pubsub topic of the discovery announcements, and how often each node announces. */
const DISCOVERY_TOPIC = '_peer-discovery._lab'
const ANNOUNCE_EVERY = 2000

interface PubSub {
  subscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
  addEventListener(type: 'message', listener: (evt: CustomEvent<{ topic: string; data: Uint8Array }>) => void): void
}

async function main (): Promise<void> {
  const config = runnerConfig()
  const own = parseLabAddress(config.listen)
  const bootstrap = config.bootstrap.map((a) => { const { host, port, id } = parseLabAddress(a); return `/ip4/${host}/tcp/${port}/p2p/${id}` })
  const node = await createLibp2p({
    addresses: { listen: [`/ip4/${own.host}/tcp/${own.port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: floodsub(),
      warden: peerwarden({ lowWater: config.lowWater, highWater: config.highWater, bootstrap })
    }
  })
  const id = node.peerId.toString()
  const manager = node.services.warden.manager
  let dials = 0
  let dialsFailed = 0
  manager.events.addEventListener('dial:started', () => { dials++ })
  manager.events.addEventListener('dial:failed', () => { dialsFailed++ })
  const pubsub = node.services.pubsub as unknown as PubSub
  pubsub.subscribe(DISCOVERY_TOPIC)
  pubsub.addEventListener('message', (evt) => {
    if (evt.detail.topic !== DISCOVERY_TOPIC) return
    try {
      const m = JSON.parse(new TextDecoder().decode(evt.detail.data)) as { id?: unknown; addrs?: unknown }
      if (typeof m.id !== 'string' || m.id === id || !Array.isArray(m.addrs) || m.addrs.length > 8 || !m.addrs.every((a) => typeof a === 'string')) return
      void node.peerStore.merge(peerIdFromString(m.id), { multiaddrs: (m.addrs as string[]).map((a) => multiaddr(a)) }).catch(() => {})
    } catch { /* a bad announcement is ignored */ }
  })
  const announcement = new TextEncoder().encode(JSON.stringify({ id, addrs: node.getMultiaddrs().map((a) => a.toString().replace(/\/p2p\/.*$/, '')) }))
  const announcer = setInterval(() => { void pubsub.publish(DISCOVERY_TOPIC, announcement).catch(() => {}) }, ANNOUNCE_EVERY)
  print({ type: 'ready', id, addresses: [config.listen], advertised: [] })
  sampleLoop(config, () => {
    const conns = node.getConnections()
    const s = manager.stats()
    return {
      connections: conns.length,
      inbound: conns.filter((c) => c.direction === 'inbound').length,
      outbound: conns.filter((c) => c.direction === 'outbound').length,
      known: s.known,
      dials,
      dialsFailed,
      refusedEarly: 0,
      refusedRate: 0,
      refusedPerIp: 0,
      failedHandshakes: 0,
      peers: [...new Set(conns.map((c) => c.remotePeer.toString()))],
      inboundPeers: [...new Set(conns.filter((c) => c.direction === 'inbound').map((c) => c.remotePeer.toString()))],
      advertised: []
    }
  }, async () => {
    clearInterval(announcer)
    await node.stop()
  })
}

main().catch(failed)
