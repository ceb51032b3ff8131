import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { dialAddress, peerwarden, type PeerwardenLibp2pOptions, type PeerwardenService } from '../../src/adapters/libp2p.js'
import { sqliteStore } from '../../src/store/sqlite-store.js'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { floodsub } from '@libp2p/floodsub'
import { gossipsub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { sleep, until, untilRunnable, within } from '../helpers/wait.js'

type Node = Awaited<ReturnType<typeof createLibp2p>>
interface Conn { remotePeer: { toString(): string }; status: string }

const T = { timeout: 40_000 }
/** Every dial here comes from 127.0.0.1: libp2p's per-host inbound rate limit would refuse most of them. */
const LOOPBACK = { inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1_000 }
const ECHO = '/peerwarden-test/echo/1.0.0'

interface MkOptions { warden?: PeerwardenLibp2pOptions; identify?: boolean; pubsub?: 'floodsub' | 'gossipsub'; echo?: boolean; maxConnections?: number; connectionManager?: Record<string, unknown> }

async function mk (opts: MkOptions = {}): Promise<Node> {
  const services: Record<string, unknown> = {}
  if (opts.identify === true) services.identify = identify()
  if (opts.pubsub === 'floodsub') services.pubsub = floodsub()
  if (opts.pubsub === 'gossipsub') services.pubsub = gossipsub()
  if (opts.warden !== undefined) services.warden = peerwarden(opts.warden)
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { ...LOOPBACK, ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}), ...opts.connectionManager },
    services: services as any
  })
  if (opts.echo === true) await node.handle(ECHO, () => {})
  return node
}

const warden = (node: Node): PeerwardenService => (node.services as unknown as { warden: PeerwardenService }).warden
const openConns = (node: Node): Conn[] => (node.getConnections() as unknown as Conn[]).filter((c) => c.status === 'open')
const addr = (node: Node): string => {
  const ma = node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  if (ma === undefined) throw new Error('not listening on 127.0.0.1')
  return ma.toString()
}
const connectedTo = (node: Node, other: Node): boolean => openConns(node).some((c) => c.remotePeer.toString() === other.peerId.toString())

/** The open-connection count sampled on every connection event of `node` (after the service's own listener). */
function sampler (node: Node): { peak: () => number; opens: () => number } {
  let peak = 0
  let opens = 0
  const sample = (): void => { peak = Math.max(peak, openConns(node).length, warden(node).manager.stats().connections) }
  node.addEventListener('connection:open', () => { opens++; sample() })
  node.addEventListener('connection:close', sample)
  return { peak: () => peak, opens: () => opens }
}

async function stopAll (nodes: Node[]): Promise<void> {
  // Bounded, and failing when over: a race with an uncleared 10 s sleep kept the file's process alive
  // for 10 s after its last test, and let a stop that hung pass.
  await within(Promise.allSettled(nodes.map(async (n) => { await n.stop() })), 20_000, 'the libp2p nodes to stop')
}

/** Tells `node` of the others' addresses through libp2p's peer store (as discovery would). */
async function introduce (node: Node, others: Node[]): Promise<void> {
  for (const o of others) await node.peerStore.merge(o.peerId, { multiaddrs: [multiaddr(addr(o))] })
}

test('libp2p: a node dialled by 20 peers at once never holds more than highWater 8', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 4, highWater: 8 } })
    nodes.push(t)
    const s = sampler(t)
    const others = await Promise.all(Array.from({ length: 20 }, async () => await mk()))
    nodes.push(...others)
    await Promise.allSettled(others.map(async (o) => await o.dial(multiaddr(addr(t)))))
    await untilRunnable(() => openConns(t).length === 8 && warden(t).manager.stats().connections === 8, 5_000, () => `8 connections (${openConns(t).length} open)`)
    assert.ok(s.peak() <= 8, `peak ${s.peak()} > 8`)
    assert.equal(warden(t).manager.stats().connections, 8)
    assert.equal(openConns(t).length, 8)
    // the refused ones are gone on their side too (refused right after Noise, before the muxer)
    await until(() => others.filter((o) => connectedTo(o, t)).length === 8, 5_000, () => `${others.filter((o) => connectedTo(o, t)).length} dialers still connected`)
  } finally {
    await stopAll(nodes)
  }
})

