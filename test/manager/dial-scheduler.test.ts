import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError, createConnectionManager } from '../../src/index.js'
import type { ConnectionManager, ConnectionManagerOptions, DialFailure, PeerInfo, PeerInput, Priority } from '../../src/index.js'
import { ManualClock, MemoryNetwork, type MemoryNode, type DialBehaviour } from '../../src/testing/index.js'

// ── helpers ────────────────────────────────────────────────────────────────

interface Rig {
  m: ConnectionManager
  clock: ManualClock
  net: MemoryNetwork
  me: MemoryNode
  /** Addresses of every dial:started, in order. */
  started: string[]
  failed: DialFailure[]
  /** connection:closed events as peer + reason. */
  closed: Array<{ peer: string; reason: string }>
  /** The signal handed to the transport for every address dialled. */
  signals: Array<{ address: string; signal: AbortSignal }>
  /** The most dials the transport ever had in flight at once. */
  transportPeak: () => number
}

/**
 * A manager dialing over a MemoryNetwork from node 'me' on a ManualClock at 0, with random() = 0.5
 * (every jitter at its centre: afterDisconnect 10000, afterTrim 60000, unproven backoff 5000).
 */
function rig (extra: Partial<ConnectionManagerOptions> = {}, network: { latency?: number } = {}): Rig {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock, latency: network.latency })
  const me = net.addNode('me')
  const signals: Rig['signals'] = []
  let inFlight = 0
  let peak = 0
  const dial: ConnectionManagerOptions['dial'] = async (address, opts) => {
    signals.push({ address, signal: opts.signal })
    inFlight++
    peak = Math.max(peak, inFlight)
    try {
      return await me.dial(address, opts)
    } finally {
      inFlight--
    }
  }
  const m = createConnectionManager({ dial, localPeer: 'me', clock, random: () => 0.5, ...extra })
  me.bind(m)
  const started: string[] = []
  const failed: DialFailure[] = []
  const closed: Rig['closed'] = []
  m.events.addEventListener('dial:started', (e) => { started.push(e.detail.address) })
  m.events.addEventListener('dial:failed', (e) => { failed.push(e.detail) })
  m.events.addEventListener('connection:closed', (e) => {
    const d = e.detail
    closed.push({ peer: d.connection.peer, reason: d.reason })
  })
  return { m, clock, net, me, started, failed, closed, signals, transportPeak: () => peak }
}

/** Adds a node per id to the network and tells the manager about each (id + 'mem://<id>'). */
function peers (r: Rig, ids: string[], init: Omit<PeerInput, 'id' | 'address'> & { behaviour?: DialBehaviour } = {}): MemoryNode[] {
  const { behaviour, ...input } = init
  const nodes = ids.map((id) => {
    const n = r.net.addNode(id)
    if (behaviour !== undefined) n.behaviour = behaviour
    return n
  })
  r.m.addPeers(ids.map((id) => ({ id, address: `mem://${id}`, ...input })))
  return nodes
}

const dials = (r: Rig, id: string): number => r.started.filter((a) => a === `mem://${id}`).length
const connectedIds = (m: ConnectionManager): string[] => m.listConnections().map((c) => c.peer).sort()
const isConnected = (m: ConnectionManager, id: string): boolean => m.getPeer(id)?.connected === true

/** The far end (on node `node`) closes its connection to us. */
function remoteCloses (node: MemoryNode, reason = 'bye'): void {
  const c = node.connections().find((x) => x.peer === 'me')
  assert.ok(c !== undefined, `${node.id} has a connection to me`)
  c.close(reason)
}

/** Node `from` dials us: an inbound connection reported to the manager by the transport. */
async function inbound (r: Rig, from: string): Promise<MemoryNode> {
  const node = r.net.node(from) ?? r.net.addNode(from)
  await node.dial('mem://me', { signal: new AbortController().signal })
  return node
}

// ── the dialing rules ───────────────────────────────────────────────────────

test('the manager dials nothing until start(), then dials toward lowWater', async () => {
  const r = rig({ lowWater: 3 })
  peers(r, ['a', 'b', 'c', 'd', 'e'])
  await r.clock.advance(60_000)
  assert.equal(r.me.dialCount, 0)
  assert.equal(r.started.length, 0)
  assert.equal(r.m.stats().connections, 0)

  r.m.start()
  await r.clock.advance(0)
  assert.equal(r.m.stats().connections, 3)
  assert.equal(r.m.stats().outbound, 3)
  assert.equal(r.me.dialCount, 3)
  assert.deepEqual(connectedIds(r.m), ['a', 'b', 'c'])
  await r.m.close()
})

test('proactive dialing stops at lowWater, and a lost connection is replaced at once by another candidate', async () => {
  const r = rig({ lowWater: 3, highWater: 10 })
  const nodes = peers(r, ['a', 'b', 'c', 'd', 'e', 'f'])
  r.m.start()
  await r.clock.advance(0)
  assert.equal(r.m.stats().connections, 3)
  await r.clock.advance(600_000)
  assert.equal(r.m.stats().connections, 3)
  assert.equal(r.started.length, 3, 'no dial beyond lowWater in ten minutes')
  assert.equal(r.m.stats().dialing, 0)

  remoteCloses(nodes[0])
  await r.clock.advance(0)
  assert.equal(r.m.stats().connections, 3)
  assert.equal(r.started.length, 4)
  assert.equal(isConnected(r.m, 'a'), false, 'the peer that dropped us rests')
  assert.deepEqual(connectedIds(r.m), ['b', 'c', 'd'])
  await r.m.close()
})

test('inbound connections count toward lowWater', async () => {
  const r = rig({ lowWater: 3 })
  peers(r, ['a', 'b', 'c'])
  await inbound(r, 'x')
  await inbound(r, 'y')
  assert.equal(r.m.stats().inbound, 2)
  r.m.start()
  await r.clock.advance(60_000)
  assert.equal(r.m.stats().connections, 3)
  assert.equal(r.started.length, 1)
  await r.m.close()
})

