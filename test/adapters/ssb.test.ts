// peerwarden/ssb inside real secret-stack 8 servers on 127.0.0.1 (ports picked here; idle timeout off).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { priority, type SsbConnectionError } from '../../src/adapters/ssb.js'
import { sqliteStore } from '../../src/store/sqlite-store.js'
import { until, within } from '../helpers/wait.js'
import { awkwardKeys, freePorts, openRpcs, rpcPeers, ssbKeys, startServer, startServers, type Rpc, type Server } from './ssb-servers.js'

const pull = createRequire(import.meta.url)('pull-stream') as {
  (...parts: unknown[]): unknown
  take(n: number): unknown
  collect(cb: (err: unknown, values: unknown[]) => void): unknown
}

/** Closes every server at the end of the test, within a hard timeout. */
function closing (t: { after(fn: () => Promise<void>): void }, servers: Server[]): void {
  t.after(async () => { await within(Promise.allSettled(servers.map(async (s) => { await s.close() })), 10_000, 'closing the servers').catch(() => {}) })
}

/** The addresses the manager starts dialling, in order. */
function dialsOf (s: Server): string[] {
  const dials: string[] = []
  s.api.manager.events.addEventListener('dial:started', (e) => { dials.push(e.detail.address) })
  return dials
}

test('twelve servers dial each other: the bound holds on every server at every rpc:connect, each reaches its target, one RPC per peer', { timeout: 60_000 }, async (t) => {
  const HIGH = 5
  const LOW = 3
  const servers = await startServers(12, { config: { lowWater: LOW, highWater: HIGH } })
  closing(t, servers)
  const peak = new Map<string, number>()
  for (const s of servers) {
    peak.set(s.id, 0)
    // Registered after the plugin's listener: sees the RPC once the manager has accepted or closed it.
    s.sbot.on('rpc:connect', () => { peak.set(s.id, Math.max(peak.get(s.id)!, openRpcs(s.sbot).length)) })
  }
  for (const s of servers) s.api.peers.add(servers.filter((o) => o !== s).map((o) => ({ address: o.address })))
  for (const s of servers) s.api.connections.start()
  const counts = (): string => servers.map((s) => `${s.api.manager.stats().connections}/${openRpcs(s.sbot).length}`).join(' ')
  await until(() => servers.every((s) => s.api.manager.stats().connections >= LOW && openRpcs(s.sbot).length === s.api.manager.stats().connections), 40_000,
    () => `every server at ${LOW}+ connections, manager and secret-stack agreeing (manager/rpcs: ${counts()})`, 50)
  for (const s of servers) {
    assert.ok(peak.get(s.id)! <= HIGH, `${s.id} held ${peak.get(s.id)} RPCs at once (highWater ${HIGH})`)
    const ids = openRpcs(s.sbot).map((r) => r.id)
    assert.equal(new Set(ids).size, ids.length, `${s.id} holds one RPC per peer`)
  }
  assert.ok([...peak.values()].some((p) => p >= LOW), 'the samples saw the connections')
})

test('priorities order the dials (high, medium, low) and the trims (low first)', { timeout: 30_000 }, async (t) => {
  const [low, med, high] = await startServers(3)
  const a = await startServer({ config: { lowWater: 3, highWater: 3, maxParallelDials: 1, gracePeriod: 0 } })
  closing(t, [a, low, med, high])
  const dials = dialsOf(a)
  a.api.peers.add([
    { address: low.address, priority: priority.LOW },
    { address: med.address, priority: priority.MED },
    { address: high.address, priority: priority.HIGH }
  ])
  a.api.connections.start()
  await until(() => rpcPeers(a.sbot).length === 3, 15_000, () => `three connections (${rpcPeers(a.sbot).length})`)
  assert.deepEqual(dials, [high.address, med.address, low.address])
  a.api.connections.setMax(2)
  await until(() => !rpcPeers(a.sbot).includes(low.id), 5_000, 'the low-priority peer trimmed')
  assert.deepEqual(new Set(rpcPeers(a.sbot)), new Set([high.id, med.id]))
  await until(() => !rpcPeers(low.sbot).includes(a.id), 5_000, 'the RPC closed on the other end too')
})

