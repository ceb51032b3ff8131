/**
 * One table, plain against managed: the same script runs on plain swarms and on swarms under
 * manageSwarm, and every public member a Hyperswarm user touches is read at the same steps
 * (join/leave/flush/status/topics/peers/connections/connecting, PeerInfo fields, 'connection' and
 * 'update' events, firewall, suspend/resume, destroy while dialing, keyPair, maxPeers,
 * joinPeer/leavePeer). Each row must read the same in both, but the deliberate differences of
 * docs/hyperswarm.md, stated here with both values. Real swarms on @hyperswarm/testnet, on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type HyperswarmPeerInfo, type ManagedSwarm } from '../../src/adapters/hyperswarm.js'
import { stopSwarms } from '../helpers/swarms.js'
import { until, within } from '../helpers/wait.js'

type Mode = 'plain' | 'managed'
/** The Hyperswarm surface the script reads (its typings here are partial). */
type Swarm = HyperswarmLike & {
  explicitPeers: Set<unknown>
  connecting: number
  topics(): Iterable<unknown>
  status(topic: Uint8Array): { isClient: boolean; isServer: boolean } | null | undefined
  flush(): Promise<boolean>
  on(event: string, listener: (...args: any[]) => void): unknown
}
const noop = (): void => {}
const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex')
const FAST = { backoffs: [100, 200, 300, 400], jitter: 0 }
/** Long enough for a connection on a loaded machine; a row waiting for something that never comes waits this long in both modes. */
const WAIT = 15_000

/** What `status(topic)` says of a join (the discovery object itself holds the DHT). */
const modes = (d: { isClient: boolean; isServer: boolean } | null | undefined): unknown => d == null ? null : { isClient: d.isClient, isServer: d.isServer }

/** Waits for `predicate` up to `ms`; whether it held (the row records it, the comparison judges). */
async function settles (predicate: () => boolean, ms = WAIT): Promise<boolean> {
  return await until(predicate, ms, 'settled', 25).then(() => true, () => false)
}

/** The script: the same steps on either kind of swarm; returns what a user reads at each. */
async function script (mode: Mode): Promise<Record<string, unknown>> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const swarms: Hyperswarm[] = []
  const managed: ManagedSwarm[] = []
  const make = (opts: Record<string, unknown> = {}): Swarm => {
    const s = new Hyperswarm({ dht: testnet.createNode(), ...FAST, ...opts } as never)
    s.on('connection', (conn) => { conn.on('error', noop) })
    swarms.push(s)
    const swarm = s as unknown as Swarm
    if (mode === 'managed') managed.push(manageSwarm(swarm))
    return swarm
  }
  const row: Record<string, unknown> = {}
  try {
    const topic = randomBytes(32)
    const server = make()
    const serverKey = hex(server.keyPair.publicKey)
    const keyPair = server.keyPair
    const client = make()
    row.keyPair = { same: keyPair === server.keyPair, bytes: server.keyPair.publicKey.byteLength }
    row.maxPeers = client.maxPeers
    const seen: Array<{ info: HyperswarmPeerInfo; listeners: number }> = []
    let updates = 0
    client.on('connection', (conn: { listenerCount(e: string): number }, info: HyperswarmPeerInfo) => { seen.push({ info, listeners: conn.listenerCount('error') }) })
    client.on('update', () => { updates++ })

    // join / flush / status / topics
    const discovery = server.join(topic, { server: true, client: false }) as { flushed(): Promise<void> }
    await discovery.flushed()
    client.join(topic, { server: false, client: true })
    row.flush = await within(client.flush(), WAIT, 'flush')
    row.status = { client: modes(client.status(topic)), server: modes(server.status(topic)) }
    row.topics = [[...client.topics()].length, [...server.topics()].length]
    row.connectedBothSides = await settles(() => client.connections.size === 1 && server.connections.size === 1)
    row.connectingAfter = client.connecting
    // the 'connection' event and its PeerInfo
    const info = seen[0]?.info
    row.connectionEvents = seen.length
    row.errorListenersSeenByUser = seen[0]?.listeners
    row.peerInfo = info === undefined
      ? undefined
      : { key: hex(info.publicKey) === serverKey, topics: (info.topics ?? []).map((t) => hex(t) === hex(topic)), client: (info as { client?: boolean }).client, explicit: info.explicit, banned: info.banned, prioritized: (info as { prioritized?: boolean }).prioritized }
    row.updateEvents = updates > 0
    row.peers = { has: client.peers.has(serverKey), same: client.peers.get(serverKey) === info }

    // leave: open connections stay
    await client.leave(topic)
    row.afterLeave = { connections: client.connections.size, topics: [...client.topics()].length, status: modes(client.status(topic)) }

    // firewall: a refused key is banned and never connected
    const walled = make({ firewall: (key: Uint8Array) => hex(key) === serverKey })
    walled.join(topic, { server: false, client: true })
    await within(walled.flush(), WAIT, 'flush')
    row.firewall = { connected: await settles(() => walled.connections.size > 0, 2_000), banned: walled.peers.get(serverKey)?.banned === true }

    // joinPeer / leavePeer / suspend / resume
    const explicit = make()
    explicit.joinPeer(server.keyPair.publicKey)
    row.joinPeer = { explicit: explicit.explicitPeers.size, connected: await settles(() => explicit.connections.size === 1) }
    explicit.leavePeer(server.keyPair.publicKey)
    row.leavePeer = { explicit: explicit.explicitPeers.size, connectionsStay: explicit.connections.size }
    await within(explicit.suspend!(), WAIT, 'suspend')
    row.suspend = { suspended: explicit.suspended, connections: await settles(() => explicit.connections.size === 0) }
    await within(explicit.resume!(), WAIT, 'resume')
    row.resume = { suspended: explicit.suspended, reconnected: await settles(() => explicit.connections.size === 1) }

    // destroy while dialing: a key nobody holds
    const dialer = make()
    dialer.joinPeer(randomBytes(32))
    await settles(() => dialer.connecting > 0, 2_000)
    const destroyed = await within(dialer.destroy!().then(() => true), WAIT, 'destroy while dialing').catch(() => false)
    row.destroyWhileDialing = { resolved: destroyed, destroyed: dialer.destroyed, connecting: dialer.connecting }

    // close() of the manager restores maxPeers (managed); plain has nothing to restore
    for (const m of managed) await m.close()
    row.maxPeersAfterClose = client.maxPeers
    return row
  } finally {
    await stopSwarms(managed, swarms as never, testnet)
  }
}

