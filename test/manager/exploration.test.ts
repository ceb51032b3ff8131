import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/manager/index.js'
import type { ConnectionManager } from '../../src/manager/types.js'
import { ManualClock, MemoryNetwork, xorshift } from '../../src/testing/index.js'

// A group of nodes all content at lowWater never dials: without exploration, two groups that formed
// apart stay apart whatever they learn of each other. The seven corestore peers at lowWater 2 /
// highWater 3 once settled so — a triangle of readers apart from the writer's four — and three
// readers never got a block.

interface World { clock: ManualClock; net: MemoryNetwork; managers: Map<string, ConnectionManager> }

const GROUP_A = ['w', 'a1', 'a2', 'a3']
const GROUP_B = ['b1', 'b2', 'b3']

/** Seven managers on a memory network, bounded to 2/3, each knowing only its own group (all of one topic). */
async function twoGroups (exploreInterval: number | ((id: string) => number), seed = 7): Promise<World> {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const managers = new Map<string, ConnectionManager>()
  const random = xorshift(seed)
  for (const id of [...GROUP_A, ...GROUP_B]) {
    const node = net.addNode(id)
    const m = createConnectionManager({ dial: node.dial, localPeer: id, clock, random, lowWater: 2, highWater: 3, gracePeriod: 1_000, exploreInterval: typeof exploreInterval === 'number' ? exploreInterval : exploreInterval(id) })
    node.bind(m)
    m.setTopicQuota('log', { min: 2 })
    managers.set(id, m)
  }
  for (const group of [GROUP_A, GROUP_B]) {
    for (const id of group) managers.get(id)!.addPeers(group.filter((p) => p !== id).map((p) => ({ id: p, address: `mem://${p}`, topics: ['log'] })))
  }
  for (const m of managers.values()) m.start()
  await clock.advance(5_000)
  assert.equal(components(net).length, 2, 'two groups formed apart')
  for (const m of managers.values()) assert.ok(m.stats().connections >= 2, 'every node is content (at lowWater or more)')
  // Now every node learns of every other (a lookup would tell it so): content, none of them dials.
  for (const [id, m] of managers) m.addPeers([...GROUP_A, ...GROUP_B].filter((p) => p !== id).map((p) => ({ id: p, address: `mem://${p}`, topics: ['log'], hint: true })))
  return { clock, net, managers }
}

/** The connected components of the network's links, each sorted. */
function components (net: MemoryNetwork): string[][] {
  const adj = new Map<string, Set<string>>()
  for (const id of [...GROUP_A, ...GROUP_B]) adj.set(id, new Set())
  for (const [a] of net.links()) {
    adj.get(a.owner.id)!.add(a.peer)
    adj.get(a.peer)!.add(a.owner.id)
  }
  const seen = new Set<string>()
  const out: string[][] = []
  for (const id of adj.keys()) {
    if (seen.has(id)) continue
    const comp: string[] = []
    const stack = [id]
    seen.add(id)
    while (stack.length > 0) {
      const x = stack.pop()!
      comp.push(x)
      for (const y of adj.get(x)!) if (!seen.has(y)) { seen.add(y); stack.push(y) }
    }
    out.push(comp.sort())
  }
  return out
}

async function closeAll (w: World): Promise<void> {
  for (const m of w.managers.values()) await m.close()
}

test('without exploration two groups each content at lowWater stay apart for good (what exploration guards against)', async () => {
  const w = await twoGroups(0)
  await w.clock.advance(30 * 60_000)
  assert.equal(components(w.net).length, 2)
  await closeAll(w)
})

test('exploration joins two groups each content at lowWater into one network, and no node ever holds more than highWater', async () => {
  const w = await twoGroups(60_000)
  let peak = 0
  for (const m of w.managers.values()) m.events.addEventListener('peer:connected', () => { peak = Math.max(peak, m.stats().connections) })
  let joinedAt: number | undefined
  for (let t = 0; t < 30 && joinedAt === undefined; t++) {
    await w.clock.advance(60_000)
    if (components(w.net).length === 1) joinedAt = w.clock.now()
  }
  assert.ok(joinedAt !== undefined, `still apart after 30 minutes: ${JSON.stringify(components(w.net))}`)
  assert.ok(peak <= 3, `peak ${peak} above highWater 3`)
  for (const m of w.managers.values()) assert.ok(m.stats().connections <= 3)
  await closeAll(w)
})