test('a banned SSB id (with / + = in it) is closed at once, refused inbound, and never dialled again', { timeout: 30_000 }, async (t) => {
  const b = await startServer({ keys: awkwardKeys() })
  const [a, c] = await startServers(2, { config: { lowWater: 2, highWater: 4 } })
  closing(t, [a, b, c])
  assert.match(b.id, /\/.*\+|\+.*\//)
  a.api.peers.add([{ address: b.address }, { address: c.address }])
  a.api.connections.start()
  await until(() => rpcPeers(a.sbot).length === 2, 15_000, 'a connected to b and c')
  const dials = dialsOf(a)
  // sbot-connection-manager's form: by address; the id the address names is banned.
  a.api.peers.setPriority([{ address: b.address, priority: priority.BANNED }])
  assert.ok(!rpcPeers(a.sbot).includes(b.id), 'closed at once')
  assert.equal(a.api.manager.getPeer(b.id)?.priority, 'banned')
  await until(() => !rpcPeers(b.sbot).includes(a.id), 5_000, 'b saw the RPC close')
  // b dials a itself: the handshake is refused (sbot.auth), no RPC is ever made.
  const refused = await within(new Promise<{ err: unknown; rpc: unknown }>((resolve) => { b.sbot.connect(a.address, (err, rpc) => { resolve({ err, rpc }) }) }), 10_000, 'b dialling a')
  assert.ok(refused.err instanceof Error, 'the dial failed')
  assert.equal(refused.rpc, undefined)
  assert.ok(!rpcPeers(a.sbot).includes(b.id))
  // a is below lowWater (2) with b known: only the ban keeps it from dialling b. Let the dialer run.
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(dials.filter((d) => d === b.address), [])
  assert.equal(a.api.manager.stats().dialing, 0)
  assert.equal(a.api.manager.stats().connections, 1)
})

test('an inbound RPC is counted with its full multiserver address (host, port and key, as ssb-conn records it), which deny() by its IP closes', { timeout: 30_000 }, async (t) => {
  const [a, b] = await startServers(2, { config: { lowWater: 1, highWater: 4 } })
  closing(t, [a, b])
  await within(new Promise<void>((resolve) => { b.sbot.connect(a.address, () => { resolve() }) }), 10_000, 'b dialling a')
  await until(() => a.api.manager.listConnections().some((c) => c.peer === b.id), 10_000, 'a to count b')
  const conn = a.api.manager.listConnections().find((c) => c.peer === b.id)!
  assert.equal(conn.direction, 'inbound')
  const key = b.id.slice(1, -'.ed25519'.length)
  assert.match(conn.address ?? '', /^net:127\.0\.0\.1:\d+~shs:/, `a full address: ${String(conn.address)}`)
  assert.ok(conn.address!.endsWith(`~shs:${key}`), 'naming the remote\'s key')
  assert.notEqual(conn.address, b.address, 'the remote\'s own port, not the one it listens on')
  a.api.manager.deny('127.0.0.1')
  assert.equal(a.api.manager.stats().connections, 0, 'the deny closed it')
  await until(() => !rpcPeers(a.sbot).includes(b.id), 5_000, 'the RPC to close')
})

test('initial sync keeps one peer until stopped, then the manager fills to its target', { timeout: 30_000 }, async (t) => {
  const others = await startServers(5)
  const a = await startServer({ config: { lowWater: 4, highWater: 6 } })
  closing(t, [a, ...others])
  a.api.peers.add(others.slice(0, 4).map((o) => ({ address: o.address })))
  a.api.initialSync.start()
  a.api.connections.start()
  await until(() => a.api.manager.stats().connections === 1, 10_000, 'the one sync connection')
  // A new peer wakes the dialer: in initial sync it dials nobody else.
  a.api.peers.add([{ address: others[4].address }])
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(a.api.manager.stats().dialing, 0)
  assert.equal(rpcPeers(a.sbot).length, 1)
  a.api.initialSync.stop()
  await until(() => rpcPeers(a.sbot).length === 4, 15_000, () => `four connections after the sync (${rpcPeers(a.sbot).length})`)
})

test('connection.errors() is a pull-stream of the failed dials: { peer: address, id, error }', { timeout: 30_000 }, async (t) => {
  const a = await startServer({ config: { lowWater: 1 } })
  closing(t, [a])
  const [deadPort] = await freePorts(1)
  const key = ssbKeys.generate()
  const dead = `net:127.0.0.1:${deadPort}~shs:${key.public.replace(/\.ed25519$/, '')}`
  const got = new Promise<SsbConnectionError[]>((resolve, reject) => {
    pull(a.api.connection.errors(), pull.take(1), pull.collect((err, values) => { if (err != null) reject(err); else resolve(values as SsbConnectionError[]) }))
  })
  a.api.peers.add([{ address: dead }])
  a.api.connections.start()
  const [failure] = await within(got, 15_000, 'the failed dial')
  assert.equal(failure.peer, dead)
  assert.equal(failure.id, key.id)
  assert.ok(failure.error instanceof Error)
  assert.equal((failure.error as { code?: string }).code, 'ERR_DIAL_FAILED')
})

test('secret-stack keeps duplicate RPCs; the plugin keeps one, the same one on both sides', { timeout: 30_000 }, async (t) => {
  const [a, b] = await startServers(2)
  closing(t, [a, b])
  const clientSide = new WeakMap<Rpc, boolean>()
  for (const s of [a, b]) s.sbot.on('rpc:connect', (rpc, isClient) => { clientSide.set(rpc, isClient) })
  const dial = async (from: Server, to: Server): Promise<void> => { await new Promise<void>((resolve) => { from.sbot.connect(to.address, () => { resolve() }) }) }
  await within(Promise.all([dial(a, b), dial(b, a), dial(a, b)]), 10_000, 'the crossed dials')
  await until(() => openRpcs(a.sbot).length === 1 && openRpcs(b.sbot).length === 1, 5_000, () => `one RPC each (${openRpcs(a.sbot).length}, ${openRpcs(b.sbot).length})`)
  const [ra] = openRpcs(a.sbot)
  const [rb] = openRpcs(b.sbot)
  assert.notEqual(clientSide.get(ra), clientSide.get(rb), 'both ends of one connection')
  assert.equal(a.api.manager.stats().connections, 1)
  assert.equal(b.api.manager.stats().connections, 1)
})

test('a restarted server with a store returns to its previous peers before anything else', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-ssb-store-'))
  const [p1, p2, ...qs] = await startServers(6)
  const all = [p1, p2, ...qs]
  closing(t, all)
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const keys = ssbKeys.generate()
  const config = { lowWater: 2, highWater: 4, maxParallelDials: 2 }
  const first = await startServer({ keys, config, plugin: { store: sqliteStore(join(dir, 'peers.db')) } })
  all.push(first)
  first.api.peers.add([{ address: p1.address }, { address: p2.address }])
  first.api.connections.start()
  await until(() => rpcPeers(first.sbot).length === 2, 15_000, 'the first life connected to p1 and p2')
  await first.close()

  const second = await startServer({ keys, config, plugin: { store: sqliteStore(join(dir, 'peers.db')) } })
  all.push(second)
  const dials = dialsOf(second)
  // The application hands over its whole list again, the newcomers first.
  second.api.peers.add([...qs, p1, p2].map((s) => ({ address: s.address })))
  second.api.connections.start()
  await until(() => rpcPeers(second.sbot).length === 2, 15_000, 'the second life connected')
  assert.deepEqual(new Set(dials.slice(0, 2)), new Set([p1.address, p2.address]), `dials: ${dials.join(', ')}`)
  assert.deepEqual(new Set(rpcPeers(second.sbot)), new Set([p1.id, p2.id]))
})

