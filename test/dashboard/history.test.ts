import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager, type ConnectionManager } from '../../src/index.js'
import { Feed } from '../../src/dashboard/feed.js'
import { History, Ring } from '../../src/dashboard/history.js'
import { meshView, networkView, type MeshTotals } from '../../src/dashboard/sources.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

// The dashboard's memory and views, without a server: rings, samples, the network graph and the
// mesh rows, in virtual time.

const noDial = async (): Promise<never> => { throw new Error('no dial') }
const manager = (highWater = 4): ConnectionManager => createConnectionManager({ dial: noDial, lowWater: 1, highWater, clock: new ManualClock() })

test('a ring keeps the last `capacity` entries, oldest first', () => {
  const r = new Ring<number>(3)
  assert.deepEqual(r.toArray(), [])
  for (let i = 1; i <= 7; i++) r.push(i)
  assert.deepEqual(r.toArray(), [5, 6, 7])
  assert.equal(r.size, 3)
  assert.deepEqual(r.last(2), [6, 7])
  assert.deepEqual(r.last(10), [5, 6, 7])
  assert.throws(() => new Ring(0), /capacity/)
})

test('the history is bounded: 600 samples and 500 events by default, the oldest dropped', () => {
  const h = new History()
  for (let i = 0; i < 1000; i++) { h.record(i, { connections: i }); h.log({ at: i, type: 'peer:connected' }) }
  const { samples, events } = h.dump()
  assert.equal(samples.length, 600)
  assert.equal(samples[0].at, 400)
  assert.equal(events.length, 500)
  assert.equal(events[0].at, 500)
  const small = new History({ samples: 2, events: 1 })
  small.record(1, {}); small.record(2, {}); small.record(3, {})
  assert.deepEqual(small.dump().samples.map((s) => s.at), [2, 3])
})

test('a sample carries the events counted since the previous one, then 0 for each kind seen', () => {
  const h = new History()
  h.count('closed'); h.count('closed'); h.count('trimmed', 3)
  assert.deepEqual(h.record(1000, { connections: 4 }), { at: 1000, connections: 4, closed: 2, trimmed: 3 })
  assert.deepEqual(h.record(2000, { connections: 4 }), { at: 2000, connections: 4, closed: 0, trimmed: 0 })
})

test('the network graph: one edge per connection seen from either end, from the dialer; outside peers as points; budgets counted', () => {
  const [a, b] = [manager(), manager()]
  a.connected(new TestConnection({ peer: 'b', direction: 'outbound' }))
  b.connected(new TestConnection({ peer: 'a', direction: 'inbound' }))
  b.connected(new TestConnection({ peer: 'z', direction: 'outbound' }))
  b.protect('z', 'app')
  const view = networkView([{ id: 'a', manager: a }, { id: 'b', manager: b, bootstrap: true, label: 'boot' }])
  assert.deepEqual(view.edges, [{ from: 'a', to: 'b', protected: false }, { from: 'b', to: 'z', protected: true }])
  assert.deepEqual(view.nodes.map((n) => [n.id, n.label, n.bootstrap, n.outside, n.connections, n.inbound, n.outbound]), [
    ['a', 'a', false, false, 1, 0, 1], ['b', 'boot', true, false, 2, 1, 1], ['z', 'z', false, true, 1, 1, 0]
  ])
  assert.equal(view.dropped, 0)
  const small = networkView([{ id: 'a', manager: a }, { id: 'b', manager: b }], 2, 1)
  assert.deepEqual(small.nodes.map((n) => n.id), ['a', 'b'])
  assert.equal(small.edges.length, 1)
  assert.equal(small.dropped, 1, 'b>z, whose peer is past the node budget')
})

