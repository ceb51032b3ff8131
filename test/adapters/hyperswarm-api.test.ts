/**
 * Hyperswarm's README, item by item, on a plain swarm and on a managed one: each scenario runs twice
 * on a fresh local testnet (every DHT on 127.0.0.1) and what the application sees must be the same —
 * the 'connection' event and its PeerInfo (publicKey, topics, client), `connecting`, `peers`, 'update'
 * events, `leave()` and `leavePeer()` keeping open connections, server and client modes, a join's
 * `limit`, `discovery.refresh()`, `joinPeer` reconnecting, and `peerInfo.ban(true)`. docs/hyperswarm.md lists the deliberate differences; the
 * over-the-bound refusal's 'ban' event is one of them and is checked at the end.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm, type ManageSwarmOptions } from '../../src/adapters/hyperswarm.js'
import { sleep, until } from '../helpers/wait.js'
import { stopSwarms } from '../helpers/swarms.js'

const T = { timeout: 90_000 }
const FAST = { backoffs: [100, 200, 300, 400], jitter: 0 }
const BIG: ManageSwarmOptions = { lowWater: 8, highWater: 16 }
const noop = (): void => {}
const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex')

/** What the application reads of a swarm (Hyperswarm's typings here are partial). */
interface Info { publicKey: Uint8Array; topics: Uint8Array[]; client: boolean; banned: boolean; ban(v: boolean): void }
interface Conn { remotePublicKey: Uint8Array; on(e: string, f: (...a: unknown[]) => void): void; destroy(): void }
type Swarm = Hyperswarm & {
  connecting: number
  connections: Set<Conn>
  peers: Map<string, Info>
  keyPair: { publicKey: Uint8Array }
  stats: { bannedPeers: number }
  join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean; limit?: number }): { flushed(): Promise<void>; refresh(opts: { server?: boolean; client?: boolean }): Promise<void> }
  leave(topic: Uint8Array): Promise<void>
  joinPeer(key: Uint8Array): void
  leavePeer(key: Uint8Array): void
  listen(): Promise<void>
  flush(): Promise<void>
}
type Mode = 'plain' | 'managed'

/** A testnet and swarms on it (managed or not), torn down whatever happens. */
class Net {
  private testnet: Testnet | undefined
  private readonly swarms: Swarm[] = []
  readonly managed: ManagedSwarm[] = []
  constructor (readonly mode: Mode) {}

  async start (): Promise<this> {
    this.testnet = await createTestnet(3, { host: '127.0.0.1' })
    return this
  }

  swarm (opts: Record<string, unknown> = {}, manage: ManageSwarmOptions = BIG): Swarm {
    const s = new Hyperswarm({ dht: this.testnet!.createNode(), ...opts } as never) as Swarm
    s.on('connection', (conn: Conn) => { conn.on('error', noop) })
    this.swarms.push(s)
    if (this.mode === 'managed') this.managed.push(manageSwarm(s as unknown as HyperswarmLike, manage))
    return s
  }

  async stop (): Promise<void> {
    await stopSwarms(this.managed, this.swarms as never, this.testnet)
  }
}

/** Runs `scenario` on a plain and on a managed swarm; both must give the same outcome. */
async function same<R> (scenario: (net: Net) => Promise<R>): Promise<R> {
  const outcomes: Partial<Record<Mode, R>> = {}
  for (const mode of ['plain', 'managed'] as const) {
    const net = await new Net(mode).start()
    try {
      outcomes[mode] = await scenario(net)
    } finally {
      await net.stop()
    }
  }
  assert.deepEqual(outcomes.managed, outcomes.plain, 'a managed swarm behaves as a plain one')
  return outcomes.plain!
}