/** Rows that differ by design (docs/hyperswarm.md, "Deliberate differences"): what each mode must read. */
const DIFFERENT: Record<string, { why: string; plain: (v: unknown) => boolean; managed: (v: unknown) => boolean }> = {
  maxPeers: {
    why: 'the bound is highWater; maxPeers is Infinity while managed (difference 1), restored by close()',
    plain: (v) => v === 64,
    managed: (v) => v === Infinity
  },
  resume: {
    why: 'resume() redials at once the peers held before suspend() (difference 9); plain Hyperswarm waits for its own retry',
    plain: (v) => (v as { suspended: boolean }).suspended === false,
    managed: (v) => JSON.stringify(v) === JSON.stringify({ suspended: false, reconnected: true })
  }
}

test('every public member a Hyperswarm user touches reads the same on a managed swarm as on a plain one, but the stated differences', { timeout: 240_000 }, async () => {
  const plain = await script('plain')
  const managed = await script('managed')
  assert.deepEqual(Object.keys(managed).sort(), Object.keys(plain).sort())
  for (const name of Object.keys(plain)) {
    const different = DIFFERENT[name]
    if (different !== undefined) {
      const both = `managed ${JSON.stringify(managed[name])}, plain ${JSON.stringify(plain[name])}`
      assert.ok(different.plain(plain[name]) && different.managed(managed[name]), `${name} (${different.why}): ${both}`)
    } else {
      assert.deepEqual(managed[name], plain[name], `${name}: managed ${JSON.stringify(managed[name])}, plain ${JSON.stringify(plain[name])}`)
    }
  }
  // The script saw what it was meant to see (a row equal in both because nothing happened proves nothing).
  assert.equal(plain.connectedBothSides, true)
  assert.equal(plain.connectionEvents, 1)
  assert.deepEqual(plain.firewall, { connected: false, banned: true })
  assert.deepEqual(plain.joinPeer, { explicit: 1, connected: true })
  assert.deepEqual(plain.leavePeer, { explicit: 0, connectionsStay: 1 })
  assert.deepEqual(plain.suspend, { suspended: true, connections: true })
  assert.equal((plain.destroyWhileDialing as { resolved: boolean }).resolved, true)
  assert.equal(plain.maxPeersAfterClose, 64)
  if (process.env.HS_DEBUG !== undefined) console.log(JSON.stringify({ plain, managed }, null, 1))
})