// Bug: an evicted peer was closed gracefully while the newcomer was already in, so libp2p's
// getConnections() (which lists closing connections too) peaked at highWater + 1.
test('libp2p: 20 peers dialling in one by one past their grace period: getConnections() never lists more than highWater, closing ones included', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 4, highWater: 8, gracePeriod: 20 } })
    nodes.push(t)
    let peak = 0
    const sample = (): void => { peak = Math.max(peak, (t.getConnections() as unknown as Conn[]).filter((c) => c.status !== 'closed').length) }
    t.addEventListener('connection:open', sample)
    for (let i = 0; i < 20; i++) {
      const o = await mk()
      nodes.push(o)
      await o.dial(multiaddr(addr(t))).catch(() => {})
      await sleep(40) // past the grace period: the next one evicts
      sample()
    }
    assert.ok(peak <= 8, `getConnections() listed ${peak} > 8`)
    assert.ok(warden(t).manager.stats().connections <= 8)
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: a node that knows 20 peers dials to lowWater on its own, and its own dials never pass highWater', T, async () => {
  const nodes: Node[] = []
  try {
    const others = await Promise.all(Array.from({ length: 20 }, async () => await mk()))
    nodes.push(...others)
    const t = await mk({ warden: { lowWater: 4, highWater: 8 } })
    nodes.push(t)
    const s = sampler(t)
    await introduce(t, others)
    await until(() => warden(t).manager.stats().connections >= 4, 10_000, () => `${warden(t).manager.stats().connections} connections`)
    assert.equal(warden(t).manager.stats().outbound, warden(t).manager.stats().connections)

    // The application dials all 20 itself, at once: libp2p never connects more than 8.
    const results = await Promise.allSettled(others.map(async (o) => await t.dial(o.peerId)))
    await untilRunnable(() => openConns(t).length === warden(t).manager.stats().connections, 5_000, () => `libp2p and the manager to agree (${openConns(t).length} open, ${warden(t).manager.stats().connections} counted)`)
    assert.ok(s.peak() <= 8, `peak ${s.peak()} > 8`)
    assert.ok(openConns(t).length <= 8)
    assert.ok(results.some((r) => r.status === 'rejected'), 'the dials past the bound are refused')
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: when its peers drop, the node redials to at least lowWater from the peers it knows', T, async () => {
  const nodes: Node[] = []
  try {
    const others = await Promise.all(Array.from({ length: 12 }, async () => await mk()))
    nodes.push(...others)
    const t = await mk({ warden: { lowWater: 4, highWater: 8 } })
    nodes.push(t)
    await introduce(t, others)
    await until(() => openConns(t).length >= 4, 10_000, () => `${openConns(t).length} connections`)
    const first = new Set(openConns(t).map((c) => c.remotePeer.toString()))
    const dropped = others.filter((o) => first.has(o.peerId.toString())).slice(0, 3)
    await Promise.all(dropped.map(async (o) => { await o.stop() }))
    await until(() => openConns(t).length >= 4 && warden(t).manager.stats().connections >= 4, 10_000, () => `${openConns(t).length} connections after 3 peers stopped`)
    for (const o of dropped) assert.ok(!connectedTo(t, o))
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: a node stopped and started again (the same libp2p instance) is managed again: it redials to lowWater and the bound holds', T, async () => {
  const nodes: Node[] = []
  try {
    const others = await Promise.all(Array.from({ length: 8 }, async () => await mk()))
    nodes.push(...others)
    const t = await mk({ warden: { lowWater: 3, highWater: 5 } })
    nodes.push(t)
    await introduce(t, others)
    await until(() => openConns(t).length >= 3, 10_000, () => `${openConns(t).length} connections`)
    await t.stop()
    assert.equal(warden(t).manager.running, false)
    assert.equal(warden(t).manager.stats().connections, 0)
    await t.start()
    assert.equal(warden(t).manager.running, true, 'started again with libp2p')
    await until(() => openConns(t).length >= 3 && warden(t).manager.stats().connections >= 3, 10_000, () => `${openConns(t).length} connections after the restart`)
    // The gater is back: past highWater, inbound dials are refused or make room.
    await Promise.allSettled(others.map(async (o) => { await o.dial(multiaddr(addr(t))) }))
    await until(() => warden(t).manager.stats().connections <= 5 && openConns(t).length <= 5, 10_000, () => `${openConns(t).length} connections, bound 5`)
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: a protected peer survives every eviction and trim', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 2, highWater: 4, gracePeriod: 0, silencePeriod: 50 } })
    nodes.push(t)
    const keeper = await mk()
    nodes.push(keeper)
    warden(t).manager.protect(keeper.peerId.toString(), 'app')
    await keeper.dial(multiaddr(addr(t)))
    let keeperClosed = 0
    t.addEventListener('connection:close', (e) => { if (e.detail.remotePeer.toString() === keeper.peerId.toString()) keeperClosed++ })
    const others = await Promise.all(Array.from({ length: 10 }, async () => await mk()))
    nodes.push(...others)
    for (const o of others) await o.dial(multiaddr(addr(t))).catch(() => {}) // each newcomer evicts the lowest-ranked peer
    await warden(t).manager.trim()
    await untilRunnable(() => openConns(t).length <= 4, 5_000, () => `the trim to close (${openConns(t).length} open)`)
    assert.equal(keeperClosed, 0)
    assert.ok(connectedTo(t, keeper))
    assert.ok(openConns(t).length <= 4)
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: a banned peer never stays connected, and the node never dials it', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 2, highWater: 8 } })
    const bad = await mk()
    const good = await mk()
    nodes.push(t, bad, good)
    await bad.dial(multiaddr(addr(t)))
    await until(() => connectedTo(t, bad), 5_000, () => 'the first connection')
    // banned while connected: disconnected at once
    warden(t).manager.setPriority([{ peer: bad.peerId.toString(), priority: 'banned' }])
    await until(() => !connectedTo(t, bad) && !connectedTo(bad, t), 5_000, () => 'the banned peer to be disconnected')
    // it dials again: refused right after Noise, never reaches connection:open on the node
    let opened = 0
    t.addEventListener('connection:open', (e) => { if (e.detail.remotePeer.toString() === bad.peerId.toString()) opened++ })
    await bad.dial(multiaddr(addr(t))).catch(() => {})
    await untilRunnable(() => !connectedTo(bad, t), 5_000, 'the refused dial to be gone on the banned side')
    assert.equal(opened, 0)
    assert.ok(!connectedTo(t, bad))
    // the node's own dial to it is refused before any socket
    await assert.rejects(t.dial(bad.peerId))
    await assert.rejects(t.dial(multiaddr(dialAddress(addr(bad), bad.peerId.toString()))))
    assert.equal(opened, 0)
    // others are unaffected
    await t.dial(multiaddr(addr(good)))
    assert.ok(connectedTo(t, good))
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: peerwarden and libp2p\'s own connection manager do not fight', T, async () => {
  const nodes: Node[] = []
  try {
    // The user left libp2p's maxConnections below highWater: the service lifts it, so libp2p's
    // pruner never closes what the manager keeps (no close/redial loop).
    const t = await mk({ warden: { lowWater: 6, highWater: 8, gracePeriod: 0, silencePeriod: 100 }, maxConnections: 5 })
    nodes.push(t)
    const others = await Promise.all(Array.from({ length: 12 }, async () => await mk()))
    nodes.push(...others)
    let pruned = 0
    t.addEventListener('connection:prune', (e) => { pruned += (e.detail as unknown[]).length })
    const dialsPerPeer = new Map<string, number>()
    t.addEventListener('connection:open', (e) => {
      if (e.detail.direction !== 'outbound') return
      const p = e.detail.remotePeer.toString()
      dialsPerPeer.set(p, (dialsPerPeer.get(p) ?? 0) + 1)
    })
    // a peer libp2p keeps alive (it would redial it itself) is protected in the manager
    const kept = others[0]!
    await t.peerStore.merge(kept.peerId, { multiaddrs: [multiaddr(addr(kept))], tags: { 'keep-alive': { value: 1 } } })
    await until(() => warden(t).manager.isProtected(kept.peerId.toString()), 2_000, () => 'keep-alive to become protection')
    await introduce(t, others.slice(1))
    await until(() => openConns(t).length >= 6, 10_000, () => `${openConns(t).length} connections`)
    // inbound pressure on top, then a few trims
    await Promise.allSettled(others.map(async (o) => await o.dial(multiaddr(addr(t)))))
    for (let i = 0; i < 3; i++) { await warden(t).manager.trim(); await sleep(150) }
    await sleep(1_000)
    assert.equal(pruned, 0, 'libp2p pruned connections itself')
    assert.ok(t.services && openConns(t).length <= 8)
    const worst = Math.max(0, ...dialsPerPeer.values())
    assert.ok(worst <= 2, `a peer was dialled ${worst} times in ~2 s`)
    // libp2p's tag values weigh in the manager's ranking
    assert.equal(warden(t).manager.getTagInfo(kept.peerId.toString())?.tags['libp2p:keep-alive'], 1)
    // a highWater raised at run time lifts libp2p's limit again at the next connection
    const cm = (t as unknown as { components: { connectionManager: { getMaxConnections: () => number } } }).components.connectionManager
    assert.equal(cm.getMaxConnections(), 12)
    warden(t).manager.setWatermarks(6, 20)
    const late = await mk()
    nodes.push(late)
    await late.dial(multiaddr(addr(t)))
    await until(() => cm.getMaxConnections() >= 30, 2_000, () => `libp2p's maxConnections ${cm.getMaxConnections()}`)
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: protocol quotas keep min speakers of a protocol (membership from identify)', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ identify: true, warden: { lowWater: 3, highWater: 4, gracePeriod: 0, silencePeriod: 50, protocols: { [ECHO]: { min: 2 } } } })
    nodes.push(t)
    const speakers = await Promise.all(Array.from({ length: 3 }, async () => await mk({ identify: true, echo: true })))
    const plain = await Promise.all(Array.from({ length: 6 }, async () => await mk({ identify: true })))
    nodes.push(...speakers, ...plain)
    // the speakers rank lowest: without the quota they would be the first to go
    for (const p of plain) warden(t).manager.tagPeer(p.peerId.toString(), 'app', 100)
    for (const s of speakers) await s.dial(multiaddr(addr(t)))
    await until(() => speakers.every((s) => warden(t).manager.getPeer(s.peerId.toString())?.topics.includes(`protocol:${ECHO}`) === true), 5_000, () => 'identify to report the protocol')
    for (const p of plain) await p.dial(multiaddr(addr(t))).catch(() => {})
    await warden(t).manager.trim()
    await untilRunnable(() => openConns(t).length <= 4, 5_000, () => `the trim to close (${openConns(t).length} open)`)
    const held = openConns(t).map((c) => c.remotePeer.toString())
    const speakersHeld = speakers.filter((s) => held.includes(s.peerId.toString())).length
    assert.ok(held.length <= 4)
    assert.ok(speakersHeld >= 2, `only ${speakersHeld} speakers kept`)
  } finally {
    await stopAll(nodes)
  }
})

for (const kind of ['floodsub', 'gossipsub'] as const) {
  test(`libp2p: pubsub topic quotas with protect keep the subscribers connected (${kind})`, T, async () => {
    const nodes: Node[] = []
    try {
      const t = await mk({ pubsub: kind, identify: true, warden: { lowWater: 2, highWater: 3, gracePeriod: 0, silencePeriod: 50, topics: { news: { min: 1, protect: true } } } })
      nodes.push(t)
      const sub = await mk({ pubsub: kind, identify: true })
      nodes.push(sub)
      ;(sub.services as any).pubsub.subscribe('news')
      ;(t.services as any).pubsub.subscribe('news')
      await sub.dial(multiaddr(addr(t)))
      const id = sub.peerId.toString()
      await until(() => warden(t).manager.isProtected(id, 'pubsub:news'), 5_000, () => 'the subscription to reach the manager')
      assert.ok(warden(t).manager.getPeer(id)?.topics.includes('pubsub:news'))
      if (kind === 'gossipsub') {
      // gossipsub tags the peers it grafts into a topic's mesh in libp2p's peer store (the topic, 100):
      // the manager mirrors that tag, so the mesh weighs in trimming.
        await until(() => warden(t).manager.getTagInfo(id)?.tags['libp2p:news'] === 100, 5_000, () => `gossipsub's mesh tag to reach the manager: ${JSON.stringify(warden(t).manager.getTagInfo(id)?.tags)}`)
      }
      const others = await Promise.all(Array.from({ length: 6 }, async () => await mk({ pubsub: kind, identify: true })))
      nodes.push(...others)
      for (const o of others) warden(t).manager.tagPeer(o.peerId.toString(), 'app', 100)
      for (const o of others) await o.dial(multiaddr(addr(t))).catch(() => {})
      await warden(t).manager.trim()
      await untilRunnable(() => openConns(t).length <= 3, 5_000, () => `the trim to close (${openConns(t).length} open)`)
      assert.ok(connectedTo(t, sub))
      // unsubscribing lifts the protection
      ;(sub.services as any).pubsub.unsubscribe('news')
      await until(() => !warden(t).manager.isProtected(id, 'pubsub:news'), 5_000, () => 'the unsubscription to reach the manager')
    } finally {
      await stopAll(nodes)
    }
  })
}

test('libp2p: a restarted node with a persistent store redials its previous peers, not the bootstrap', T, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-libp2p-'))
  const nodes: Node[] = []
  try {
    const bootstrap = await mk()
    const previous = await Promise.all(Array.from({ length: 3 }, async () => await mk()))
    nodes.push(bootstrap, ...previous)
    const bootAddr = dialAddress(addr(bootstrap), bootstrap.peerId.toString())
    const file = join(dir, 'peers.db')

    const first = await mk({ warden: { lowWater: 3, highWater: 6, store: sqliteStore(file) } })
    nodes.push(first)
    await introduce(first, previous)
    await until(() => previous.every((p) => connectedTo(first, p)), 10_000, () => 'the first run to connect its peers')
    await first.stop()

    let bootstrapDialled = 0
    bootstrap.addEventListener('connection:open', () => { bootstrapDialled++ })
    const second = await mk({ warden: { lowWater: 3, highWater: 6, store: sqliteStore(file), bootstrap: [bootAddr] } })
    nodes.push(second)
    await until(() => previous.every((p) => connectedTo(second, p)), 10_000, () => 'the restarted node to reconnect its previous peers')
    await sleep(300)
    assert.equal(bootstrapDialled, 0)

    // control: without the store, the bootstrap is the only peer it knows, and it is dialled
    const fresh = await mk({ warden: { lowWater: 3, highWater: 6, bootstrap: [bootAddr] } })
    nodes.push(fresh)
    await until(() => bootstrapDialled > 0, 10_000, () => `a node without a store to dial the bootstrap (${JSON.stringify(warden(fresh).manager.listPeers())} ${JSON.stringify(warden(fresh).manager.explain(bootstrap.peerId.toString()))})`)
  } finally {
    await stopAll(nodes)
    rmSync(dir, { recursive: true, force: true })
  }
})

test('libp2p: bad options are refused with an error naming them', () => {
  assert.throws(() => peerwarden({ bootstrap: ['/ip4/127.0.0.1/tcp/1'] }), (e: any) => e.code === 'ERR_INVALID_ARGUMENT' && /bootstrap/.test(e.message))
  assert.throws(() => peerwarden({ protocols: { '/x/1': { min: -1 } } }), (e: any) => e.code === 'ERR_INVALID_ARGUMENT' && /protocols\['\/x\/1'\]\.min/.test(e.message))
  assert.throws(() => peerwarden({ topics: { a: { min: 3, max: 1 } } }), (e: any) => e.code === 'ERR_INVALID_ARGUMENT' && /topics\['a'\]\.max/.test(e.message))
})

test('libp2p: Promise.withResolvers is there once the adapter is imported (Node 20 lacks it)', () => {
  const r = (Promise as any).withResolvers()
  assert.ok(r.promise instanceof Promise)
  assert.equal(typeof r.resolve, 'function')
})

test('libp2p: peers from peer:discovery are dialled by the manager', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 1, highWater: 4 } })
    const o = await mk()
    nodes.push(t, o)
    const events = (t as unknown as { components: { events: { safeDispatchEvent: (type: string, init: { detail: unknown }) => void } } }).components.events
    events.safeDispatchEvent('peer:discovery', { detail: { id: o.peerId, multiaddrs: o.getMultiaddrs() } })
    await until(() => connectedTo(t, o), 5_000, () => 'the discovered peer to be dialled')
    assert.equal(warden(t).manager.getPeer(o.peerId.toString())?.connected, true)
    assert.equal(warden(t).manager.listConnections()[0]?.direction, 'outbound')
  } finally {
    await stopAll(nodes)
  }
})

