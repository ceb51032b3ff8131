/**
 * js-libp2p's own connection-manager test cases (connection-pruner.spec.ts, index.spec.ts,
 * dial-queue.spec.ts, reconnect-queue.spec.ts, integration connections.spec.ts) checked against
 * `peerwarden/libp2p`, on a stand-in for libp2p's components (events, gater, connection manager,
 * peer store) and a ManualClock. Where a case is libp2p's own machinery left in place (its inbound
 * rate limit, pending-upgrade limit, dial queue, reconnect queue), the case checks that the
 * service lets it act. The differences are stated in docs/libp2p.md ("js-libp2p's test cases").
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { peerwarden, type PeerwardenLibp2pOptions, type PeerwardenService } from '../../src/adapters/libp2p.js'
import type { Components, Libp2pConnection } from '../../src/adapters/libp2p-types.js'
import { PeerwardenError } from '../../src/errors.js'
import { ManualClock } from '../../src/testing/index.js'
import { until } from '../helpers/wait.js'

const id = (s: string): { toString: () => string } => ({ toString: () => s })
let nextConn = 0

class FakeConn implements Libp2pConnection {
  readonly id = `c${++nextConn}`
  readonly remotePeer: { toString: () => string }
  readonly remoteAddr: { toString: () => string }
  status = 'open'
  streams: unknown[] = []
  closedBy: 'close' | 'abort' | undefined
  constructor (peer: string, readonly direction: 'inbound' | 'outbound', ip = '127.0.0.1', private readonly onGone: (c: FakeConn) => void = () => {}) {
    this.remotePeer = id(peer)
    this.remoteAddr = id(`/ip4/${ip}/tcp/4001`)
  }

  async close (): Promise<void> { this.gone('close') }
  abort (): void { this.gone('abort') }
  private gone (how: 'close' | 'abort'): void {
    if (this.status !== 'open') return
    this.status = 'closed'
    this.closedBy = how
    this.onGone(this)
  }
}

/** libp2p's components as the service reads them, with the service started on them. */
class Node {
  readonly events = new EventTarget()
  readonly gater: NonNullable<Components['connectionGater']> = {}
  readonly conns: FakeConn[] = []
  readonly dials: Array<{ target: string; resolve: (c: FakeConn) => void; reject: (e: Error) => void }> = []
  readonly clock = new ManualClock()
  maxConnections = 300
  service!: PeerwardenService

  async start (options: PeerwardenLibp2pOptions): Promise<this> {
    const components = {
      peerId: id('me'),
      events: this.events,
      connectionGater: this.gater,
      connectionManager: {
        getConnections: () => this.conns.filter((c) => c.status === 'open'),
        openConnection: async (target: unknown) => await new Promise<FakeConn>((resolve, reject) => { this.dials.push({ target: String(target), resolve, reject }) }),
        getMaxConnections: () => this.maxConnections,
        setMaxConnections: (n: number) => { this.maxConnections = n }
      },
      peerStore: { all: async () => [] }
    } as unknown as Components
    this.service = peerwarden({ gracePeriod: 0, silencePeriod: 1, clock: this.clock, ...options })(components)
    this.service.start()
    await this.service.afterStart()
    return this
  }

  get manager (): PeerwardenService['manager'] { return this.service.manager }

  /** A connection libp2p opened ('connection:open'). */
  open (peer: string, direction: 'inbound' | 'outbound' = 'inbound', ip = '127.0.0.1'): FakeConn {
    const c = new FakeConn(peer, direction, ip, (gone) => { this.events.dispatchEvent(new CustomEvent('connection:close', { detail: gone })) })
    this.conns.push(c)
    this.events.dispatchEvent(new CustomEvent('connection:open', { detail: c }))
    return c
  }

  /** libp2p's peer store changed a peer's tags ('peer:update'). */
  tag (peer: string, tags: Record<string, number>): void {
    const map = new Map(Object.entries(tags).map(([k, value]) => [k, { value }]))
    this.events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: { id: id(peer), addresses: [], protocols: [], tags: map } } }))
  }

  discover (peer: string): void {
    this.events.dispatchEvent(new CustomEvent('peer:discovery', { detail: { id: id(peer), multiaddrs: [id(`/ip4/10.0.0.1/tcp/4001/p2p/${peer}`)] } }))
  }

  open_ (): string[] { return this.conns.filter((c) => c.status === 'open').map((c) => String(c.remotePeer)) }
  async stop (): Promise<void> { await this.service.stop() }
}

const maConn = (ip: string): { remoteAddr: { toString: () => string } } => ({ remoteAddr: id(ip.includes(':') ? `/ip6/${ip}/tcp/1` : `/ip4/${ip}/tcp/1`) })