test('banned, denied, addressless peers and the local peer are never dialled', async () => {
  const r = rig({ lowWater: 10, deny: ['denied'] })
  peers(r, ['ok', 'denied', 'banned'])
  r.m.setPriority([{ peer: 'banned', priority: 'banned' }])
  r.m.addPeers([{ id: 'ghost' }, { id: 'me', address: 'mem://me' }])
  r.m.start()
  await r.clock.advance(120_000)
  assert.deepEqual(r.started, ['mem://ok'])
  assert.deepEqual(connectedIds(r.m), ['ok'])
  await r.m.close()
})

test('never more than maxParallelDials dials are in flight while peers hang', async () => {
  const r = rig({ lowWater: 10, maxParallelDials: 3, dialTimeout: 1000 })
  peers(r, Array.from({ length: 10 }, (_, i) => `h${i}`), { behaviour: 'hang' })
  let peak = 0
  const sample = (): void => { peak = Math.max(peak, r.m.stats().dialing) }
  r.m.events.addEventListener('dial:started', sample)
  r.m.start()
  await r.clock.advance(0)
  assert.equal(r.m.stats().dialing, 3)
  assert.equal(r.started.length, 3)
  await r.clock.advance(999)
  assert.equal(r.started.length, 3, 'the slots stay taken until the dials time out')
  await r.clock.advance(1)
  assert.equal(r.started.length, 6, 'three timed out, three more started')
  await r.clock.advance(1000)
  assert.equal(r.started.length, 9)
  await r.clock.advance(1000)
  assert.equal(r.started.length, 10)
  for (let t = 0; t < 60; t++) {
    await r.clock.advance(500)
    sample()
    assert.ok(r.m.stats().dialing <= 3, `at ${r.clock.now()} ms: ${r.m.stats().dialing} dialing`)
  }
  assert.equal(peak, 3)
  assert.ok(r.transportPeak() <= 3, `the transport saw ${r.transportPeak()} dials at once`)
  assert.ok(r.started.length > 10, 'the hanging peers are retried')
  await r.m.close()
})

test('a dial in flight for stalledDialAfter no longer counts toward lowWater: the next candidate is dialled meanwhile', async () => {
  // A transport whose refusals are silent (a firewalled Hyperswarm handshake gets no answer for ~4 s)
  // held a node below lowWater for the whole wait: the hanging dial counted as a connection.
  for (const stalledDialAfter of [undefined, 1000]) {
    const r = rig({ lowWater: 1, maxParallelDials: 3, dialTimeout: 10_000, ...(stalledDialAfter !== undefined ? { stalledDialAfter } : {}) })
    peers(r, ['silent'], { behaviour: 'hang', priority: 'high' })
    peers(r, ['ok'])
    r.m.start()
    await r.clock.advance(0)
    assert.deepEqual(r.started, ['mem://silent'], 'the best candidate first')
    await r.clock.advance(999)
    assert.equal(r.started.length, 1, 'counted while young')
    await r.clock.advance(1)
    if (stalledDialAfter === undefined) {
      assert.equal(r.started.length, 1, 'without the option a dial counts until it settles')
      assert.equal(r.m.stats().connections, 0)
    } else {
      assert.deepEqual(r.started, ['mem://silent', 'mem://ok'], 'stalled at 1 s: the next candidate is dialled')
      assert.deepEqual(connectedIds(r.m), ['ok'])
      assert.equal(r.m.stats().dialing, 1, 'the stalled dial goes on')
      assert.ok(r.m.explain('ok').some((d) => d.reason === 'below lowWater 1: 0 connected, 0 dialling'), 'the stalled dial is not counted in the reason either')
    }
    await r.m.close()
  }
})

test('stalled dials free no more than maxParallelDials, and stalledDialAfter is checked by name', async () => {
  const r = rig({ lowWater: 6, maxParallelDials: 3, dialTimeout: 10_000, stalledDialAfter: 500 })
  peers(r, Array.from({ length: 6 }, (_, i) => `h${i}`), { behaviour: 'hang' })
  r.m.start()
  for (let t = 0; t < 20; t++) {
    await r.clock.advance(250)
    assert.ok(r.m.stats().dialing <= 3, `at ${r.clock.now()} ms: ${r.m.stats().dialing} dialing`)
  }
  assert.equal(r.started.length, 3, 'every slot is taken by a stalled dial: no fourth')
  await r.m.close()
  assert.throws(() => createConnectionManager({ dial: async () => { throw new Error('no') }, stalledDialAfter: 0 }), (e: PeerwardenError) => e.code === 'ERR_INVALID_ARGUMENT' && /stalledDialAfter must be >= 1 ms/.test(e.message))
})

test('with network latency, dials proceed in waves of maxParallelDials', async () => {
  const r = rig({ lowWater: 10, maxParallelDials: 3 }, { latency: 100 })
  peers(r, Array.from({ length: 10 }, (_, i) => `p${i}`))
  r.m.start()
  await r.clock.advance(99)
  assert.equal(r.m.stats().connections, 0)
  assert.equal(r.m.stats().dialing, 3)
  await r.clock.advance(1)
  assert.equal(r.m.stats().connections, 3)
  assert.equal(r.m.stats().dialing, 3)
  await r.clock.advance(100)
  assert.equal(r.m.stats().connections, 6)
  await r.clock.advance(100)
  assert.equal(r.m.stats().connections, 9)
  assert.equal(r.m.stats().dialing, 1)
  await r.clock.advance(100)
  assert.equal(r.m.stats().connections, 10)
  assert.equal(r.m.stats().dialing, 0)
  assert.equal(r.transportPeak(), 3)
  await r.m.close()
})

// ── addresses ───────────────────────────────────────────────────────────────

