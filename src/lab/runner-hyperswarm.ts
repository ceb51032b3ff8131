#!/usr/bin/env node
/**
 * One lab node of the `hyperswarm` stack: a Hyperswarm under `manageSwarm` (peerwarden/hyperswarm)
 * with the scenario's watermarks, joined to the scenario's topic (its SHA-256) as client and server,
 * printing the same lines as the peerwarden runner (runner.ts).
 *
 * - The DHT is the lab's own: a bootstrap node runs three DHT nodes (hyperdht's testnet: the first
 *   on UDP `<host ip>:<port>` of its listen address, the others on free ports) besides its swarm; every
 *   other node's swarm bootstraps from those. The public bootstrap nodes are never contacted.
 * - Ids are Hyperswarm public keys (hex), as the adapter's peer ids.
 * - Dials are the manager's (`dial:started`, `dial:failed`); the per-IP refusal counters do not exist
 *   in Hyperswarm and stay 0. The scenario's `node` options (createNode's) do not apply.
 */
import { createHash } from 'node:crypto'
import { manageSwarm, type HyperswarmConnection, type HyperswarmLike } from '../adapters/hyperswarm.js'
import { importOptional } from '../optional-dependency.js'
import { failed, foreignSample, parseLabAddress, print, runnerConfig, sampleLoop } from './runner-common.js'

interface Swarm extends HyperswarmLike { readonly connections: Set<HyperswarmConnection>; destroy(): Promise<void> }
interface DhtNode { destroy(): Promise<void> }
type Testnet = (size: number, opts: { host: string; port: number; bootstrap?: Array<{ host: string; port: number }> }) => Promise<{ nodes: DhtNode[]; destroy(): Promise<void> }>

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

async function main (): Promise<void> {
  const config = runnerConfig()
  const own = parseLabAddress(config.listen)
  const bootstrap = config.bootstrap.map((a) => { const { host, port } = parseLabAddress(a); return { host, port } })
  let testnet: Awaited<ReturnType<Testnet>> | undefined
  if (config.role === 'bootstrap') {
    const { default: createTestnet } = await importOptional<{ default: Testnet }>('hyperdht/testnet.js', 'the lab\'s hyperswarm stack', ['hyperswarm'])
    testnet = await createTestnet(3, { host: own.host, port: own.port, ...(bootstrap.length > 0 ? { bootstrap } : {}) })
    bootstrap.unshift({ host: own.host, port: own.port })
  }
  const { default: Hyperswarm } = await importOptional<{ default: new (opts: object) => Swarm }>('hyperswarm', 'the lab\'s hyperswarm stack')
  const swarm = new Hyperswarm({ bootstrap })
  const managed = manageSwarm(swarm, { lowWater: config.lowWater, highWater: config.highWater })
  let dials = 0
  let dialsFailed = 0
  managed.manager.events.addEventListener('dial:started', () => { dials++ })
  managed.manager.events.addEventListener('dial:failed', () => { dialsFailed++ })
  swarm.on('connection', (conn) => { conn.on('error', () => {}) })
  print({ type: 'ready', id: hex(swarm.keyPair.publicKey), addresses: [config.listen], advertised: [] })
  for (const t of config.topics) swarm.join(createHash('sha256').update(t).digest(), { server: true, client: true })
  sampleLoop(config, () => foreignSample([...swarm.connections].map((c) => ({ peer: hex(c.remotePublicKey), inbound: !c.isInitiator })), managed.manager.stats().known, dials, dialsFailed), async () => {
    await managed.close()
    await swarm.destroy()
    await testnet?.destroy()
  })
}

main().catch(failed)