test('the connection event, its PeerInfo (publicKey, topics, client), connecting, peers and update events are as in Hyperswarm', T, async () => {
  const seen = await same(async (net) => {
    const server = net.swarm()
    const client = net.swarm()
    const topic = randomBytes(32)
    const infos: Record<string, { key: string; topics: string[]; client: boolean }> = {}
    const updates = { server: 0, client: 0 }
    for (const [name, s] of [['server', server], ['client', client]] as const) {
      s.on('update', () => { updates[name]++ })
      s.on('connection', (conn: Conn, info: Info) => {
        assert.equal(hex(info.publicKey), hex(conn.remotePublicKey))
        infos[name] = { key: hex(info.publicKey), topics: info.topics.map(hex), client: info.client }
      })
    }
    await server.join(topic, { server: true, client: false }).flushed()
    client.join(topic, { server: false, client: true })
    await client.flush()
    await until(() => infos.server !== undefined && infos.client !== undefined, 10_000, 'both sides saw the connection')
    assert.ok(updates.server > 0 && updates.client > 0, `'update' events (${JSON.stringify(updates)})`)
    // Keys and topics are random per run: named by whose they are.
    const name = (x: string): string => ({ [hex(server.keyPair.publicKey)]: 'server', [hex(client.keyPair.publicKey)]: 'client', [hex(topic)]: 'topic' })[x] ?? x
    const named = (i: { key: string; topics: string[]; client: boolean }): unknown => ({ key: name(i.key), topics: i.topics.map(name), client: i.client })
    return {
      client: named(infos.client!),
      server: named(infos.server!),
      connecting: [server.connecting, client.connecting],
      connections: [server.connections.size, client.connections.size],
      peers: [server.peers.has(hex(client.keyPair.publicKey)), client.peers.has(hex(server.keyPair.publicKey))]
    }
  })
  // Spelled out too, so that both modes wrong the same way still fails.
  assert.deepEqual(seen, {
    client: { key: 'server', topics: ['topic'], client: true },
    server: { key: 'client', topics: [], client: false },
    connecting: [0, 0],
    connections: [1, 1],
    peers: [true, true]
  })
})

test('leave(topic) and leavePeer(key) do not close the connections already open, as in Hyperswarm', T, async () => {
  const open = await same(async (net) => {
    const server = net.swarm()
    const client = net.swarm()
    const direct = net.swarm()
    const topic = randomBytes(32)
    await server.join(topic, { server: true, client: false }).flushed()
    client.join(topic, { server: false, client: true })
    await direct.listen()
    client.joinPeer(direct.keyPair.publicKey)
    await until(() => client.connections.size === 2, 15_000, () => `the client connected to both (${client.connections.size})`)
    await client.leave(topic)
    client.leavePeer(direct.keyPair.publicKey)
    await sleep(1_000)
    const counted = net.managed.length > 0 ? net.managed[1]!.manager.stats().connections : client.connections.size
    return { swarm: client.connections.size, counted }
  })
  assert.deepEqual(open, { swarm: 2, counted: 2 })
})

test('server and client modes: two servers never connect to each other, two clients never find each other', T, async () => {
  const counts = await same(async (net) => {
    const [s1, s2, c1, c2] = [net.swarm(), net.swarm(), net.swarm(), net.swarm()]
    const servers = randomBytes(32)
    const clients = randomBytes(32)
    await s1.join(servers, { server: true, client: false }).flushed()
    await s2.join(servers, { server: true, client: false }).flushed()
    c1.join(clients, { server: false, client: true })
    c2.join(clients, { server: false, client: true })
    await Promise.all([s1, s2, c1, c2].map(async (s) => { await s.flush() }))
    await sleep(500)
    return [s1, s2, c1, c2].map((s) => s.connections.size)
  })
  assert.deepEqual(counts, [0, 0, 0, 0])
})

test('a join\'s limit caps the peers connected on that topic, as in Hyperswarm', T, async () => {
  const connected = await same(async (net) => {
    const servers = [net.swarm(), net.swarm(), net.swarm()]
    const client = net.swarm()
    const topic = randomBytes(32)
    for (const s of servers) await s.join(topic, { server: true, client: false }).flushed()
    client.join(topic, { server: false, client: true, limit: 1 })
    await client.flush()
    await sleep(1_000)
    return client.connections.size
  })
  assert.equal(connected, 1)
})

