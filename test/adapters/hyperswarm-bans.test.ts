/**
 * Bans are shared between Hyperswarm and the manager (src/adapters/hyperswarm/bans.ts): a ban through
 * Hyperswarm's own API (`peerInfo.ban(true)`) is a manager ban too, so the manager never dials the
 * peer again, and lifting it (`peerInfo.ban(false)`, or the manager's `setPriority`) lifts it in both.
 * Real swarms on a local testnet, every DHT on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm } from '../../src/adapters/hyperswarm.js'
import { sleep, until } from '../helpers/wait.js'
import { stopSwarms } from '../helpers/swarms.js'

const T = { timeout: 60_000 }
const FAST = { backoffs: [100, 200, 300, 400], jitter: 0 }
const noop = (): void => {}
const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex')

interface Info { publicKey: Uint8Array; banned: boolean; ban(v: boolean): void }
interface Conn { remotePublicKey: Uint8Array; on(e: string, f: (...a: unknown[]) => void): void; destroy(): void }
type Swarm = Hyperswarm & {
  connections: Set<Conn>
  peers: Map<string, Info>
  keyPair: { publicKey: Uint8Array }
  join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): { flushed(): Promise<void> }
}

/** A testnet with swarms on it, managed or not, torn down whatever happens. */
class Net {
  private testnet: Testnet | undefined
  private readonly swarms: Swarm[] = []
  private readonly managed: ManagedSwarm[] = []

  async start (): Promise<this> {
    this.testnet = await createTestnet(3, { host: '127.0.0.1' })
    return this
  }

  swarm (manage: boolean): { s: Swarm; m: ManagedSwarm | undefined } {
    const s = new Hyperswarm({ dht: this.testnet!.createNode(), ...FAST } as never) as Swarm
    s.on('connection', (conn: Conn) => { conn.on('error', noop) })
    this.swarms.push(s)
    const m = manage ? manageSwarm(s as unknown as HyperswarmLike, { lowWater: 8, highWater: 16 }) : undefined
    if (m !== undefined) this.managed.push(m)
    return { s, m }
  }

  async stop (): Promise<void> {
    await stopSwarms(this.managed, this.swarms as never, this.testnet)
  }
}

/** A managed client connected to a plain server on a fresh topic; counts the client's dials of the server. */
async function connected (net: Net): Promise<{ client: Swarm; m: ManagedSwarm; server: Swarm; id: string; dials: () => number; opened: () => number }> {
  const { s: server } = net.swarm(false)
  const { s: client, m } = net.swarm(true)
  const id = hex(server.keyPair.publicKey)
  let dials = 0
  let opened = 0
  m!.manager.events.addEventListener('dial:started', (e) => { if (e.detail.peer === id) dials++ })
  client.on('connection', () => { opened++ })
  const topic = randomBytes(32)
  await server.join(topic, { server: true, client: false }).flushed()
  client.join(topic, { server: false, client: true })
  await until(() => opened === 1, 15_000, 'the client connected')
  return { client, m: m!, server, id, dials: () => dials, opened: () => opened }
}

test('a peer banned through peerInfo.ban(true) is never dialled by the manager again (regression: the manager redialled it on its backoff)', T, async () => {
  const net = await new Net().start()
  try {
    const { client, m, id, dials, opened } = await connected(net)
    client.peers.get(id)!.ban(true)
    assert.equal(client.connections.size, 1, 'the open connection is kept, as in Hyperswarm')
    const before = dials()
    for (const c of client.connections) c.destroy()
    await until(() => m.manager.stats().connections === 0, 5_000, 'the close to be counted')
    assert.equal(m.manager.getPeer(id)?.priority, 'banned', 'a Hyperswarm ban is a manager ban once its connection closed')
    await sleep(13_000) // below lowWater, the manager redials a dropped peer after afterDisconnect (10 s ± 25 %)
    assert.equal(dials() - before, 0, 'the manager never dialled the banned peer')
    assert.equal(opened(), 1)
    await assert.rejects(m.manager.connectNow(`hyperswarm:${id}`, { signal: AbortSignal.timeout(3_000) }))
    assert.equal(dials() - before, 0, 'not even on connectNow')
  } finally {
    await net.stop()
  }
})

test('peerInfo.ban(false) lifts the ban in the manager too, which dials the peer again', T, async () => {
  const net = await new Net().start()
  try {
    const { client, m, id, opened } = await connected(net)
    const priority = m.manager.getPeer(id)?.priority
    client.peers.get(id)!.ban(true)
    for (const c of client.connections) c.destroy()
    await until(() => m.manager.getPeer(id)?.priority === 'banned', 5_000, 'the manager ban')
    client.peers.get(id)!.ban(false)
    assert.equal(m.manager.getPeer(id)?.priority, priority, 'the priority it had before the ban')
    await m.manager.connectNow(`hyperswarm:${id}`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(opened(), 2)
  } finally {
    await net.stop()
  }
})

test('a Hyperswarm ban lifted in the manager (setPriority) is lifted in Hyperswarm too, and the peer is dialled again', T, async () => {
  const net = await new Net().start()
  try {
    const { client, m, id, opened } = await connected(net)
    client.peers.get(id)!.ban(true)
    for (const c of client.connections) c.destroy()
    await until(() => m.manager.getPeer(id)?.priority === 'banned', 5_000, 'the manager ban')
    m.manager.setPriority([{ peer: id, priority: 'medium' }])
    await m.manager.connectNow(`hyperswarm:${id}`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(opened(), 2)
    assert.equal(client.peers.get(id)?.banned, false)
  } finally {
    await net.stop()
  }
})

test('a manager ban is not lifted by peerInfo.ban(false): the manager still refuses the peer', T, async () => {
  const net = await new Net().start()
  try {
    const { client, m, id } = await connected(net)
    m.manager.setPriority([{ peer: id, priority: 'banned' }])
    await until(() => client.connections.size === 0, 5_000, 'the banned peer closed')
    client.peers.get(id)?.ban(false)
    assert.equal(m.manager.getPeer(id)?.priority, 'banned')
    await assert.rejects(m.manager.connectNow(`hyperswarm:${id}`, { signal: AbortSignal.timeout(3_000) }))
    assert.equal(client.connections.size, 0)
  } finally {
    await net.stop()
  }
})

test('a peer banned in Hyperswarm before manageSwarm is a manager ban from the start', T, async () => {
  const net = await new Net().start()
  try {
    const { s: server } = net.swarm(false)
    const { s: client } = net.swarm(false)
    const id = hex(server.keyPair.publicKey)
    const info = (client as unknown as HyperswarmLike)._upsertPeer!(server.keyPair.publicKey, null)!
    info.ban!(true)
    const m = manageSwarm(client as unknown as HyperswarmLike, { lowWater: 8, highWater: 16 })
    try {
      assert.equal(m.manager.getPeer(id)?.priority, 'banned')
    } finally {
      await m.close()
    }
  } finally {
    await net.stop()
  }
})
