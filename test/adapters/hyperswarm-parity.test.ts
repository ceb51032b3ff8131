/**
 * Under manageSwarm, what Hyperswarm users rely on behaves as without it (docs/hyperswarm.md lists
 * the deliberate differences). Real swarms on @hyperswarm/testnet, every DHT bound to 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm, type ManageSwarmOptions } from '../../src/adapters/hyperswarm.js'
import { PeerwardenError } from '../../src/errors.js'
import { sleep, until, within } from '../helpers/wait.js'
import { stopSwarms } from '../helpers/swarms.js'

const T = { timeout: 60_000 }
const FAST = { backoffs: [100, 200, 300, 400], jitter: 0 }
const noop = (): void => {}
const hexOf = (s: Hyperswarm): string => Buffer.from((s as unknown as HyperswarmLike).keyPair.publicKey).toString('hex')
const like = (s: Hyperswarm): HyperswarmLike => s as unknown as HyperswarmLike
/** The Hyperswarm surface these tests read (its typings here are partial). */
type Swarm = HyperswarmLike & { explicitPeers: Set<unknown>; stats: { bannedPeers: number }; listen(): Promise<void>; suspend(): Promise<void>; resume(): Promise<void> }
const sw = (s: Hyperswarm): Swarm => s as unknown as Swarm

/** A testnet and swarms on it, torn down whatever happens (each step bounded). */
class Net {
  testnet: Testnet | undefined
  readonly swarms: Hyperswarm[] = []
  readonly managed: ManagedSwarm[] = []

  async start (): Promise<this> {
    this.testnet = await createTestnet(3, { host: '127.0.0.1' })
    return this
  }

  swarm (opts: Record<string, unknown> = {}, manage?: ManageSwarmOptions): { s: Hyperswarm; m: ManagedSwarm | undefined } {
    const s = new Hyperswarm({ dht: this.testnet!.createNode(), ...opts } as never)
    s.on('connection', (conn) => { conn.on('error', noop) })
    this.swarms.push(s)
    const m = manage === undefined ? undefined : manageSwarm(like(s), manage)
    if (m !== undefined) this.managed.push(m)
    return { s, m }
  }

  async stop (): Promise<void> {
    await stopSwarms(this.managed, this.swarms as never, this.testnet)
  }
}

const BIG = { lowWater: 64, highWater: 256 }

test('the swarm\'s backoffs and jitter time the manager\'s redials, and a topic peer is given up after four attempts as in Hyperswarm (regression: a connection closed right after the manager\'s dial resolved stayed counted, so the peer was never redialled)', T, async () => {
  const net = await new Net().start()
  try {
    const server = net.swarm(FAST, BIG)
    const client = net.swarm(FAST, BIG)
    const at: number[] = []
    client.s.on('connection', (conn) => { at.push(Date.now()); conn.destroy() })
    const topic = randomBytes(32)
    await server.s.join(topic, { client: false, server: true }).flushed()
    client.s.join(topic, { client: true, server: false })
    await until(() => at.length >= 4, 10_000, () => `four connections (saw ${at.length})`)
    // Hyperswarm's table with backoffs [100, 200, 300, 400]: S, M, L after each close (0.66–1.32 × each), far below the manager's own 1 s / 10 s.
    assert.ok(at[3]! - at[0]! < 3_000, `four connections within 3 s (took ${at[3]! - at[0]!} ms)`)
    await sleep(1_500)
    assert.equal(at.length, 4, 'no fifth attempt: Hyperswarm gives a topic peer up after four')
    assert.equal(client.m!.manager.stats().connections, 0, 'no dead connection is counted')
  } finally {
    await net.stop()
  }
})

test('a topic peer Hyperswarm gives up is released by the manager too: no PeerInfo and no manager record left', T, async () => {
  const net = await new Net().start()
  try {
    const server = net.swarm({}, BIG)
    const client = net.swarm({ backoffs: [0, 0, 0, 0], jitter: 0 }, BIG)
    const topic = randomBytes(32)
    await server.s.join(topic, { client: false, server: true }).flushed()
    client.s.join(topic, { client: true, server: false })
    const key = hexOf(server.s)
    await until(() => client.m!.manager.stats().connections === 1, 10_000, 'the client connected')
    assert.ok(client.m!.manager.getPeer(key) !== undefined)
    await server.s.destroy()
    await until(() => sw(client.s).peers.size === 0, 20_000, () => `Hyperswarm released the PeerInfo (${sw(client.s).peers.size} left)`)
    await until(() => client.m!.manager.getPeer(key) === undefined, 5_000, 'the manager forgot the peer')
    await sleep(500)
    assert.equal(sw(client.s).peers.size, 0, 'the manager does not bring the peer back')
    assert.equal(client.m!.manager.stats().known, 0)
  } finally {
    await net.stop()
  }
})