test('each address gets dialTimeout on the clock, then the next address is tried', async () => {
  const r = rig({ lowWater: 1, dialTimeout: 2000 })
  r.net.addNode('h').behaviour = 'hang'
  r.net.addNode('p')
  r.m.addPeers([{ id: 'p', addresses: ['mem://h', 'mem://p'] }])
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(r.started, ['mem://h'])
  await r.clock.advance(1999)
  assert.deepEqual(r.started, ['mem://h'])
  assert.equal(r.failed.length, 0)
  assert.equal(isConnected(r.m, 'p'), false)

  await r.clock.advance(1)
  assert.deepEqual(r.started, ['mem://h', 'mem://p'])
  assert.equal(r.failed.length, 1)
  assert.equal(r.failed[0].address, 'mem://h')
  assert.equal(r.failed[0].at, 2000)
  assert.ok(r.failed[0].error instanceof PeerwardenError)
  assert.equal((r.failed[0].error as PeerwardenError).code, 'ERR_DIAL_TIMEOUT')
  const hung = r.signals.find((s) => s.address === 'mem://h')
  assert.equal(hung?.signal.aborted, true, 'the transport was told to give up')
  assert.equal((hung?.signal.reason as PeerwardenError).code, 'ERR_DIAL_TIMEOUT')
  assert.equal(isConnected(r.m, 'p'), true)
  assert.equal(r.m.getPeer('p')?.failures, 0, 'the attempt as a whole succeeded')
  assert.equal(r.m.listConnections()[0].address, 'mem://p')
  await r.m.close()
})

test('an address that failed is tried after the one that worked the next time', async () => {
  const r = rig({ lowWater: 1 })
  const p = r.net.addNode('p')
  r.m.addPeers([{ id: 'p', addresses: ['mem://nobody', 'mem://p'] }])
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(r.started, ['mem://nobody', 'mem://p'])
  assert.deepEqual(r.failed.map((f) => f.address), ['mem://nobody'])
  assert.equal(isConnected(r.m, 'p'), true)

  remoteCloses(p)
  await r.clock.advance(10_000) // afterDisconnect
  assert.deepEqual(r.started, ['mem://nobody', 'mem://p', 'mem://p'])
  assert.equal(r.failed.length, 1, 'the failing address was not needed')
  assert.equal(isConnected(r.m, 'p'), true)
  await r.m.close()
})

// ── stop, close, errors() ───────────────────────────────────────────────────

test('stop() aborts every dial in flight, and an aborted dial does not count as a failure', async () => {
  const r = rig({ lowWater: 3, dialTimeout: 10_000 })
  const nodes = peers(r, ['a', 'b', 'c'], { behaviour: 'hang' })
  r.m.start()
  await r.clock.advance(100)
  assert.equal(r.m.stats().dialing, 3)
  assert.equal(r.signals.length, 3)
  assert.ok(r.signals.every((s) => !s.signal.aborted))

  await r.m.stop()
  assert.ok(r.signals.every((s) => s.signal.aborted), 'every transport signal is aborted at once')
  await r.clock.advance(0)
  assert.equal(r.m.stats().dialing, 0)
  for (const id of ['a', 'b', 'c']) {
    assert.equal(r.m.getPeer(id)?.failures, 0, `${id}: no failure counted`)
    assert.equal(r.m.getPeer(id)?.nextDialAt, undefined, `${id}: no backoff`)
  }
  await r.clock.advance(60_000)
  assert.equal(r.started.length, 3, 'nothing is dialled while stopped')

  // start() may follow: dialing resumes.
  for (const n of nodes) n.behaviour = 'accept'
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['a', 'b', 'c'])
  await r.m.close()
})

test('close() aborts the dials in flight', async () => {
  const r = rig({ lowWater: 2 })
  peers(r, ['a', 'b'], { behaviour: 'hang' })
  r.m.start()
  await r.clock.advance(0)
  assert.equal(r.signals.length, 2)
  await r.m.close()
  assert.ok(r.signals.every((s) => s.signal.aborted))
  await r.clock.advance(0)
  assert.equal(r.m.stats().dialing, 0)
  await r.clock.advance(60_000)
  assert.equal(r.signals.length, 2)
})

test('errors() yields every failed address dial in order, the same objects as dial:failed, until close()', async () => {
  const r = rig({ lowWater: 5, maxParallelDials: 1 })
  r.m.addPeers([{ id: 'x', addresses: ['mem://n1', 'mem://n2'] }, { id: 'y', address: 'mem://n3' }])
  const seen: DialFailure[] = []
  const done = (async () => { for await (const f of r.m.errors()) seen.push(f) })()
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(seen.map((f) => [f.peer, f.address, f.at]), [['x', 'mem://n1', 0], ['x', 'mem://n2', 0], ['y', 'mem://n3', 0]])
  for (const f of seen) {
    assert.ok(f.error instanceof PeerwardenError)
    assert.equal((f.error as PeerwardenError).code, 'ERR_DIAL_FAILED')
  }

  await r.clock.advance(5000) // both retried after the unproven backoff
  assert.deepEqual(seen.map((f) => [f.peer, f.address, f.at]), [
    ['x', 'mem://n1', 0], ['x', 'mem://n2', 0], ['y', 'mem://n3', 0],
    ['x', 'mem://n1', 5000], ['x', 'mem://n2', 5000], ['y', 'mem://n3', 5000]
  ])
  assert.equal(r.failed.length, seen.length)
  r.failed.forEach((f, i) => { assert.equal(seen[i], f, `failure #${i} is the same object`) })

  await r.m.close()
  await done // the iteration ends with close()
  assert.equal(seen.length, 6)
})

// ── bootstrap peers ─────────────────────────────────────────────────────────

function bootstrapRig (lowWater: number): { r: Rig; bootDials: () => number } {
  const r = rig({ lowWater, highWater: 20 })
  // Added first, so that only the bootstrap rule can put them last.
  peers(r, ['b1', 'b2'], { bootstrap: true })
  peers(r, ['n1', 'n2', 'n3'])
  let bootDials = 0
  for (const b of ['mem://b1', 'mem://b2']) r.net.onDial(b, () => { bootDials++ })
  return { r, bootDials: () => bootDials }
}

test('bootstrap peers are not dialled while enough other candidates are eligible', async () => {
  const { r, bootDials } = bootstrapRig(3)
  r.m.start()
  await r.clock.advance(120_000)
  assert.equal(bootDials(), 0)
  assert.equal(dials(r, 'b1') + dials(r, 'b2'), 0)
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2', 'n3'])
  await r.m.close()
})

