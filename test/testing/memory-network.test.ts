import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import type { Connection, ConnectionManager } from '../../src/index.js'
import { ManualClock, MemoryConnection, MemoryNetwork, testConnection } from '../../src/testing/index.js'
import { collect } from '../helpers/events.js'
import { hasCode } from '../helpers/errors.js'

const signal = (): AbortSignal => new AbortController().signal

// ── ManualClock ─────────────────────────────────────────────────────────────

test('ManualClock starts where it is told and moves only when advanced', async () => {
  const clock = new ManualClock(500)
  assert.equal(clock.now(), 500)
  assert.equal(new ManualClock().now(), 0)
  await clock.advance(0)
  assert.equal(clock.now(), 500)
  await clock.advance(250)
  assert.equal(clock.now(), 750)
})

test('ManualClock fires due timers in time order, each seeing its own time, and no later ones', async () => {
  const clock = new ManualClock()
  const fired: Array<[string, number]> = []
  clock.setTimeout(() => fired.push(['c', clock.now()]), 30)
  clock.setTimeout(() => fired.push(['a', clock.now()]), 10)
  clock.setTimeout(() => fired.push(['b', clock.now()]), 20)
  clock.setTimeout(() => fired.push(['late', clock.now()]), 31)
  await clock.advance(30)
  assert.deepEqual(fired, [['a', 10], ['b', 20], ['c', 30]])
  assert.equal(clock.now(), 30)
  assert.equal(clock.pending, 1)
  await clock.advance(1)
  assert.deepEqual(fired.at(-1), ['late', 31])
  assert.equal(clock.pending, 0)
})

test('ManualClock fires timers due at the same time in the order they were set', async () => {
  const clock = new ManualClock()
  const fired: string[] = []
  clock.setTimeout(() => fired.push('first'), 10)
  await clock.advance(5)
  clock.setTimeout(() => fired.push('second'), 5) // due at 10 as well
  clock.setTimeout(() => fired.push('third'), 5)
  for (let i = 0; i < 20; i++) clock.setTimeout(() => fired.push(`z${i}`), 5)
  await clock.advance(5)
  assert.deepEqual(fired, ['first', 'second', 'third', ...Array.from({ length: 20 }, (_, i) => `z${i}`)])
})

test('ManualClock.clearTimeout cancels a timer, and clearing twice or clearing junk is harmless', async () => {
  const clock = new ManualClock()
  const fired: string[] = []
  const a = clock.setTimeout(() => fired.push('a'), 10)
  clock.setTimeout(() => fired.push('b'), 10)
  assert.equal(clock.pending, 2)
  clock.clearTimeout(a)
  clock.clearTimeout(a)
  clock.clearTimeout(undefined)
  clock.clearTimeout(42)
  assert.equal(clock.pending, 1)
  await clock.advance(100)
  assert.deepEqual(fired, ['b'])
  assert.equal(clock.pending, 0)
})

test('ManualClock lets promise callbacks settle between timers, so timers set by awaiting code fire in the same advance', async () => {
  const clock = new ManualClock()
  const log: string[] = []
  const sleep = async (ms: number): Promise<void> => { await new Promise<void>((resolve) => { clock.setTimeout(resolve, ms) }) }
  clock.setTimeout(() => {
    log.push('t1')
    void Promise.resolve().then(() => log.push('t1 micro')).then(() => log.push('t1 micro 2'))
  }, 10)
  clock.setTimeout(() => log.push('t2'), 10)
  const task = (async () => {
    await sleep(5)
    log.push(`woke at ${clock.now()}`)
    await sleep(5)
    log.push(`woke at ${clock.now()}`)
    await sleep(100)
    log.push('too late')
  })()
  await clock.advance(10)
  assert.deepEqual(log, ['woke at 5', 't1', 't1 micro', 't1 micro 2', 't2', 'woke at 10'])
  await clock.advance(100)
  assert.equal(log.at(-1), 'too late')
  await task
})

test('ManualClock.advance rejects a negative or non-finite step and does not move', async () => {
  const clock = new ManualClock(7)
  await assert.rejects(clock.advance(-1), RangeError)
  await assert.rejects(clock.advance(NaN), RangeError)
  await assert.rejects(clock.advance(Infinity), RangeError)
  assert.equal(clock.now(), 7)
})

test('ManualClock.runAll fires every timer, including those set while running', async () => {
  const clock = new ManualClock()
  const fired: number[] = []
  clock.setTimeout(() => {
    fired.push(clock.now())
    clock.setTimeout(() => fired.push(clock.now()), 50)
  }, 100)
  const advanced = await clock.runAll()
  assert.deepEqual(fired, [100, 150])
  assert.equal(advanced, 150)
  assert.equal(clock.pending, 0)
})

// ── MemoryNetwork ───────────────────────────────────────────────────────────