// js-libp2p's index.spec.ts and integration peers.spec.ts, on real nodes: libp2p's own admission
// and reconnect queue stay in force under the service (test/adapters/libp2p-conformance.test.ts has the rest).
test('libp2p: its per-host inbound rate limit stays in force under peerwarden (inboundConnectionThreshold 1: a second inbound from the same host within a second is refused)', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 0, highWater: 8 }, connectionManager: { inboundConnectionThreshold: 1 } })
    const [a, b] = [await mk(), await mk()]
    nodes.push(t, a, b)
    await a.dial(multiaddr(addr(t)))
    await assert.rejects(b.dial(multiaddr(addr(t))), 'the second inbound from 127.0.0.1 within a second')
    assert.ok(connectedTo(t, a) && !connectedTo(t, b))
  } finally {
    await stopAll(nodes)
  }
})

test('libp2p: a keep-alive peer whose connection drops is redialled by libp2p\'s reconnect queue and counted by the manager (js-libp2p: within 5 s)', T, async () => {
  const nodes: Node[] = []
  try {
    const t = await mk({ warden: { lowWater: 0, highWater: 2 } })
    const k = await mk()
    nodes.push(t, k)
    await t.peerStore.merge(k.peerId, { multiaddrs: [multiaddr(addr(k))], tags: { 'keep-alive': { value: 1 } } })
    await t.dial(k.peerId)
    await until(() => warden(t).manager.isProtected(k.peerId.toString()) && connectedTo(t, k), 5_000, 'connected and protected')
    let dropped = false
    let redialled = false
    t.addEventListener('peer:disconnect', (e) => { if (e.detail.toString() === k.peerId.toString()) dropped = true })
    t.addEventListener('connection:open', (e) => { if (dropped && e.detail.remotePeer.toString() === k.peerId.toString() && e.detail.direction === 'outbound') redialled = true })
    // The link breaks (not a close asked for by either node's manager).
    for (const c of t.getConnections(k.peerId)) c.abort(new Error('link lost'))
    await until(() => redialled && connectedTo(t, k), 10_000, () => `libp2p to redial the keep-alive peer (dropped: ${dropped})`)
    await until(() => warden(t).manager.getPeer(k.peerId.toString())?.connected === true, 5_000, 'the manager to count it')
  } finally {
    await stopAll(nodes)
  }
})