test('bootstrap peers are dialled when the other candidates cannot reach lowWater, once nothing else has helped for bootstrapQuiet', async () => {
  const { r, bootDials } = bootstrapRig(5)
  r.m.start()
  await r.clock.advance(0)
  assert.equal(bootDials(), 0, 'the other candidates are dialled first')
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2', 'n3'])
  await r.clock.advance(1_999)
  assert.equal(bootDials(), 0, 'a connection was made less than bootstrapQuiet (2 s) ago')
  await r.clock.advance(1)
  assert.equal(bootDials(), 2)
  assert.deepEqual(connectedIds(r.m), ['b1', 'b2', 'n1', 'n2', 'n3'])
  await r.m.close()
})

test('bootstrap peers are dialled once the other candidates have failed', async () => {
  const r = rig({ lowWater: 2 })
  peers(r, ['b1', 'b2'], { bootstrap: true })
  peers(r, ['n1', 'n2', 'n3'], { behaviour: 'refuse' })
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(r.started.slice(0, 3).sort(), ['mem://n1', 'mem://n2', 'mem://n3'], 'the normal peers go first')
  assert.deepEqual(connectedIds(r.m), ['b1', 'b2'])
  await r.m.close()
})

// Bug: nodes that reached lowWater counting their bootstrap connection settled there and never looked
// further, and the bootstrap peer stayed occupied by every node that joined through it.
test('a bootstrap connection does not count toward lowWater: the others are dialled to lowWater, then the bootstrap connection is released (trimmed, explained, and a trim event with reason bootstrap: it closed as trimmed with no trim event)', async () => {
  const r = rig({ lowWater: 2, highWater: 8 })
  const trims: string[] = []
  r.m.events.addEventListener('trim', (e) => { trims.push(`${e.detail.closed} ${e.detail.reason}`) })
  peers(r, ['b1'], { bootstrap: true })
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['b1'])
  peers(r, ['n1', 'n2']) // what b1 would refer us to
  await r.clock.advance(3_000)
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2'], 'lowWater reached with others, the bootstrap let go')
  assert.deepEqual(r.closed, [{ peer: 'b1', reason: 'trimmed' }])
  assert.match(r.m.explain('b1').at(-1)!.reason, /released/)
  assert.deepEqual(trims, ['1 bootstrap'])
  await r.clock.advance(120_000)
  assert.equal(dials(r, 'b1'), 1, 'and not dialled again while the others hold')
  await r.m.close()
})

test('a bootstrap connection is kept while the others are short of lowWater, and when a topic quota needs it — then it counts toward lowWater (it used to be set apart, and the node dialled past lowWater)', async () => {
  const r = rig({ lowWater: 2, highWater: 8 })
  peers(r, ['b1'], { bootstrap: true, topics: ['t'] })
  r.m.setTopicQuota('t', { min: 1 })
  r.m.start()
  await r.clock.advance(3_000)
  peers(r, ['n1'])
  await r.clock.advance(3_000)
  assert.deepEqual(connectedIds(r.m), ['b1', 'n1'], 'one other peer: short of lowWater 2')
  peers(r, ['n2'])
  await r.clock.advance(3_000)
  assert.deepEqual(connectedIds(r.m), ['b1', 'n1'], 'b1 is the only peer of topic t, whose quota keeps it: it counts, and n2 is not dialled')
  assert.deepEqual(r.closed, [])
  await r.m.close()
})

test('a protected bootstrap connection is never released, and counts toward lowWater like any other', async () => {
  const r = rig({ lowWater: 2, highWater: 8 })
  peers(r, ['b1'], { bootstrap: true })
  r.m.protect('b1', 'mine')
  r.m.start()
  await r.clock.advance(3_000)
  peers(r, ['n1', 'n2'])
  await r.clock.advance(3_000)
  assert.deepEqual(connectedIds(r.m), ['b1', 'n1'])
  assert.deepEqual(r.closed, [])
  await r.m.close()
})

// ── long-term peers ─────────────────────────────────────────────────────────

test('a long-term peer is redialled at once after the remote closes, a regular one only after afterDisconnect', async () => {
  const r = rig({ lowWater: 2 })
  const [l] = peers(r, ['l'], { longTerm: true })
  const [p] = peers(r, ['p'])
  r.m.start()
  await r.clock.advance(100)
  assert.deepEqual(connectedIds(r.m), ['l', 'p'])

  remoteCloses(l)
  remoteCloses(p)
  await r.clock.advance(0)
  assert.equal(dials(r, 'l'), 2, 'long-term: no afterDisconnect delay')
  assert.equal(isConnected(r.m, 'l'), true)
  assert.equal(dials(r, 'p'), 1)
  await r.clock.advance(9999)
  assert.equal(dials(r, 'p'), 1, 'regular: waits afterDisconnect (10000 ms)')
  await r.clock.advance(1)
  assert.equal(dials(r, 'p'), 2)
  assert.equal(isConnected(r.m, 'p'), true)
  await r.m.close()
})

test('a long-term peer is reconnected even when the manager already holds lowWater connections', async () => {
  const r = rig({ lowWater: 1 })
  const [l] = peers(r, ['l'], { longTerm: true })
  r.m.start()
  await r.clock.advance(0)
  assert.equal(isConnected(r.m, 'l'), true)
  await inbound(r, 'x')
  assert.equal(r.m.stats().connections, 2)
  remoteCloses(l)
  await r.clock.advance(0)
  assert.equal(isConnected(r.m, 'l'), true)
  assert.equal(dials(r, 'l'), 2)
  await r.m.close()
})

test('a long-term peer dialled in the same pass as regular peers still counts toward lowWater', async () => {
  const r = rig({ lowWater: 2, highWater: 10 })
  peers(r, ['l'], { longTerm: true })
  peers(r, ['a', 'b', 'c'])
  r.m.start()
  await r.clock.advance(60_000)
  assert.equal(isConnected(r.m, 'l'), true)
  assert.equal(r.m.stats().connections, 2, `lowWater is 2, connected: ${connectedIds(r.m).join(', ')}`)
  await r.m.close()
})

// ── permanent peers ─────────────────────────────────────────────────────────