// ── connection-pruner.spec.ts ─────────────────────────────────────────────────
test('pruning order as js-libp2p\'s pruner: untagged before tagged, no streams before streams, inbound before outbound, newest before oldest; lowest tag value first', async () => {
  interface Spec { peer: string; tag?: number; streams?: number; direction?: 'inbound' | 'outbound' }
  const rows: Array<[string, Spec[], string]> = [
    ['the lowest tag value is closed', [{ peer: 'a', tag: 5 }, { peer: 'b', tag: 1 }, { peer: 'c', tag: 9 }, { peer: 'd', tag: 3 }, { peer: 'e', tag: 7 }, { peer: 'f', tag: 2 }], 'b'],
    ['equal tags: the shortest-lived is closed', ['a', 'b', 'c', 'd', 'e', 'f'].map((peer) => ({ peer, tag: 1 })), 'f'],
    ['untagged before tagged', [{ peer: 'a' }, { peer: 'b', tag: 1 }, { peer: 'c', tag: 1 }, { peer: 'd', tag: 1 }, { peer: 'e', tag: 1 }, { peer: 'f', tag: 1 }], 'a'],
    ['no streams before streams', ['a', 'b', 'c', 'd', 'e', 'f'].map((peer) => ({ peer, streams: peer === 'c' ? 0 : 1 })), 'c'],
    ['inbound before outbound', ['a', 'b', 'c', 'd', 'e', 'f'].map((peer) => ({ peer, direction: peer === 'b' ? 'inbound' as const : 'outbound' as const })), 'b'],
    ['no tags at all: exactly one closed, the newest', ['a', 'b', 'c', 'd', 'e', 'f'].map((peer) => ({ peer })), 'f']
  ]
  for (const [why, specs, expected] of rows) {
    // Opened under a wider bound, then lowered to 5 (js-libp2p prunes when setMaxConnections lowers
    // the limit): a connection arriving at the bound is a different case (docs/libp2p.md).
    const node = await new Node().start({ lowWater: 5, highWater: 10 })
    try {
      for (const s of specs) {
        if (s.tag !== undefined) node.tag(s.peer, { app: s.tag })
        const c = node.open(s.peer, s.direction ?? 'inbound')
        c.streams = Array.from({ length: s.streams ?? 0 }, () => ({}))
        await node.clock.advance(1000) // each one a second younger than the one before
      }
      node.manager.setWatermarks(5, 5)
      await node.manager.trim()
      const closed = node.conns.filter((c) => c.status !== 'open').map((c) => String(c.remotePeer))
      assert.deepEqual(closed, [expected], why)
    } finally {
      await node.stop()
    }
  }
})

test('a connection from an allow-listed IP is never pruned, even with the lowest tag (js-libp2p\'s pruner skips it too)', async () => {
  const node = await new Node().start({ lowWater: 2, highWater: 2, allow: ['/ip4/83.13.55.32/ipcidr/32'] })
  try {
    node.tag('b', { app: 5 })
    node.tag('c', { app: 5 })
    node.open('a', 'inbound', '83.13.55.32')
    node.open('b')
    node.open('c')
    await node.manager.trim()
    assert.ok(node.open_().includes('a'))
    assert.equal(node.open_().length, 2)
  } finally {
    await node.stop()
  }
})

// ── index.spec.ts: allow and deny lists, maxConnections ───────────────────────
test('deny list in js-libp2p\'s multiaddr form (IPv4, IPv6, a /24 and a /64 subnet) refuses inbound before any crypto; the CIDR form too', async () => {
  const rows: Array<[string, string, string]> = [
    ['/ip4/83.13.55.32', '83.13.55.32', '83.13.55.33'],
    ['/ip6/2001:db8::1', '2001:db8::1', '2001:db8::2'],
    ['/ip4/83.13.55.0/ipcidr/24', '83.13.55.7', '83.13.56.7'],
    ['/ip6/2001:db8:0:1::/ipcidr/64', '2001:db8:0:1::9', '2001:db8:0:2::9'],
    ['83.13.55.0/24', '83.13.55.7', '83.13.56.7']
  ]
  for (const [entry, denied, other] of rows) {
    const node = await new Node().start({ deny: [entry] })
    try {
      assert.equal(await node.gater.denyInboundConnection!(maConn(denied)), true, `${entry} refuses ${denied}`)
      assert.equal(await node.gater.denyInboundConnection!(maConn(other)), false, `${entry} lets ${other} in`)
    } finally {
      await node.stop()
    }
  }
})

