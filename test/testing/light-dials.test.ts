import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Cells } from '../../src/manager/cells.js'
import { DecisionLog } from '../../src/manager/decision-log.js'
import { DialCancel } from '../../src/manager/dial-addresses.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import { addressStats, dialOrder } from '../../src/manager/record-dial.js'
import { ManualClock } from '../../src/testing/manual-clock.js'
import { MemoryNetwork } from '../../src/testing/memory-network.js'

// The lighter objects of a simulated dial (one per dial, millions in a large simulation) must
// behave as the AbortController and arrays they replace.

test('DialCancel calls function and handleEvent listeners once each, in the order added, also after the first is removed', () => {
  const heard: string[] = []
  const c = new DialCancel()
  const a = (): void => { heard.push('a') }
  const b = { handleEvent: () => { heard.push('b') } }
  const d = (): void => { heard.push('d') }
  c.addEventListener('abort', a)
  c.addEventListener('abort', b)
  c.addEventListener('abort', a) // a listener added twice is heard once, as on an EventTarget
  c.addEventListener('abort', d)
  c.removeEventListener('abort', a)
  c.addEventListener('abort', a)
  c.abort(new Error('stop'))
  c.abort(new Error('again'))
  assert.deepEqual(heard, ['b', 'd', 'a'])
  assert.equal((c.reason as Error).message, 'stop')
  c.addEventListener('abort', a)
  assert.deepEqual(heard, ['b', 'd', 'a'], 'nothing is heard after the abort')
})

test('a dial over a link with latency aborted through a DialCancel fails with its reason, clears its timer and leaves no connection', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock, latency: 30 })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const cancel = new DialCancel()
  let outcome: unknown
  const done = a.dial('mem://b', { signal: cancel as unknown as AbortSignal }).then(() => { outcome = 'resolved' }, (err: unknown) => { outcome = err })
  await clock.advance(10)
  cancel.abort(new Error('cancelled'))
  await done
  assert.equal((outcome as Error).message, 'cancelled')
  await clock.advance(100)
  assert.deepEqual(b.connections(), [])
  assert.equal(clock.pending, 0, 'the latency timer was cleared')
})

test('a dial over a link with latency arrives when the latency is over, and a later abort of its signal changes nothing', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock, latency: 30 })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const cancel = new DialCancel()
  let arrived = -1
  const dial = a.dial('mem://b', { signal: cancel as unknown as AbortSignal }).then((conn) => { arrived = clock.now(); return conn })
  await clock.advance(29)
  assert.equal(arrived, -1)
  await clock.advance(1)
  assert.equal(arrived, 30)
  cancel.abort(new Error('late'))
  const conn = await dial
  assert.equal(conn.peer, 'b')
  assert.equal(b.connections().length, 1, 'the connection stays open')
})

test('a decision log given slabs carves its arrays from them and keeps every decision across its growths', () => {
  const cells = new Cells()
  const log = new DecisionLog(10_000, cells)
  const refs: number[] = []
  for (let p = 0; p < 100; p++) {
    let ref = 0
    for (let k = 0; k < 3; k++) ref = log.textual(ref, p, 5, p * 10 + k, 'dial', `peer ${p} try ${k}`)
    refs.push(ref)
  }
  assert.ok(log.capacity >= 300)
  for (let p = 0; p < 100; p++) {
    assert.deepEqual(log.read(refs[p], p)?.map((d) => [d.at, d.reason]), [0, 1, 2].map((k) => [p * 10 + k, `peer ${p} try ${k}`]))
  }
  assert.ok(cells.slabBytes > 0, 'its arrays are views into a slab')
  // A second log on the same slabs: the two do not overwrite each other (the first's released arrays are reused).
  const other = new DecisionLog(10_000, cells)
  let ref = 0
  for (let k = 0; k < 100; k++) ref = other.textual(ref, 0, 200, k, 'dial', 'x')
  assert.equal(other.read(ref, 0)?.length, 100)
  assert.deepEqual(log.read(refs[7], 7)?.map((d) => d.reason), ['peer 7 try 0', 'peer 7 try 1', 'peer 7 try 2'])
})

test('a dial reads the record\'s own address list when there is nothing to order, and an ordered copy when there is', () => {
  const r = new PeerRecord('p', 'p', 0)
  r.addresses = ['mem://a', 'mem://b']
  assert.equal(dialOrder(r), r.addresses, 'no stats: the list itself, no copy')
  addressStats(r, 'mem://a').fails = 2
  const ordered = dialOrder(r)
  assert.notEqual(ordered, r.addresses)
  assert.deepEqual(ordered, ['mem://b', 'mem://a'], 'the failing address last')
  assert.deepEqual(r.addresses, ['mem://a', 'mem://b'], 'the record\'s list unchanged')
  r.addresses = ['mem://c']
  assert.equal(dialOrder(r), r.addresses, 'one address: nothing to order')
})