test('a permanent peer is reconnected after every loss, with backoff while it is unreachable, forever', async () => {
  const r = rig({ lowWater: 0 })
  const [p] = peers(r, ['p'])
  r.m.start()
  await r.clock.advance(0)
  assert.equal(r.started.length, 0, 'lowWater 0: nothing dialled proactively')
  await r.m.connectNow('p', { permanent: true })
  assert.equal(isConnected(r.m, 'p'), true)
  assert.equal(dials(r, 'p'), 1)

  await r.clock.advance(1000)
  p.goOffline() // closes the connection and refuses dials
  await r.clock.advance(0)
  assert.equal(dials(r, 'p'), 2, 'redialled at once, no afterDisconnect')
  assert.equal(isConnected(r.m, 'p'), false)
  // proven peer: 1000, 2000, 4000 ms
  await r.clock.advance(999)
  assert.equal(dials(r, 'p'), 2)
  await r.clock.advance(1) // 2000
  assert.equal(dials(r, 'p'), 3)
  await r.clock.advance(2000) // 4000
  assert.equal(dials(r, 'p'), 4)
  await r.clock.advance(1000) // 5000
  p.goOnline()
  await r.clock.advance(2999) // 7999
  assert.equal(isConnected(r.m, 'p'), false)
  await r.clock.advance(1) // 8000
  assert.equal(dials(r, 'p'), 5)
  assert.equal(isConnected(r.m, 'p'), true)

  // And again, however often it is lost.
  remoteCloses(p)
  await r.clock.advance(0)
  assert.equal(dials(r, 'p'), 6)
  assert.equal(isConnected(r.m, 'p'), true)

  p.goOffline()
  await r.clock.advance(3_600_000)
  const before = dials(r, 'p')
  assert.ok(before > 20, `still retrying after an hour (${before} dials)`)
  await r.clock.advance(600_000)
  assert.equal(dials(r, 'p') - before, 2, 'at the proven cap: one retry every 5 minutes')
  p.goOnline()
  await r.clock.advance(300_000)
  assert.equal(isConnected(r.m, 'p'), true)
  await r.m.close()
})

test('a permanent peer is protected: listConnections, isProtected and getPeer say so and trim() never closes it', async () => {
  const r = rig({ lowWater: 2, gracePeriod: 1000 })
  peers(r, ['a', 'b'])
  peers(r, ['p'])
  r.m.start()
  await r.clock.advance(0)
  await r.m.connectNow('p', { permanent: true })
  const byPeer = new Map(r.m.listConnections().map((c) => [c.peer, c]))
  assert.equal(byPeer.get('p')?.protected, true)
  assert.equal(byPeer.get('a')?.protected, false)
  assert.equal(byPeer.get('b')?.protected, false)
  // The same answer wherever the application asks.
  assert.equal(r.m.isProtected('p'), true)
  assert.equal(r.m.getPeer('p')?.protected, true)
  assert.equal(r.m.isProtected('p', 'some-tag'), false, 'not under a tag it was never given')
  assert.equal(r.m.isProtected('a'), false)

  await r.clock.advance(2000)
  r.m.setWatermarks(0, 96)
  await r.m.trim()
  assert.deepEqual(connectedIds(r.m), ['p'])
  assert.deepEqual(r.closed.map((c) => c.reason), ['trimmed', 'trimmed'])
  await r.m.trim()
  assert.deepEqual(connectedIds(r.m), ['p'])
  await r.m.close()
})

test('a permanent peer is accepted above highWater, also when it reconnects', async () => {
  const r = rig({ lowWater: 2, highWater: 2 })
  peers(r, ['a', 'b'])
  const [p] = peers(r, ['p'])
  r.m.start()
  await r.clock.advance(0)
  assert.equal(r.m.stats().connections, 2)
  await r.m.connectNow('p', { permanent: true })
  assert.equal(r.m.stats().connections, 3, 'above highWater: the others are in their grace period')
  assert.equal(isConnected(r.m, 'p'), true)

  // A regular inbound connection is refused at the same point.
  const refused: string[] = []
  r.m.events.addEventListener('connection:refused', (e) => { refused.push(e.detail.reason) })
  await assert.rejects(inbound(r, 'x'))
  assert.deepEqual(refused, ['over-limit'])

  await r.clock.advance(100)
  remoteCloses(p)
  await r.clock.advance(0)
  assert.equal(isConnected(r.m, 'p'), true, 'reconnected past highWater')
  assert.equal(r.m.stats().connections, 3)
  await r.clock.advance(60_000)
  assert.equal(isConnected(r.m, 'p'), true)
  assert.ok(r.m.stats().connections <= 3)
  await r.m.close()
})

test('lifetime never rotates a permanent peer out', async () => {
  const r = rig({ lowWater: 1, lifetime: 5000 })
  peers(r, ['a', 'b'])
  peers(r, ['p'])
  r.m.start()
  await r.clock.advance(0)
  await r.m.connectNow('p', { permanent: true })
  const pConn = r.m.listConnections().find((c) => c.peer === 'p')!.id
  await r.clock.advance(5000)
  assert.ok(r.closed.some((c) => c.peer === 'a' && c.reason === 'lifetime'), 'the regular peer was rotated')
  await r.clock.advance(60_000)
  assert.equal(r.closed.filter((c) => c.peer === 'p').length, 0)
  assert.equal(r.m.listConnections().find((c) => c.peer === 'p')?.id, pConn, 'the same connection all along')
  await r.m.close()
})

// ── lifetime ────────────────────────────────────────────────────────────────

test('a connection is closed with lifetime after exactly lifetime ms and another candidate takes the slot', async () => {
  const r = rig({ lowWater: 2, lifetime: 10_000 })
  const nodes = peers(r, ['a', 'b', 'c'])
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['a', 'b'])
  r.m.setLongTerm('a', true) // long-term peers are never rotated
  const aConn = r.m.listConnections().find((c) => c.peer === 'a')!.id

  await r.clock.advance(9999)
  assert.deepEqual(r.closed, [])
  await r.clock.advance(1) // 10000
  assert.deepEqual(r.closed, [{ peer: 'b', reason: 'lifetime' }])
  assert.equal(nodes[1].connections().length, 0)
  assert.deepEqual(connectedIds(r.m), ['a', 'c'], 'c took the slot; b rests')
  assert.equal(r.m.getPeer('b')?.nextDialAt, 20_000, 'the rotated peer rests lifetime ms')

  await r.clock.advance(9999)
  assert.equal(dials(r, 'b'), 1)
  await r.clock.advance(1) // 20000: c is rotated out, b's rest is over
  assert.deepEqual(r.closed, [{ peer: 'b', reason: 'lifetime' }, { peer: 'c', reason: 'lifetime' }])
  assert.deepEqual(connectedIds(r.m), ['a', 'b'])
  assert.equal(r.m.listConnections().find((c) => c.peer === 'a')?.id, aConn)
  await r.m.close()
})

