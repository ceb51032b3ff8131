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
import { peerwarden, type PeerwardenService } from '../adapters/libp2p.js'
import { importOptional } from '../optional-dependency.js'
import { failed, foreignSample, parseLabAddress, print, runnerConfig, sampleLoop } from './runner-common.js'

/** The parts of js-libp2p this runner uses (its packages are loaded when the stack runs: they are not dependencies of peerwarden). */
interface Libp2pNode {
  readonly peerId: { toString(): string }
  readonly services: { warden: PeerwardenService; pubsub: unknown }
  readonly peerStore: { merge(peer: unknown, data: { multiaddrs: unknown[] }): Promise<unknown> }
  getMultiaddrs(): Array<{ toString(): string }>
  getConnections(): Array<{ direction: 'inbound' | 'outbound'; remotePeer: { toString(): string } }>
  stop(): Promise<void>
}
type Factory = (init?: unknown) => unknown

/** Loads the js-libp2p packages of the stack (ERR_MISSING_DEPENDENCY naming them when one is missing). */
async function libp2pModules (): Promise<{ createLibp2p: (options: unknown) => Promise<Libp2pNode>; tcp: Factory; identify: Factory; floodsub: Factory; noise: Factory; yamux: Factory; peerIdFromString: (id: string) => unknown; multiaddr: (a: string) => unknown }> {
  const feature = 'the lab\'s libp2p stack'
  const all = ['libp2p', '@libp2p/tcp', '@libp2p/identify', '@libp2p/floodsub', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', '@libp2p/peer-id', '@multiformats/multiaddr']
  const [a, b, c, d, e, f, g, h] = await Promise.all(all.map(async (name) => await importOptional<Record<string, unknown>>(name, feature, all)))
  return { createLibp2p: a.createLibp2p, tcp: b.tcp, identify: c.identify, floodsub: d.floodsub, noise: e.noise, yamux: f.yamux, peerIdFromString: g.peerIdFromString, multiaddr: h.multiaddr } as never
}

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
  const { createLibp2p, tcp, identify, floodsub, noise, yamux, peerIdFromString, multiaddr } = await libp2pModules()
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
  sampleLoop(config, () => foreignSample(node.getConnections().map((c) => ({ peer: c.remotePeer.toString(), inbound: c.direction === 'inbound' })), manager.stats().known, dials, dialsFailed), async () => {
    clearInterval(announcer)
    await node.stop()
  })
}

main().catch(failed)