test('a dial creates a pair of connected ends: outbound at the dialler, inbound at the listener', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  assert.equal(a.address, 'mem://a')
  assert.equal(net.node('b'), b)
  assert.equal(net.node('mem://b'), b)
  const out = await a.dial('mem://b', { signal: signal() }) as MemoryConnection
  assert.equal(out.direction, 'outbound')
  assert.equal(out.peer, 'b')
  assert.equal(out.address, 'mem://b')
  const inb = out.remote
  assert.equal(inb.remote, out)
  assert.equal(inb.direction, 'inbound')
  assert.equal(inb.peer, 'a')
  assert.equal(inb.address, 'mem://a')
  assert.notEqual(out.id, inb.id)
  assert.deepEqual(a.connections(), [out])
  assert.deepEqual(b.connections(), [inb])
  assert.deepEqual(net.links(), [[out, inb]])
  assert.equal(a.dialCount, 1)
})

test('dialing an unknown address fails with ERR_DIAL_FAILED', async () => {
  const net = new MemoryNetwork({ clock: new ManualClock() })
  const a = net.addNode('a')
  await assert.rejects(a.dial('mem://nobody', { signal: signal() }), hasCode('ERR_DIAL_FAILED'))
  assert.deepEqual(a.connections(), [])
})

test('adding a node twice is refused', () => {
  const net = new MemoryNetwork({ clock: new ManualClock() })
  net.addNode('a')
  assert.throws(() => net.addNode('a'), hasCode('ERR_INVALID_ARGUMENT'))
})

test('a node with behaviour refuse fails dials at once; hang waits until the dial is aborted', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  net.addNode('r').behaviour = 'refuse'
  net.addNode('h').behaviour = 'hang'
  await assert.rejects(a.dial('mem://r', { signal: signal() }), hasCode('ERR_DIAL_FAILED'))
  const controller = new AbortController()
  let outcome: unknown
  const done = a.dial('mem://h', { signal: controller.signal }).then(() => { outcome = 'resolved' }, (err: unknown) => { outcome = err })
  await clock.advance(60_000)
  assert.equal(outcome, undefined, 'a hanging dial never answers by itself')
  const reason = new Error('gave up')
  controller.abort(reason)
  await done
  assert.equal(outcome, reason)
  assert.deepEqual(a.connections(), [])
})

test('a bound manager hears of inbound connections', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const m = createConnectionManager({ dial: b.dial, clock })
  b.bind(m)
  assert.equal(b.manager, m)
  const connected = collect<{ peer: string; connection: Connection }>(m.events, 'peer:connected')
  const out = await a.dial('mem://b', { signal: signal() }) as MemoryConnection
  assert.equal(connected.length, 1)
  assert.equal(connected[0].peer, 'a')
  assert.equal(connected[0].connection, out.remote)
  assert.deepEqual(m.listConnections().map((c) => [c.peer, c.direction, c.address]), [['a', 'inbound', 'mem://a']])
  await m.close()
})

test('an inbound connection refused by the bound manager fails the dial with ERR_DIAL_FAILED and the reason', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const m = createConnectionManager({ dial: b.dial, clock, deny: ['a'] })
  b.bind(m)
  await assert.rejects(a.dial('mem://b', { signal: signal() }), (err: unknown) => {
    hasCode('ERR_DIAL_FAILED')(err)
    assert.match((err as Error).message, /denied/)
    return true
  })
  assert.deepEqual(a.connections(), [])
  assert.deepEqual(b.connections(), [])
  assert.deepEqual(net.links(), [])
  assert.equal(m.stats().connections, 0)
  await m.close()
})

test('closing one end closes the other and tells both bound managers', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const ma = createConnectionManager({ dial: a.dial, clock, localPeer: 'a' })
  const mb = createConnectionManager({ dial: b.dial, clock, localPeer: 'b' })
  a.bind(ma)
  b.bind(mb)
  ma.addPeers([{ id: 'b', address: b.address }])
  const out = await ma.connectNow('b') as MemoryConnection
  assert.equal(ma.stats().connections, 1)
  assert.equal(mb.stats().connections, 1)
  const goneA = collect<{ peer: string }>(ma.events, 'peer:disconnected')
  const goneB = collect<{ peer: string }>(mb.events, 'peer:disconnected')
  out.remote.close('bye')
  assert.equal(out.open, false)
  assert.equal(out.remote.open, false)
  assert.equal(out.remoteCloseReason, 'bye')
  assert.equal(out.remote.closeReason, 'bye')
  assert.deepEqual(goneA, [{ peer: 'b' }])
  assert.deepEqual(goneB, [{ peer: 'a' }])
  assert.equal(ma.stats().connections, 0)
  assert.equal(mb.stats().connections, 0)
  assert.deepEqual(net.links(), [])
  // Closing again does nothing.
  out.close('again')
  assert.equal(out.closeReason, undefined)
  assert.deepEqual(goneA, [{ peer: 'b' }])
  await ma.close()
  await mb.close()
})

