/**
 * One of the dialer processes of the idle-connections benchmark (bench/idle.bench.ts), run with
 * child_process.fork: `node idle-dialer.js <role> <address> <count> <concurrency> [bootstrap JSON]`.
 * It makes `count` identities of `role` first and says `{ ready }`; on `{ op: 'go', ms }` it opens one
 * connection per identity to the holder at `address`, `concurrency` at a time, for `ms` at most
 * (then it starts no more dials), answers `{ ok, failed, pending, cpuUs, error? }` (pending: dials still in
 * flight when the time was up; cpuUs: this process's CPU time, user + system, over the dials) and then holds them, sending nothing but what its stack sends by
 * itself (keep-alives, pings). It exits on 'stop' or when the parent goes away.
 *
 * Every connection comes from its own identity, as connections from distinct peers would (a stack
 * keeps one connection per peer, and the holder's per-peer state is part of what is measured):
 * - peerwarden: a node per identity (`createNode`, listening nowhere, lowWater 0), `connectNow`;
 * - js-libp2p: a node per identity (TCP + Noise + Yamux, defaults otherwise, listening nowhere), `dial`;
 * - Hyperswarm: one DHT node of the testnet per process, `dht.connect(holderKey, { keyPair })` with a
 *   key pair per identity (what a swarm does when it dials a peer it found);
 * - the floor: a plain TCP connection that echoes what it reads (idle-common.ts).
 */
import './polyfill.js' // before anything from libp2p: Node 20 lacks Promise.withResolvers
import { exitWhenStopped } from './common.js'
import { LIBP2P_MONITOR, peerwardenTiming, type IdleRole } from './idle-common.js'

const role = process.argv[2] as IdleRole
const address = process.argv[3]
const count = Number(process.argv[4])
const concurrency = Number(process.argv[5])
const bootstrap = process.argv[6] === undefined ? [] : JSON.parse(process.argv[6]) as Array<{ host: string; port: number }>

/** Opens connection `i` (resolves once the holder accepted it). */
type Dial = (i: number) => Promise<void>

async function peerwardenDialer (): Promise<Dial> {
  const { createNode } = await import('../../src/node/index.js')
  const nodes: Array<Awaited<ReturnType<typeof createNode>>> = []
  for (let i = 0; i < count; i++) nodes.push(await createNode({ listen: [], rendezvous: false, ...peerwardenTiming(), manager: { lowWater: 0, highWater: 4 } }))
  return async (i) => { await nodes[i].manager.connectNow(address) }
}

/**
 * Dials time out after 10 s by default, which a loaded 2-core machine with thousands of handshakes
 * in flight exceeds: the benchmark measures holding, so every stack gets 2 minutes.
 */
const LIBP2P_PATIENT = { dialTimeout: 120_000, addressDialTimeout: 120_000 }

async function libp2pDialer (): Promise<Dial> {
  const { createLibp2p } = await import('libp2p')
  const { tcp } = await import('@libp2p/tcp')
  const { noise } = await import('@chainsafe/libp2p-noise')
  const { yamux } = await import('@chainsafe/libp2p-yamux')
  const { multiaddr } = await import('@multiformats/multiaddr')
  const target = multiaddr(address)
  const nodes: Array<Awaited<ReturnType<typeof createLibp2p>>> = []
  for (let i = 0; i < count; i++) {
    nodes.push(await createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionManager: LIBP2P_PATIENT, connectionMonitor: LIBP2P_MONITOR }))
  }
  return async (i) => { await nodes[i].dial(target) }
}

async function hyperswarmDialer (): Promise<Dial> {
  const { default: HyperDHT } = await import('hyperdht')
  const dht = new HyperDHT({ bootstrap, host: '127.0.0.1', ephemeral: true })
  await dht.fullyBootstrapped()
  const key = Buffer.from(address, 'hex')
  const keyPairs = Array.from({ length: count }, () => HyperDHT.keyPair())
  return async (i) => {
    const conn = dht.connect(key, { keyPair: keyPairs[i] })
    let why: Error | undefined
    conn.on('error', (err: Error) => { why ??= err })
    if (!await conn.opened) throw new Error(`hyperdht connection did not open: ${why?.message ?? 'closed'}`)
  }
}

/** The floor (idle-common.ts): plain TCP connections that echo what the holder writes. */
async function floorDialer (): Promise<Dial> {
  const net = await import('node:net')
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))]
  return async () => {
    const socket = net.connect(port, host)
    socket.on('data', (data) => { socket.write(data) })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.on('error', () => {})
  }
}

exitWhenStopped(async () => { /* the process exits: every socket closes with it */ })
const dial = role === 'peerwarden' ? await peerwardenDialer() : role === 'libp2p' ? await libp2pDialer() : role === 'hyperswarm' ? await hyperswarmDialer() : role === 'floor' ? await floorDialer() : undefined
if (dial === undefined) throw new Error(`unknown role ${String(role)}`)
const d = dial

async function dialAll (ms: number): Promise<{ ok: number; failed: number; pending: number; cpuUs: number; error?: string }> {
  const c0 = process.cpuUsage()
  let next = 0
  let ok = 0
  let failed = 0
  let error: string | undefined
  let timeUp = false
  const worker = async (): Promise<void> => {
    while (next < count && !timeUp) {
      const i = next++
      try {
        await d(i)
        ok++
      } catch (err) {
        failed++
        error ??= (err as Error).message
      }
    }
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all(Array.from({ length: concurrency }, worker)),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
  ])
  clearTimeout(timer)
  timeUp = true
  const c = process.cpuUsage(c0)
  return { ok, failed, pending: Math.min(next, count) - ok - failed, cpuUs: c.user + c.system, error }
}

process.on('message', (m) => {
  const go = m as { op?: string; ms?: number }
  if (go.op === 'go') void dialAll(go.ms ?? 600_000).then((r) => { process.send!(r) })
})
process.send!({ ready: true })