test('the far end sees the lifetime close reason', async () => {
  const r = rig({ lowWater: 1, lifetime: 3000 })
  const [a] = peers(r, ['a'])
  r.m.start()
  await r.clock.advance(0)
  const far = a.connections()[0]
  await r.clock.advance(3000)
  assert.equal(far.open, false)
  assert.equal(far.remoteCloseReason, 'lifetime')
  await r.m.close()
})

test('setLifetime at run time rotates connections once they are that old', async () => {
  const r = rig({ lowWater: 1 })
  peers(r, ['a', 'b'])
  r.m.start()
  await r.clock.advance(3000)
  assert.deepEqual(connectedIds(r.m), ['a'])
  r.m.setLifetime(5000)
  await r.clock.advance(1999)
  assert.deepEqual(r.closed, [])
  await r.clock.advance(1) // a is 5000 ms old
  assert.deepEqual(r.closed, [{ peer: 'a', reason: 'lifetime' }])
  assert.deepEqual(connectedIds(r.m), ['b'])
  r.m.setLifetime(undefined)
  await r.clock.advance(60_000)
  assert.deepEqual(connectedIds(r.m), ['b'], 'no rotation once lifetime is unset')
  await r.m.close()
})

// ── initial sync ────────────────────────────────────────────────────────────

test('initial sync keeps one outbound connection, closes the others with initial-sync, still accepts inbound, and stop() resumes dialing', async () => {
  const r = rig({ lowWater: 5 })
  peers(r, ['a', 'b', 'c', 'd', 'e', 'f'])
  peers(r, ['p'])
  r.m.start()
  await r.clock.advance(0)
  await r.m.connectNow('p', { permanent: true })
  await inbound(r, 'x')
  assert.deepEqual(connectedIds(r.m), ['a', 'b', 'c', 'd', 'e', 'p', 'x'])

  r.m.initialSync.start()
  assert.equal(r.m.initialSync.active, true)
  assert.deepEqual(r.closed, ['b', 'c', 'd', 'e'].map((peer) => ({ peer, reason: 'initial-sync' })))
  assert.deepEqual(connectedIds(r.m), ['a', 'p', 'x'], 'the best-ranked outbound, the permanent peer and the inbound one stay')

  const dialsBefore = r.started.length
  await r.clock.advance(120_000)
  assert.equal(r.started.length, dialsBefore, 'no proactive dial during the sync')
  await inbound(r, 'y')
  assert.deepEqual(connectedIds(r.m), ['a', 'p', 'x', 'y'], 'inbound is still accepted')
  assert.equal(r.m.listConnections().filter((c) => c.direction === 'outbound' && c.peer !== 'p').length, 1)

  r.m.initialSync.stop()
  assert.equal(r.m.initialSync.active, false)
  await r.clock.advance(0)
  assert.equal(r.m.stats().connections, 5, 'dialing resumes up to lowWater')
  assert.equal(r.started.length, dialsBefore + 1)
  await r.clock.advance(120_000)
  assert.equal(r.m.stats().connections, 5, 'and no further')
  await r.m.close()
})

test('initial sync with a given peer closes every other outbound connection and dials only that peer', async () => {
  const r = rig({ lowWater: 3 })
  const nodes = peers(r, ['a', 'b', 'c', 'd'])
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['a', 'b', 'c'])
  const before = r.started.length

  r.m.initialSync.start('d')
  await r.clock.advance(0)
  assert.deepEqual(r.closed.map((c) => c.reason), ['initial-sync', 'initial-sync', 'initial-sync'])
  assert.deepEqual(connectedIds(r.m), ['d'])

  // The sync peer drops us: it alone is redialled (after afterDisconnect).
  remoteCloses(nodes[3])
  await r.clock.advance(120_000)
  assert.ok(r.started.length > before + 1)
  assert.deepEqual([...new Set(r.started.slice(before))], ['mem://d'], 'only the sync peer is dialled')
  assert.deepEqual(connectedIds(r.m), ['d'])
  await r.m.close()
})

test('initial sync started before start() dials only the best-ranked candidate', async () => {
  const r = rig({ lowWater: 3 })
  peers(r, ['a', 'b'])
  peers(r, ['c'], { priority: 'high' })
  r.m.initialSync.start()
  r.m.start()
  await r.clock.advance(60_000)
  assert.deepEqual(r.started, ['mem://c'])
  assert.deepEqual(connectedIds(r.m), ['c'])
  r.m.initialSync.stop()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['a', 'b', 'c'])
  await r.m.close()
})

// ── the prioritise hook ─────────────────────────────────────────────────────