test('exploration keeps the count: once the stranger is connected the lowest-ranked older connection goes, explain() says why, and a trim event with reason explore tells it (it closed as trimmed with no trim event)', async () => {
  // Only b1 explores: what happens to its connections is its exploration's doing.
  const w = await twoGroups((id) => id === 'b1' ? 60_000 : 0)
  const b1 = w.managers.get('b1')!
  const before = b1.stats().connections
  const closes: string[] = []
  b1.events.addEventListener('connection:closed', (e) => { closes.push(`${e.detail.connection.peer} ${e.detail.reason}`) })
  const trims: string[] = []
  b1.events.addEventListener('trim', (e) => { trims.push(`${e.detail.closed} ${e.detail.reason}`) })
  // b1 explores within one and a half intervals.
  await w.clock.advance(90_000)
  const reached = b1.listConnections().filter((c) => c.direction === 'outbound' && GROUP_A.includes(c.peer)).map((c) => c.peer)
  assert.ok(reached.length >= 1, `b1 reached a peer of the other group: ${JSON.stringify(b1.listConnections())}`)
  assert.equal(b1.stats().connections, before)
  const rotated = closes.find((c) => c.endsWith(' trimmed'))
  assert.ok(rotated !== undefined && GROUP_B.includes(rotated.split(' ')[0]), `one neighbour of b1's own group let go: ${JSON.stringify(closes)}`)
  assert.ok(b1.explain(rotated.split(' ')[0]).some((d) => /reached by exploring/.test(d.reason)))
  const trimmedCloses = closes.filter((c) => c.endsWith(' trimmed')).length
  assert.equal(trims.reduce((n, t) => n + Number(t.split(' ')[0]), 0), trimmedCloses, `every close as trimmed is in a trim event: ${JSON.stringify(trims)}`)
  assert.ok(trims.includes('1 explore'), JSON.stringify(trims))
  assert.ok(b1.explain(reached[0]).some((d) => d.action === 'dial' && /exploring/.test(d.reason)), JSON.stringify(b1.explain(reached[0])))
  await closeAll(w)
})

test('exploration dials only peers of a joined topic that are not bootstrap peers, and keeps the count', async () => {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const node = net.addNode('me')
  const m = createConnectionManager({ dial: node.dial, localPeer: 'me', clock, random: xorshift(3), lowWater: 1, highWater: 2, gracePeriod: 1_000, exploreInterval: 1_000 })
  node.bind(m)
  for (const id of ['x', 'y', 'z', 'boot']) net.addNode(id)
  const started: string[] = []
  m.events.addEventListener('dial:started', (e) => { started.push(e.detail.address) })
  m.setTopicQuota('t', { min: 1 })
  m.addPeers([{ id: 'x', address: 'mem://x', topics: ['t'] }])
  m.start()
  await clock.advance(100)
  assert.deepEqual(started, ['mem://x'], 'the dialer reaches lowWater')
  m.addPeers([{ id: 'boot', address: 'mem://boot', bootstrap: true, topics: ['t'] }, { id: 'z', address: 'mem://z' }])
  await clock.advance(10_000)
  assert.deepEqual(started, ['mem://x'], 'neither a bootstrap peer nor a peer of no joined topic is explored')
  m.addPeers([{ id: 'y', address: 'mem://y', topics: ['t'] }])
  await clock.advance(1_500)
  assert.deepEqual(started, ['mem://x', 'mem://y'], 'a known peer of the topic is explored')
  assert.equal(m.stats().connections, 1, 'the older connection went (one above lowWater 1)')
  await m.close()
})