test('leavePeer leaves nothing behind: no PeerInfo, no explicit peer, no manager record', T, async () => {
  const net = await new Net().start()
  try {
    const a = net.swarm({ backoffs: [0, 0, 0, 0], jitter: 0 }, BIG)
    const b = net.swarm({}, BIG)
    await sw(b.s).listen()
    const key = hexOf(b.s)
    sw(a.s).joinPeer(Buffer.from(key, 'hex'))
    await until(() => a.m!.manager.stats().connections === 1, 10_000, 'a connected to b')
    await b.s.destroy()
    await until(() => a.s.connections.size === 0, 25_000, 'the connection closed')
    sw(a.s).leavePeer(Buffer.from(key, 'hex'))
    await until(() => sw(a.s).peers.size === 0, 20_000, () => `a released b's PeerInfo (${sw(a.s).peers.size} left)`)
    await until(() => a.m!.manager.getPeer(key) === undefined, 5_000, 'a\'s manager forgot b')
    await sleep(500)
    assert.equal(sw(a.s).peers.size, 0, 'nothing brings b back')
    assert.equal((a.s as unknown as { explicitPeers: Set<unknown> }).explicitPeers.size, 0)
    assert.equal(a.m!.manager.stats().dialing, 0)
  } finally {
    await net.stop()
  }
})

test('suspend() stops the manager\'s dialing and resume() brings the count back to lowWater', T, async () => {
  const net = await new Net().start()
  try {
    const hub = net.swarm({}, { lowWater: 2, highWater: 4 })
    const others = [net.swarm({}, BIG), net.swarm({}, BIG)]
    const topic = randomBytes(32)
    for (const o of others) await o.s.join(topic, { client: false, server: true }).flushed()
    hub.s.join(topic, { client: true, server: false })
    const m = hub.m!.manager
    await until(() => m.stats().connections === 2, 15_000, () => `hub at lowWater (${m.stats().connections})`)
    let dials = 0
    m.events.addEventListener('dial:started', () => { dials++ })
    await within((hub.s as unknown as { suspend(): Promise<void> }).suspend(), 15_000, 'suspend')
    assert.equal(m.running, false, 'the manager is stopped while suspended')
    assert.equal(m.stats().connections, 0)
    await sleep(1_500)
    assert.equal(dials, 0, 'no dial while suspended')
    assert.equal(hub.s.connections.size, 0)
    await within((hub.s as unknown as { resume(): Promise<void> }).resume(), 15_000, 'resume')
    assert.equal(m.running, true)
    await until(() => m.stats().connections === 2, 10_000, () => `back at lowWater (${m.stats().connections})`)
  } finally {
    await net.stop()
  }
})

test('destroy() on a managed swarm closes its manager (no timer keeps the process alive)', T, async () => {
  const net = await new Net().start()
  try {
    const { s, m } = net.swarm({}, BIG)
    await s.destroy()
    assert.equal(m!.manager.running, false)
    assert.throws(() => { m!.manager.addPeers([{ id: 'a'.repeat(64), address: 'hyperswarm:' + 'a'.repeat(64) }]) }, (e: unknown) => e instanceof PeerwardenError && e.code === 'ERR_CLOSED')
  } finally {
    await net.stop()
  }
})

test('a peer the user firewall banned stays banned: the manager never dials it back (regression: a manager dial lifted every Hyperswarm ban)', T, async () => {
  const net = await new Net().start()
  try {
    let refuse = true
    const a = net.swarm({ firewall: () => refuse }, BIG)
    const b = net.swarm({}, BIG)
    let connected = 0
    a.s.on('connection', () => { connected++ })
    const t1 = randomBytes(32)
    await a.s.join(t1, { client: false, server: true }).flushed()
    b.s.join(t1, { client: true, server: false })
    await until(() => sw(a.s).stats.bannedPeers === 1, 10_000, 'a banned b')
    refuse = false
    // a now looks b up itself: Hyperswarm would not dial a banned key, nor may the manager.
    const t2 = randomBytes(32)
    await b.s.join(t2, { client: false, server: true }).flushed()
    await a.s.join(t2, { client: true, server: false }).flushed()
    await sleep(2_000)
    assert.equal(connected, 0)
    assert.equal(sw(a.s).peers.get(hexOf(b.s))?.banned, true)
  } finally {
    await net.stop()
  }
})

test('the application\'s \'connection\' listeners see the connection without an error listener of ours; one is added right after', async () => {
  const ee = new EventEmitter()
  Object.assign(ee, {
    keyPair: { publicKey: Buffer.alloc(32, 1) },
    connections: new Set(),
    peers: new Map(),
    maxPeers: 64,
    maxClientConnections: Infinity,
    joinPeer: noop,
    leavePeer: noop,
    join: () => ({}),
    leave: async () => {}
  })
  const managed = manageSwarm(ee as unknown as HyperswarmLike, { lowWater: 0, highWater: 4 })
  try {
    const conn = Object.assign(new EventEmitter(), { remotePublicKey: Buffer.alloc(32, 2), isInitiator: false, destroy: noop })
    let seen = -1
    ee.on('connection', (c: EventEmitter) => { seen = c.listenerCount('error') })
    ee.emit('connection', conn, { publicKey: conn.remotePublicKey })
    assert.equal(seen, 0)
    await Promise.resolve()
    assert.equal(conn.listenerCount('error'), 1, 'a reset peer never crashes the process')
  } finally {
    await managed.close()
  }
})