test('the prioritise hook runs when a peer is added and when it connects, and observePeers sees each change once', async () => {
  const wanted = new Map<string, Priority>([['b', 'low'], ['z', 'high']])
  const calls: Array<string | undefined> = []
  const r = rig({ lowWater: 1, prioritise: (info) => { calls.push(info.id); return wanted.get(info.id ?? '') } })
  const notes: Array<readonly PeerInfo[]> = []
  r.m.observePeers((list) => { notes.push(list) })
  const priorityEvents: Array<{ peer: string; priority: Priority }> = []
  r.m.events.addEventListener('peer:priority', (e) => { priorityEvents.push(e.detail) })
  assert.equal(notes.length, 1)

  peers(r, ['a', 'b', 'z'])
  assert.deepEqual(calls, ['a', 'b', 'z'], 'once per added peer')
  assert.equal(r.m.getPeer('a')?.priority, 'medium', 'undefined keeps the priority')
  assert.equal(r.m.getPeer('b')?.priority, 'low')
  assert.equal(r.m.getPeer('z')?.priority, 'high')
  await r.clock.advance(0)
  assert.equal(notes.length, 2, 'one notification for the whole addPeers')
  const prio = (list: readonly PeerInfo[], id: string): Priority | undefined => list.find((p) => p.id === id)?.priority
  assert.equal(prio(notes[1], 'b'), 'low')
  assert.equal(prio(notes[1], 'z'), 'high')

  // The hook's priority orders the dials: z, added last, goes first.
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(r.started, ['mem://z'])
  assert.deepEqual(calls, ['a', 'b', 'z', 'z'], 'called again when z connected')
  const afterDial = notes.length

  // On connect the hook may change its mind.
  wanted.set('a', 'high')
  await inbound(r, 'a')
  assert.deepEqual(calls.slice(-1), ['a'])
  assert.equal(r.m.getPeer('a')?.priority, 'high')
  assert.deepEqual(priorityEvents.slice(-1), [{ peer: 'a', priority: 'high' }])
  await r.clock.advance(0)
  assert.equal(notes.length, afterDial + 1, 'one notification for the priority change and the connection')
  const a = notes.at(-1)!.find((p) => p.id === 'a')
  assert.equal(a?.priority, 'high')
  assert.equal(a?.connected, true)
  await r.m.close()
})

// ── topic quotas ────────────────────────────────────────────────────────────

test('a topic below its min gets its peers dialled above lowWater, but not beyond highWater', async () => {
  const r = rig({ lowWater: 2, highWater: 4 })
  peers(r, ['n1', 'n2', 'n3'])
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2'])

  peers(r, ['t1', 't2', 't3'], { topics: ['chat'] })
  r.m.setTopicQuota('chat', { min: 5 })
  await r.clock.advance(60_000)
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2', 't1', 't2'], 'topic peers fill up to highWater, no further')
  assert.equal(dials(r, 'n3'), 0)
  assert.equal(dials(r, 't3'), 0)
  await r.m.close()
})

test('a topic below its min gets exactly the missing peers dialled, not every peer that serves it', async () => {
  // Without exploration (exploration.test.ts), which would swap a neighbour for a third chat peer within the minute.
  const r = rig({ lowWater: 2, highWater: 10, exploreInterval: 0 })
  peers(r, ['n1', 'n2'])
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2'])

  peers(r, ['t1', 't2', 't3', 't4'], { topics: ['chat'] })
  r.m.setTopicQuota('chat', { min: 2 })
  await r.clock.advance(60_000)
  const chat = r.m.listPeers().filter((p) => p.topics.includes('chat') && p.connected).map((p) => p.id)
  assert.equal(chat.length, 2, `min is 2; connected chat peers: ${chat.join(', ')}`)
  assert.equal(r.m.stats().connections, 4)
  await r.m.close()
})

/** Connects n1, n2 and t1..t3 (topic 'chat'), tagged with values, and lets their grace period end. */
async function topicRig (quota: { min: number; max?: number }): Promise<Rig> {
  const r = rig({ lowWater: 5, highWater: 10, gracePeriod: 1000 })
  peers(r, ['n1', 'n2'])
  peers(r, ['t1', 't2', 't3'], { topics: ['chat'] })
  const values: Record<string, number> = { n1: 1, n2: 2, t1: 10, t2: 20, t3: 30 }
  for (const [id, v] of Object.entries(values)) r.m.tagPeer(id, 'value', v)
  r.m.setTopicQuota('chat', quota)
  r.m.start()
  await r.clock.advance(2000)
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2', 't1', 't2', 't3'])
  return r
}

test('trimming never takes a topic below its min', async () => {
  const r = await topicRig({ min: 2 })
  r.m.setWatermarks(0, 10)
  await r.m.trim()
  assert.deepEqual(connectedIds(r.m), ['t2', 't3'], 'the two best chat peers stay')
  assert.ok(r.closed.every((c) => c.reason === 'trimmed'))
  await r.m.close()
})

test('without a quota the same trim closes every peer', async () => {
  const r = await topicRig({ min: 0 })
  r.m.setWatermarks(0, 10)
  await r.m.trim()
  assert.deepEqual(connectedIds(r.m), [])
  await r.m.close()
})

test('the peers of a topic above its max are trimmed first, lowest-ranked first', async () => {
  const r = await topicRig({ min: 0, max: 1 })
  r.m.setWatermarks(3, 10)
  await r.m.trim()
  // Without the max, n1 and n2 (values 1 and 2) would go; the chat surplus goes instead.
  assert.deepEqual(r.closed, [{ peer: 't1', reason: 'trimmed' }, { peer: 't2', reason: 'trimmed' }])
  assert.deepEqual(connectedIds(r.m), ['n1', 'n2', 't3'])
  await r.m.close()
})

test('once a topic is back at its max, trimming goes on in rank order', async () => {
  const r = await topicRig({ min: 0, max: 1 })
  r.m.setWatermarks(2, 10)
  await r.m.trim()
  // Three go: the chat surplus (t1, t2), then the lowest-ranked peer left (n1, value 1) — not t3 (value 30).
  assert.deepEqual(r.closed.map((c) => c.peer).sort(), ['n1', 't1', 't2'])
  assert.deepEqual(connectedIds(r.m), ['n2', 't3'])
  await r.m.close()
})

// ── no trim/redial loop ─────────────────────────────────────────────────────

test('a peer we trimmed is not dialled again within afterTrim, even when a slot is free', async () => {
  const r = rig({ lowWater: 2, highWater: 2, gracePeriod: 1000 })
  peers(r, ['a', 'b'])
  r.m.start()
  await r.clock.advance(2000)
  assert.deepEqual(connectedIds(r.m), ['a', 'b'])

  // An inbound connection at highWater evicts one of them.
  const x = await inbound(r, 'x')
  assert.equal(r.closed.length, 1)
  assert.equal(r.closed[0].reason, 'trimmed')
  const victim = r.closed[0].peer
  const evictedAt = r.clock.now()
  assert.equal(r.m.getPeer(victim)?.nextDialAt, evictedAt + 60_000)

  // x leaves: a slot is free below lowWater, but the trimmed peer rests.
  await r.clock.advance(100)
  remoteCloses(x)
  await r.clock.advance(0)
  assert.equal(r.m.stats().connections, 1)
  await r.clock.advance(60_000 - 100 - 1)
  assert.equal(dials(r, victim), 1, 'not redialled within afterTrim')
  assert.equal(isConnected(r.m, victim), false)
  await r.clock.advance(1)
  assert.equal(dials(r, victim), 2, 'redialled once afterTrim is over')
  assert.equal(isConnected(r.m, victim), true)
  await r.m.close()
})

