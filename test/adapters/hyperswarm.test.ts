import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm } from '../../src/adapters/hyperswarm.js'
import { until } from '../helpers/wait.js'

const T = { timeout: 30_000 }

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

async function teardown (managed: ManagedSwarm[], swarms: Hyperswarm[], testnet: Testnet | undefined): Promise<void> {
  await withTimeout(Promise.allSettled(managed.map(async (m) => { await m.close() })), 5_000)
  const done = await withTimeout(Promise.allSettled(swarms.map(async (s) => { await s.destroy() })), 8_000)
  if (done === undefined) await Promise.allSettled(swarms.map(async (s) => { await s.destroy({ force: true }) }))
  if (testnet !== undefined) await withTimeout(testnet.destroy(), 5_000)
}

const keyHex = (conn: unknown): string => Buffer.from((conn as { remotePublicKey: Uint8Array }).remotePublicKey).toString('hex')

test('hyperswarm: 12 swarms on one topic hold the same bound in both directions', T, async () => {
  const N = 12
  const LOW = 2
  const HIGH = 4
  let testnet: Testnet | undefined
  const swarms: Hyperswarm[] = []
  const managed: ManagedSwarm[] = []
  try {
    testnet = await createTestnet(3, { host: '127.0.0.1' })
    for (let i = 0; i < N; i++) swarms.push(new Hyperswarm({ dht: testnet.createNode() }))
    for (const s of swarms) managed.push(manageSwarm(s as unknown as HyperswarmLike, { lowWater: LOW, highWater: HIGH, gracePeriod: 500 }))

    // Sampled on every connection event of every swarm (after the adapter's own listener), and on every close.
    let maxSeen = 0
    let samples = 0
    const violations: string[] = []
    const sample = (): void => {
      samples++
      managed.forEach((m, i) => {
        const conns = m.manager.listConnections()
        maxSeen = Math.max(maxSeen, conns.length)
        if (conns.length > HIGH) violations.push(`swarm ${i}: ${conns.length} connections`)
        const peers = new Set(conns.map((c) => c.peer))
        if (peers.size !== conns.length) violations.push(`swarm ${i}: two connections to one peer`)
      })
    }
    let refused = 0
    let evicted = 0
    for (const m of managed) {
      m.manager.events.addEventListener('connection:refused', () => { refused++ })
      m.manager.events.addEventListener('trim', () => { evicted++ })
    }
    for (const s of swarms) {
      s.on('connection', (conn) => {
        sample()
        conn.on('close', sample)
      })
    }

    await Promise.all(swarms.map(async (s) => { await s.dht.fullyBootstrapped() }))
    const topic = randomBytes(32)
    // One after another (Hyperswarm's best case: swarms that all join at the same instant may miss each other).
    for (const s of swarms) await s.join(topic, { server: true, client: true }).flushed()

    const counts = (): string => managed.map((m, i) => `${m.manager.stats().connections}/${swarms[i]!.connections.size}`).join(' ')
    const settled = (): boolean => managed.every((m, i) => {
      const c = m.manager.stats().connections
      const transport = swarms[i]!.connections
      const managerPeers = new Set(m.manager.listConnections().map((x) => x.peer))
      return c >= 1 && c <= HIGH && transport.size === c && [...transport].every((conn) => managerPeers.has(keyHex(conn)))
    })
    await until(settled, 20_000, () => `every swarm at 1..${HIGH} connections, manager and transport agreeing (manager/transport: ${counts()})`, 50)
    // And it stays so for a while (no churn pushing anyone over).
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    sample()
    if (process.env.HS_DEBUG) console.log(`max ${maxSeen} samples ${samples} refused ${refused} trims ${evicted} counts ${counts()} dirs ${managed.map((m) => m.manager.stats().outbound + 'o' + m.manager.stats().inbound + 'i').join(' ')}`)

    assert.deepEqual(violations, [], `over highWater or duplicated at some connection event (max seen ${maxSeen})`)
    assert.ok(maxSeen <= HIGH, `max seen ${maxSeen}`)
    assert.ok(samples > N, `sampled ${samples} times`)
    for (const [i, m] of managed.entries()) {
      const c = m.manager.stats().connections
      assert.ok(c >= 1, `swarm ${i} has ${c} connections (${counts()})`)
      assert.ok(c <= HIGH, `swarm ${i} has ${c} connections (${counts()})`)
      assert.ok(swarms[i]!.connections.size <= HIGH, `swarm ${i} transport holds ${swarms[i]!.connections.size} (${counts()})`)
    }
  } finally {
    await teardown(managed, swarms, testnet)
  }
})