test('the mesh rows: figures as given, rates per second from the command counters, breakers by state; a throwing stats() shows nothing', () => {
  const totals: MeshTotals = new Map()
  let calls = 100
  const inst = { id: 'w', role: 'Worker', variant: 'w1', stats: () => ({ calls: 2, running: 1, label: 'x', commands: { work: { calls, errors: 1 } }, breakers: { p1: 'open', p2: { state: 'closed' }, p3: 'open' } }) }
  const bad = { id: 'b', role: 'Broken', stats: () => { throw new Error('no') } }
  const first = meshView([inst, bad], totals, 0)
  assert.deepEqual(first[0].figures, { calls: 2, running: 1 })
  assert.deepEqual(first[0].rates, { calls: 0, errors: 0 }, 'no rate before a second view')
  assert.deepEqual(first[0].breakers, { open: 2, closed: 1 })
  assert.deepEqual(first[1], { id: 'b', role: 'Broken', variant: '', figures: {}, rates: {}, commands: {}, breakers: {} })
  calls = 150
  const second = meshView([inst], totals, 2000)
  assert.deepEqual(second[0].rates, { calls: 25, errors: 0 })
  assert.deepEqual(second[0].commands, { work: { calls: 25, errors: 0 } })
  assert.equal(totals.has('b'), false, 'a gone instance is forgotten')
  calls = 10
  assert.equal(meshView([inst], totals, 3000)[0].rates.calls, 10, 'a counter that went down (a restart) counts from 0')
})

test('the mesh rows read a mesh node\'s own figures: calls and errors per Role.command summed over instances', () => {
  const totals: MeshTotals = new Map()
  let calls = 10
  const figures = (): unknown => [
    { role: 'Worker', command: 'work', instance: 'w1', calls, outcomes: { OK: calls - 2, ERR_REMOTE: 2 }, inFlight: 1, latency: { buckets: [], counts: [], sum: 0, count: 0 } },
    { role: 'Worker', command: 'work', instance: 'w2', calls, outcomes: { OK: calls }, inFlight: 0, latency: { buckets: [], counts: [], sum: 0, count: 0 } }
  ]
  const gateway = { id: 'g', role: 'Gateway', stats: () => ({ calls: 1, commands: figures(), breakers: [{ role: 'Worker', instance: 'w1', peer: 'p', state: 'half-open', calls: 3, failures: 2 }] }) }
  meshView([gateway], totals, 0)
  calls = 30
  const [row] = meshView([gateway], totals, 1000)
  assert.deepEqual(row!.commands, { 'Worker.work': { calls: 40, errors: 0, inFlight: 0 } })
  assert.equal(row!.rates.calls, 40)
  assert.deepEqual(row!.breakers, { 'half-open': 1 })
})

test('the feed samples the manager and the network, logs events, and follows a network whose managers change', () => {
  const own = manager()
  let other = manager(1)
  const sent: Array<[string, any]> = []
  const feed = new Feed(own, { interval: 60_000, maxPeers: 10, network: { nodes: () => [{ id: 'own', manager: own }, { id: 'other', manager: other }] } }, (event, data) => { sent.push([event, data()]) })
  feed.start()
  own.connected(new TestConnection({ peer: 'p1', direction: 'inbound' }))
  other.connected(new TestConnection({ peer: 'q1', direction: 'inbound' }))
  other.connected(new TestConnection({ peer: 'q2', direction: 'inbound' }))
  feed.tick(5000)
  const sample = sent.filter(([e]) => e === 'sample').at(-1)![1]
  assert.equal(sample.connections, 1)
  assert.equal(sample.connected, 1)
  assert.equal(sample.netNodes, 2)
  assert.equal(sample.netRefused, 1, 'other refused q2')
  const net = sent.filter(([e]) => e === 'network').at(-1)![1]
  assert.deepEqual(net.activity.map((a: { node: string; type: string }) => `${a.node} ${a.type}`), ['own peer:connected', 'other peer:connected', 'other connection:refused'])
  // A restarted node: its new manager is listened to, the old one no more.
  const old = other
  other = manager(1)
  feed.tick(6000)
  old.connected(new TestConnection({ peer: 'ignored', direction: 'inbound' }))
  other.connected(new TestConnection({ peer: 'r1', direction: 'inbound' }))
  feed.tick(7000)
  const after = sent.filter(([e]) => e === 'network').at(-1)![1]
  assert.deepEqual(after.activity.map((a: { node: string; peer: string }) => `${a.node} ${a.peer}`), ['other r1'])
  assert.deepEqual(feed.hello().events, [{ at: (feed.hello().events as Array<{ at: number }>)[0].at, type: 'peer:connected', peer: 'p1', direction: 'inbound' }])
  feed.close()
  own.connected(new TestConnection({ peer: 'p2', direction: 'inbound' }))
  assert.equal((feed.hello().events as unknown[]).length, 1, 'closed: nothing more is logged')
})