test('a full server whose connections are all in their grace period makes room for a newcomer (once a second), never past the bound', { timeout: 30_000 }, async (t) => {
  const a = await startServer({ config: { lowWater: 2, highWater: 3 } })
  const [p1, p2, p3, n1, n2] = await startServers(5)
  closing(t, [a, p1, p2, p3, n1, n2])
  const connect = async (from: Server): Promise<unknown> => await within(new Promise((resolve) => { from.sbot.connect(a.address, (err) => { resolve(err) }) }), 10_000, 'a dial to a')
  for (const p of [p1, p2, p3]) assert.equal(await connect(p), null)
  await until(() => a.api.manager.stats().connections === 3, 5_000, 'a at its bound')
  // n1 knocks: the oldest connection (p1) gives way, n1's handshake goes on.
  assert.equal(await connect(n1), null)
  await until(() => rpcPeers(a.sbot).includes(n1.id) && !rpcPeers(a.sbot).includes(p1.id), 5_000, () => `n1 in, p1 out (${rpcPeers(a.sbot).length})`)
  assert.ok(openRpcs(a.sbot).length <= 3)
  // n2 knocks within the second: refused at the handshake.
  assert.ok(await connect(n2) instanceof Error)
  assert.ok(!rpcPeers(a.sbot).includes(n2.id))
  assert.equal(a.api.manager.stats().connections, 3)
})