test('hyperswarm: a peer banned in the manager is firewalled; the user firewall still applies', T, async () => {
  let testnet: Testnet | undefined
  const swarms: Hyperswarm[] = []
  const managed: ManagedSwarm[] = []
  try {
    testnet = await createTestnet(3, { host: '127.0.0.1' })
    const userCalls: string[] = []
    const a = new Hyperswarm({ dht: testnet.createNode() })
    const b = new Hyperswarm({ dht: testnet.createNode(), firewall: (key: Uint8Array) => { userCalls.push(Buffer.from(key).toString('hex')); return false } } as never)
    const c = new Hyperswarm({ dht: testnet.createNode() })
    swarms.push(a, b, c)
    const hex = (s: Hyperswarm): string => Buffer.from((s as unknown as HyperswarmLike).keyPair.publicKey).toString('hex')
    const [ma, mb, mc] = swarms.map((s) => manageSwarm(s as unknown as HyperswarmLike, { lowWater: 0, highWater: 4 }))
    managed.push(ma!, mb!, mc!)
    await Promise.all(swarms.map(async (s) => { await s.dht.fullyBootstrapped() }))
    await Promise.all(swarms.map(async (s) => { await (s as unknown as { listen(): Promise<void> }).listen() }))
    mb!.manager.setPriority([{ peer: hex(a), priority: 'banned' }])

    // a → b is refused by b's firewall: the dial fails (or times out) and no connection is counted.
    await assert.rejects(ma!.manager.connectNow(`hyperswarm:${hex(b)}`, { signal: AbortSignal.timeout(4_000) }))
    assert.equal(mb!.manager.stats().connections, 0)
    assert.equal(ma!.manager.stats().connections, 0)
    assert.ok(!userCalls.includes(hex(a)), 'the manager refuses before the user firewall is asked')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal((b as unknown as HyperswarmLike).peers.get(hex(a))?.banned, true, 'banned in the manager, so banned in Hyperswarm too (not lifted as an over-the-bound refusal is)')

    // c → b goes through, and b's own firewall was consulted for c.
    const conn = await mc!.manager.connectNow(`hyperswarm:${hex(b)}`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(conn.peer, hex(b))
    assert.equal(conn.direction, 'outbound')
    await until(() => mb!.manager.stats().connections === 1, 5_000, () => 'b to count c', 50)
    assert.equal(mb!.manager.listConnections()[0]!.peer, hex(c))
    assert.equal(mb!.manager.listConnections()[0]!.direction, 'inbound')
    assert.ok(userCalls.includes(hex(c)), 'the user firewall was consulted for c')
  } finally {
    await teardown(managed, swarms, testnet)
  }
})

/** A stand-in for Hyperswarm's surface, to drive the dedup orders exactly. */
function fakeSwarm (): { swarm: HyperswarmLike & { emit(e: string, ...a: unknown[]): boolean }; conn(key: Buffer, initiator: boolean): { c: import('../../src/adapters/hyperswarm.js').HyperswarmConnection & { emit(e: string): boolean }; destroyed: () => boolean } } {
  const ee = new EventEmitter() as unknown as HyperswarmLike & EventEmitter
  Object.assign(ee, {
    keyPair: { publicKey: Buffer.alloc(32, 0x55) },
    connections: new Set(),
    peers: new Map(),
    maxPeers: 64,
    maxClientConnections: Infinity,
    joinPeer () {},
    leavePeer () {},
    join () { return {} },
    async leave () {}
  })
  return {
    swarm: ee as never,
    conn (key, initiator) {
      const c = new EventEmitter() as EventEmitter & { remotePublicKey: Buffer; isInitiator: boolean; destroy(): void }
      let destroyed = false
      c.remotePublicKey = key
      c.isInitiator = initiator
      c.destroy = () => { if (!destroyed) { destroyed = true; queueMicrotask(() => c.emit('close')) } }
      return { c: c as never, destroyed: () => destroyed }
    }
  }
}

test('hyperswarm: a replaced connection\'s close does not drop the new one', T, async () => {
  const { swarm, conn } = fakeSwarm()
  const m = manageSwarm(swarm, { lowWater: 0, highWater: 4 })
  try {
    const key = Buffer.alloc(32, 0x77)
    const peer = key.toString('hex')
    // Hyperswarm's swap: the old connection closes, then the new one is emitted; a late repeat of the old close is harmless.
    const a = conn(key, true)
    swarm.emit('connection', a.c, { publicKey: key })
    assert.equal(m.manager.stats().connections, 1)
    const b = conn(key, false)
    a.c.emit('close')
    swarm.emit('connection', b.c, { publicKey: key })
    a.c.emit('close')
    assert.equal(m.manager.stats().connections, 1)
    assert.equal(m.manager.listConnections()[0]!.direction, 'inbound')
    assert.equal(b.destroyed(), false)

    // Were both ever reported at once, the manager keeps exactly one and the loser's close changes nothing.
    const c = conn(key, true)
    swarm.emit('connection', c.c, { publicKey: key })
    const kept = m.manager.listConnections()
    assert.equal(kept.length, 1)
    assert.equal(kept[0]!.peer, peer)
    assert.equal(b.destroyed() !== c.destroyed(), true, 'exactly one of the two is destroyed')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(m.manager.stats().connections, 1)
    assert.equal(swarm.maxPeers, Infinity)
    assert.equal(swarm.maxClientConnections, Infinity, 'Hyperswarm\'s own client limit is left alone (its dial queue is replaced instead)')
  } finally {
    await m.close()
  }
  assert.equal(swarm.maxPeers, 64, 'close() restores the swarm\'s limits')
})

test('hyperswarm: over the bound the firewall refuses the handshake, and only that one (Hyperswarm\'s ban is lifted)', async () => {
  const { swarm, conn } = fakeSwarm()
  // lowWater = highWater: nothing is surplus, so the room lets no connection give way (it would let the handshake in).
  const managed = manageSwarm(swarm, { lowWater: 2, highWater: 2, gracePeriod: 60_000 })
  try {
    const key = (n: number): Buffer => Buffer.alloc(32, n)
    for (const n of [1, 2]) swarm.emit('connection', conn(key(n), false).c, { publicKey: key(n) })
    assert.equal(managed.manager.stats().connections, 2)
    // what Hyperswarm does: ask the firewall, and ban the key for good when it says yes
    const handshake = (n: number): { firewalled: boolean; info: { banned: boolean; ban: (v: boolean) => void } } => {
      const info = { publicKey: key(n), banned: false, ban (v: boolean) { this.banned = v } }
      swarm.peers.set(key(n).toString('hex'), info)
      const firewalled = swarm._firewall!(key(n), null)
      if (firewalled) info.ban(true)
      return { firewalled, info }
    }
    const full = handshake(3)
    assert.equal(full.firewalled, true, 'at the bound, both in grace: refused before the handshake completes')
    await Promise.resolve()
    assert.equal(full.info.banned, false, 'the refusal is for this handshake only')
    managed.manager.setPriority([{ peer: key(4).toString('hex'), priority: 'banned' }])
    const banned = handshake(4)
    await Promise.resolve()
    assert.equal(banned.firewalled, true)
    assert.equal(banned.info.banned, true, 'a peer banned in the manager stays banned in Hyperswarm')
    managed.manager.setMaxConnections(3)
    assert.equal(handshake(5).firewalled, false, 'below the bound again: admitted')
  } finally {
    await managed.close()
  }
})