test('peerInfo.ban(true) stops every reconnection to that peer, and keeps the open connection, as in Hyperswarm', T, async () => {
  const outcome = await same(async (net) => {
    const server = net.swarm(FAST)
    const client = net.swarm(FAST)
    const topic = randomBytes(32)
    let connections = 0
    let last: Conn | undefined
    client.on('connection', (conn: Conn) => { connections++; last = conn })
    await server.join(topic, { server: true, client: false }).flushed()
    client.join(topic, { server: false, client: true })
    await until(() => connections === 1, 10_000, 'the client connected')
    client.peers.get(hex(server.keyPair.publicKey))!.ban(true)
    await sleep(300)
    const keptOpen = client.connections.size
    last!.destroy()
    await sleep(2_000) // FAST backoffs: a redial would come within 0.4 s
    return { keptOpen, connections, now: client.connections.size }
  })
  assert.deepEqual(outcome, { keptOpen: 1, connections: 1, now: 0 })
})

test('discovery.refresh({ client: true }) turns a server-only join into a client one that connects, as in Hyperswarm', T, async () => {
  const counts = await same(async (net) => {
    const server = net.swarm()
    const late = net.swarm()
    const topic = randomBytes(32)
    await server.join(topic, { server: true, client: false }).flushed()
    const discovery = late.join(topic, { server: true, client: false })
    await discovery.flushed()
    await late.flush()
    const before = late.connections.size
    await discovery.refresh({ client: true, server: true })
    await until(() => late.connections.size === 1, 10_000, 'the refreshed join connected')
    return [before, late.connections.size]
  })
  assert.deepEqual(counts, [0, 1])
})

test('joinPeer reconnects after the connection is lost, as in Hyperswarm', { timeout: 150_000 }, async () => {
  // Regression: the managed dial queue dropped explicit peers, so a retry timer firing under 1 s
  // after the disconnect (Hyperswarm's jitter makes that common) lost the peer until the manager's
  // own redial, sometimes past 15 s. test/adapters/hyperswarm-queue.test.ts pins the queue's rule.
  const reconnected = await same(async (net) => {
    const a = net.swarm()
    const b = net.swarm()
    await b.listen()
    let opened = 0
    a.on('connection', () => { opened++ })
    a.joinPeer(b.keyPair.publicKey)
    await until(() => opened === 1, 10_000, 'a connected to b')
    // Both ends of every connection go: under load a second connection (each side dials the other;
    // Hyperswarm deduplicates) could outlive the one b destroyed, and a never lost b.
    for (const c of b.connections) c.destroy()
    for (const c of a.connections) c.destroy()
    // A failed attempt is retried after Hyperswarm's next backoff (5 s, then 15 s): under load, a
    // plain swarm too has needed more than 15 s.
    await until(() => opened >= 2 && a.connections.size > 0, 40_000, () => `a reconnected to b (${opened} connections so far, ${net.mode})`)
    return a.connections.size > 0
  })
  assert.equal(reconnected, true)
})

test('a handshake refused over the bound emits Hyperswarm\'s \'ban\' event and counts in stats.bannedPeers, though the ban is lifted at once (a documented difference)', T, async () => {
  const net = await new Net('managed').start()
  try {
    // lowWater = highWater: nothing is surplus, so no room is made (that would let the handshake in, with no 'ban').
    const full = net.swarm({}, { lowWater: 1, highWater: 1 })
    const [a, b] = [net.swarm(), net.swarm()]
    const bans: string[] = []
    full.on('ban', (info: Info) => { bans.push(hex(info.publicKey)) })
    const topic = randomBytes(32)
    await full.join(topic, { server: true, client: false }).flushed()
    a.join(topic, { server: false, client: true })
    await until(() => full.connections.size === 1, 10_000, 'the first client connected')
    b.join(topic, { server: false, client: true })
    await until(() => bans.length > 0, 10_000, () => `the second was refused (full holds ${full.connections.size}, manager ${net.managed[0]!.manager.stats().connections}, b ${b.connections.size}, b's: ${JSON.stringify(net.managed[2]!.manager.explain(hex(full.keyPair.publicKey)))} ${JSON.stringify(net.managed[2]!.manager.stats())})`)
    assert.equal(bans[0], hex(b.keyPair.publicKey))
    assert.ok(full.stats.bannedPeers >= 1)
    await sleep(100)
    assert.notEqual(full.peers.get(bans[0]!)?.banned, true, 'the ban is lifted')
  } finally {
    await net.stop()
  }
})