test('allow list (IPv4 and IPv6, address or subnet) admits inbound even when the bound is reached; anyone else is refused at the bound', async () => {
  for (const [entry, allowed] of [['/ip4/83.13.55.32', '83.13.55.32'], ['/ip6/2001:db8::/ipcidr/64', '2001:db8::5']]) {
    // x is in its grace period: nothing may give way for a newcomer, as at js-libp2p's maxConnections.
    const node = await new Node().start({ lowWater: 1, highWater: 1, gracePeriod: 60_000, allow: [entry!] })
    try {
      node.open('x', 'outbound')
      assert.equal(await node.gater.denyInboundEncryptedConnection!(id('y'), maConn(allowed!)), false, `${entry} admitted at the bound`)
      assert.equal(await node.gater.denyInboundEncryptedConnection!(id('z'), maConn('10.9.9.9')), true, 'maxConnections reached: refused')
    } finally {
      await node.stop()
    }
  }
})

test('allow and deny entries that are multiaddrs but no IP range are refused by name (they would have been taken for peer ids)', () => {
  for (const [name, entry] of [['allow', '/ip4/1.2.3.4/tcp/4001'], ['deny', '/dns4/example.com'], ['deny', '/ip4/::1']] as const) {
    assert.throws(() => peerwarden({ [name]: [entry] }), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_INVALID_ARGUMENT' && err.message.includes(`${name}[0]`), entry)
  }
})

test('lowering the bound at run time trims at once; raising it closes nothing (setMaxConnections)', async () => {
  const node = await new Node().start({ lowWater: 4, highWater: 4 })
  try {
    for (const p of ['a', 'b', 'c', 'd']) node.open(p)
    node.manager.setWatermarks(4, 8)
    await node.manager.trim()
    assert.equal(node.open_().length, 4, 'raised: nothing closed')
    node.manager.setWatermarks(2, 2)
    await node.clock.advance(0)
    await node.manager.trim()
    assert.equal(node.open_().length, 2, 'lowered: trimmed to the new bound')
  } finally {
    await node.stop()
  }
})

test('a closed connection is removed alone: the peer\'s other connections stay; stop() closes every connection', async () => {
  const node = await new Node().start({ lowWater: 8, highWater: 8 })
  try {
    const first = node.open('a', 'inbound')
    node.open('b', 'outbound')
    await first.close()
    assert.deepEqual(node.open_(), ['b'])
    assert.equal(node.manager.stats().connections, 1)
  } finally {
    await node.stop()
  }
  assert.deepEqual(node.open_(), [], 'stop() closed what the manager held')
})

// ── dial-queue.spec.ts, connections.spec.ts: concurrency and priorities ───────
test('the manager\'s dials run at most maxParallelDials at once, the highest priority first', async () => {
  const node = await new Node().start({ lowWater: 10, highWater: 12, maxParallelDials: 2 })
  try {
    for (let i = 0; i < 6; i++) node.discover(`p${i}`)
    node.manager.setPriority([{ peer: 'p5', priority: 'high' }])
    await node.clock.advance(10)
    await until(() => node.dials.length >= 2, 5_000, () => `${node.dials.length} dials`)
    await node.clock.advance(10)
    assert.equal(node.dials.length, 2, 'two dials in flight, the others wait')
    assert.ok(node.dials[0]!.target.endsWith('/p2p/p5'), `the high-priority peer first: ${node.dials[0]!.target}`)
    for (const d of node.dials.splice(0)) d.reject(new Error('unreachable'))
    await node.clock.advance(10)
    await until(() => node.dials.length >= 2, 5_000, () => `${node.dials.length} dials`)
    assert.equal(node.dials.length, 2, 'the next two once those settled')
  } finally {
    for (const d of node.dials.splice(0)) d.reject(new Error('stopped'))
    await node.stop()
  }
})

// ── reconnect-queue.spec.ts: KEEP_ALIVE ────────────────────────────────────────
test('a peer libp2p tags keep-alive is protected: never trimmed, and libp2p may redial it even at the bound (its reconnect queue is not refused by the gater)', async () => {
  const node = await new Node().start({ lowWater: 2, highWater: 2 })
  try {
    node.tag('k', { 'keep-alive-kad-dht': 1 })
    const k = node.open('k', 'outbound')
    node.open('a')
    node.open('b') // over the bound: one of a, b goes, never k
    await node.manager.trim()
    assert.ok(node.open_().includes('k'))
    // k's connection drops; the node fills up again; libp2p's reconnect queue redials k.
    await k.close()
    node.open('c')
    assert.equal(node.open_().length, 2)
    assert.equal(await node.gater.denyDialPeer!(id('k')), false, 'libp2p\'s redial of a keep-alive peer is not refused at the bound')
    node.open('k', 'outbound')
    assert.ok(node.open_().includes('k'), 'admitted, another peer gave way')
    assert.equal(node.open_().length, 2)
    // libp2p drops the tag after its last retry fails: the protection goes with it.
    node.tag('k', {})
    assert.equal(node.manager.isProtected('k'), false)
  } finally {
    await node.stop()
  }
})