test('a peer closed with disconnect() rests for afterTrim before the dialer dials it again', async () => {
  const r = rig({ lowWater: 1, highWater: 4, gracePeriod: 1000 })
  peers(r, ['a'])
  r.m.start()
  await r.clock.advance(2000)
  assert.deepEqual(connectedIds(r.m), ['a'])
  await r.m.disconnect('a')
  const at = r.clock.now()
  assert.deepEqual(r.closed.map((c) => c.reason), ['stopped'])
  assert.equal(r.m.getPeer('a')?.nextDialAt, at + 60_000)
  await r.clock.advance(60_000 - 1)
  assert.equal(dials(r, 'a'), 1, 'not redialled right after disconnect()')
  await r.clock.advance(1)
  assert.equal(dials(r, 'a'), 2, 'redialled once afterTrim is over (below lowWater)')
  assert.equal(isConnected(r.m, 'a'), true)
  await r.m.close()
})

test('a peer trimmed by trim() gives its slot to another candidate rather than coming straight back', async () => {
  const r = rig({ lowWater: 2, highWater: 10, gracePeriod: 1000 })
  peers(r, ['a', 'b', 'c'])
  r.m.start()
  await r.clock.advance(2000)
  assert.deepEqual(connectedIds(r.m), ['a', 'b'])
  r.m.setWatermarks(1, 10)
  await r.m.trim()
  assert.equal(r.closed.length, 1)
  const victim = r.closed[0].peer
  r.m.setWatermarks(2, 10)
  await r.clock.advance(0)
  assert.equal(isConnected(r.m, 'c'), true, 'the never-tried candidate takes the slot')
  assert.equal(dials(r, victim), 1)
  await r.clock.advance(59_000)
  assert.equal(dials(r, victim), 1)
  await r.m.close()
})

test('releaseBootstrap: false keeps the old rule: a bootstrap connection counts toward lowWater and stays', async () => {
  const r = rig({ lowWater: 2, highWater: 8, releaseBootstrap: false })
  peers(r, ['b1'], { bootstrap: true })
  r.m.start()
  await r.clock.advance(0)
  peers(r, ['n1', 'n2'])
  await r.clock.advance(3_000)
  assert.deepEqual(connectedIds(r.m), ['b1', 'n1'])
  assert.deepEqual(r.closed, [])
  await r.m.close()
})

test('a connection a bootstrap peer opened to us counts toward lowWater, since it stays: dials stop at lowWater counting it (it used to be set apart, and the node dialled lowWater more)', async () => {
  const r = rig({ lowWater: 2, highWater: 8 })
  peers(r, ['b1'], { bootstrap: true })
  // The bootstrap peer dials us before we dial it; we know nobody else yet.
  await inbound(r, 'b1')
  r.m.start()
  await r.clock.advance(0)
  assert.deepEqual(connectedIds(r.m), ['b1'])
  peers(r, ['n1', 'n2', 'n3'])
  await r.clock.advance(3_000)
  assert.deepEqual(connectedIds(r.m), ['b1', 'n1'], 'one peer besides the inbound bootstrap connection, which stays')
  assert.deepEqual(r.closed, [])
  await r.clock.advance(60_000)
  assert.equal(connectedIds(r.m).length, 2, 'no dial past lowWater later either')
  await r.m.close()
})

test('a ready candidate whose only address moved to another peer leaves the dial index at the next pass (regression: every pass walked past such peers)', () => {
  const m = createConnectionManager({ dial: async () => await new Promise<never>(() => {}), clock: new ManualClock(), lowWater: 4, highWater: 8 })
  m.addPeers([{ id: 'a', address: 'mem://x' }, { id: 'b', address: 'mem://x' }])
  const internals = m as unknown as { book: { get: (id: string) => { candIndex: number; addresses: string[] } }; dialer: { select: (now: number) => Array<{ record: { id?: string } }> } }
  const a = internals.book.get('a')
  assert.deepEqual(a.addresses, [], 'the address moved to b')
  const picked = internals.dialer.select(0).map((p) => p.record.id)
  assert.deepEqual(picked, ['b'])
  assert.equal(a.candIndex, -1, 'a is no longer a candidate')
})

test('a peer whose only address is a multiserver address inside a denied range is never dialled', async () => {
  const clock = new ManualClock()
  const dialled: string[] = []
  const m = createConnectionManager({
    clock,
    lowWater: 4,
    deny: ['10.0.0.0/8'],
    dial: async (address) => { dialled.push(address); throw new Error('unreachable') }
  })
  m.addPeers([
    { id: '@in.ed25519', address: 'net:10.1.2.3:8008~shs:Ab/cd+ef=' },
    { id: '@out.ed25519', address: 'net:192.0.2.1:8008~shs:Gh/ij+kl=' }
  ])
  m.start()
  await clock.advance(1_000)
  assert.deepEqual(dialled, ['net:192.0.2.1:8008~shs:Gh/ij+kl='])
  await m.close()
})

test('explain() of a refused dial says what failed and when the peer is tried next, in the words it always used (the backoff is kept as numbers)', async () => {
  const r = rig({ lowWater: 1, highWater: 4 })
  peers(r, ['x'], { behaviour: 'refuse' })
  r.m.start()
  await r.clock.advance(0)
  const tail = r.m.explain('x').slice(-3).map((d) => [d.at, d.action, d.reason])
  assert.deepEqual(tail, [
    [0, 'dial', tail[0]![2]],
    [0, 'dial-failed', 'mem://x: mem://x refused the connection'],
    [0, 'backoff', 'dial attempt failed (1 in a row): next try in 5000 ms']
  ])
  await r.m.close()
})