test('the far end learns the reason the manager closed a connection with, e.g. trimmed', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const ma = createConnectionManager({ dial: a.dial, clock, localPeer: 'a' })
  const mb = createConnectionManager({ dial: b.dial, clock, localPeer: 'b', lowWater: 0, highWater: 4, gracePeriod: 0 })
  a.bind(ma)
  b.bind(mb)
  mb.start()
  ma.addPeers([{ id: 'b', address: b.address }])
  const out = await ma.connectNow('b') as MemoryConnection
  await mb.trim()
  assert.equal(out.remote.closeReason, 'trimmed')
  assert.equal(out.remoteCloseReason, 'trimmed')
  assert.equal(out.open, false)
  assert.equal(ma.stats().connections, 0, 'the dialling manager heard of the close')
  assert.equal(mb.stats().connections, 0)
  await ma.close()
  await mb.close()
})

test('dial latency is counted on the ManualClock, per link when given as a function', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock, latency: (from, to) => (from === 'a' && to === 'b' ? 50 : 200) })
  const a = net.addNode('a')
  net.addNode('b')
  net.addNode('c')
  let ab: unknown
  let ac: unknown
  void a.dial('mem://b', { signal: signal() }).then((c) => { ab = c })
  void a.dial('mem://c', { signal: signal() }).then((c) => { ac = c })
  await clock.advance(49)
  assert.equal(ab, undefined)
  await clock.advance(1)
  assert.ok((ab as unknown) instanceof MemoryConnection)
  assert.equal(ac, undefined)
  await clock.advance(149)
  assert.equal(ac, undefined)
  await clock.advance(1)
  assert.ok((ac as unknown) instanceof MemoryConnection)
})

test('a fixed latency applies to every dial, and aborting during it fails the dial and leaves no connection', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock, latency: 30 })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const controller = new AbortController()
  let outcome: unknown
  const done = a.dial('mem://b', { signal: controller.signal }).then(() => { outcome = 'resolved' }, (err: unknown) => { outcome = err })
  await clock.advance(10)
  controller.abort(new Error('cancelled'))
  await done
  assert.ok(outcome instanceof Error)
  assert.equal((outcome as Error).message, 'cancelled')
  await clock.advance(100)
  assert.deepEqual(b.connections(), [])
  assert.equal(clock.pending, 0, 'the latency timer was cleared')
})

test('an offline node drops its connections, refuses dials and cannot dial, until it goes online', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const a = net.addNode('a')
  const b = net.addNode('b')
  const mb = createConnectionManager({ dial: b.dial, clock })
  b.bind(mb)
  const out = await a.dial('mem://b', { signal: signal() }) as MemoryConnection
  assert.equal(mb.stats().connections, 1)
  b.goOffline()
  assert.equal(b.online, false)
  assert.equal(out.open, false)
  assert.equal(out.remoteCloseReason, 'offline')
  assert.equal(mb.stats().connections, 0)
  await assert.rejects(a.dial('mem://b', { signal: signal() }), hasCode('ERR_DIAL_FAILED'))
  await assert.rejects(b.dial('mem://a', { signal: signal() }), hasCode('ERR_DIAL_FAILED'))
  b.goOnline()
  const again = await a.dial('mem://b', { signal: signal() })
  assert.equal(again.peer, 'b')
  assert.equal(mb.stats().connections, 1)
  await mb.close()
})

test('a manager that dials over a MemoryNetwork dials the node address and records the connection', async () => {
  const clock = new ManualClock()
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  net.addNode('x')
  const m = createConnectionManager({ dial: me.dial, clock })
  me.bind(m)
  m.addPeers([{ address: 'mem://x' }])
  const conn = await m.connectNow('mem://x')
  assert.equal(conn.peer, 'x')
  assert.equal(m.getPeer('x')?.connected, true)
  assert.deepEqual(m.getPeer('x')?.addresses, ['mem://x'])
  assert.equal(m.stats().known, 1)
  assert.equal(me.dialCount, 1)
  // A stand-alone TestConnection can live next to memory connections.
  assert.equal(m.connected(testConnection('y')), true)
  assert.equal(m.stats().connections, 2)
  await m.close()
  assert.equal(net.links().length, 0, 'close() closed the memory connection on both ends')
})

test('memory network: a refused dial fails with the reason the listener gave, one message string per reason in a row', async () => {
  const net = new MemoryNetwork()
  const a = net.addNode('a')
  const b = net.addNode('b')
  const reasons = ['over-limit', 'over-limit', 'denied']
  b.bind({ connected: (c: Connection) => { c.close(reasons.shift()); return false }, disconnected: () => {} } as unknown as ConnectionManager)
  const messages: string[] = []
  for (let i = 0; i < 3; i++) {
    const err = await a.dial(b.address, { signal: new AbortController().signal }).then(() => undefined, (e: Error) => e)
    messages.push(err!.message)
  }
  assert.deepEqual(messages, ['mem://b refused the connection: over-limit', 'mem://b refused the connection: over-limit', 'mem://b refused the connection: denied'])
})
