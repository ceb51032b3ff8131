import assert from 'node:assert/strict'
import { once } from 'node:events'
import c from 'compact-encoding'
import { test } from 'node:test'
import { CONTROL_PROTOCOL, type NodeConnection } from '../../src/node/connection.js'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { QueueBudget, selectQueueVictim, type QueueHolder } from '../../src/node/queue-budget.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A connection that its owner paused (an application that stops reading a peer while its own writes
// to that peer are backed up, or a connection not accepted yet) queues what arrives, up to
// maxQueuedBytes and one message; past that its socket is paused. Many connections each at their
// own budget held the node's memory without bound: maxQueuedBytesTotal bounds them all together.

const T = { timeout: 60_000 }
const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 3)

/** The victim's connections as its manager accepts them, by peer. */
function accepting (victim: PeerNode): Map<string, NodeConnection> {
  const conns = new Map<string, NodeConnection>()
  victim.events.addEventListener('connection', (e) => { conns.set(e.detail.peer, e.detail.connection as NodeConnection) })
  return conns
}

/** An attacker from 127.0.1.`n` (a /24 of its own), its connection paused by the victim once accepted. */
async function pausedAttacker (t: Parameters<typeof testNode>[0], victim: PeerNode, conns: Map<string, NodeConnection>, n: number): Promise<{ a: Attacker; conn: NodeConnection }> {
  const a = await attack(victim.addresses[0]!, { localAddress: `127.0.1.${n}` })
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  await until(() => conns.has(a.id), 5000, 'the victim to accept the attacker')
  const conn = conns.get(a.id)!
  conn.stream.pause()
  return { a, conn }
}

/** Sends `bytes` as 64 KiB messages, without waiting (the victim's kernel buffers take what it does not read). */
function flood (a: Attacker, bytes: number): void {
  for (let sent = 0; sent < bytes; sent += CHUNK.byteLength) a.stream.write(CHUNK)
}

test('paused connections across the node stay within maxQueuedBytesTotal: the largest holder of the range holding most gives way (\'over-budget\')', T, async (t) => {
  const budget = 4 * MiB
  const victim = await testNode(t, { maxQueuedBytesTotal: budget, manager: { highWater: 64 } })
  const conns = accepting(victim)
  const attackers: Array<{ a: Attacker; conn: NodeConnection }> = []
  for (let i = 0; i < 8; i++) {
    const x = await pausedAttacker(t, victim, conns, i + 1)
    attackers.push(x)
    flood(x.a, 2 * MiB)
    // Each paused connection queues 1 MiB (its own budget) before its socket is paused.
    await until(() => x.conn.stream.queuedBytes >= MiB || !x.conn.open, 5000, () => `the victim to queue the attacker's bytes (${x.conn.stream.queuedBytes})`)
    assert.ok(victim.stats().queuedBytes <= budget, `${victim.stats().queuedBytes} bytes queued on paused connections (budget ${budget}) after ${i + 1} attackers`)
  }
  const closed = attackers.filter((x) => !x.conn.open)
  assert.ok(closed.length >= 4, `${closed.length} attackers closed`)
  for (const x of closed) assert.equal(x.conn.closeReason, 'over-budget')
  assert.equal(victim.stats().queueBudgetCloses, closed.length)
  assert.ok(victim.stats().queueHoldingBytes <= budget)
})

test('an honest peer the victim paused keeps its connection and gets everything through while attackers of another range fill the budget', T, async (t) => {
  const budget = 4 * MiB
  const victim = await testNode(t, { maxQueuedBytesTotal: budget, manager: { highWater: 64 } })
  const conns = accepting(victim)
  let got = 0
  victim.protocol('bulk/test', (conn) => {
    const ch = conn.mux.createChannel({ protocol: 'bulk/test' })
    ch?.addMessage<Uint8Array>({ encoding: c.raw, onmessage: (b) => { got += b.byteLength } })
    ch?.open()
  })
  // Three attackers from one /24, each queueing its 1 MiB and one message.
  for (let i = 0; i < 3; i++) {
    const x = await pausedAttacker(t, victim, conns, 10 + i)
    flood(x.a, 2 * MiB)
    await until(() => x.conn.stream.queuedBytes >= MiB, 5000, 'the victim to queue the attacker\'s bytes')
  }
  const honest = await testNode(t)
  const conn = await honest.manager.connectNow(victim.addresses[0]!) as NodeConnection
  await until(() => conns.has(honest.id), 5000, 'the victim to accept the honest peer')
  const mine = conns.get(honest.id)!
  const ch = conn.mux.createChannel({ protocol: 'bulk/test' })!
  const data = ch.addMessage<Uint8Array>({ encoding: c.raw })
  ch.open()
  await until(() => ch.opened, 5000, 'the bulk channel to open')
  mine.stream.pause()
  const total = 4 * MiB
  const sending = (async () => {
    for (let sent = 0; sent < total; sent += CHUNK.byteLength) {
      if (!data.send(CHUNK)) await once(conn.stream, 'drain')
    }
  })()
  await until(() => mine.stream.queuedBytes >= MiB, 5000, 'the victim to queue the honest peer\'s bytes')
  assert.ok(victim.stats().queueBudgetCloses >= 1, 'an attacker gave way')
  mine.stream.resume()
  await sending
  await until(() => got >= total, 20_000, () => `the victim to read every honest byte (${got})`)
  assert.equal(mine.open, true)
  assert.equal(conn.open, true)
})

/** A holder for the budget alone: where it comes from, and whether the budget ended it. */
function holder (host: string): QueueHolder & { ended: boolean } {
  return { remoteHost: host, ended: false, overQueueBudget () { this.ended = true } }
}

test('the queue budget\'s choice: the range holding most, its largest holder, the latest on a tie — newcomers matching an honest holder cannot make it go', () => {
  const held = (range: string, read: number, write = 0): { read: number; write: number; range: string } => ({ read, write, range })
  assert.equal(selectQueueVictim(new Map([['honest', held('a', 4)], ['x1', held('b', 3)], ['x2', held('b', 3)]])), 'x2')
  assert.equal(selectQueueVictim(new Map([['honest', held('a', 4)], ['x1', held('b', 4)]])), 'x1')
  assert.equal(selectQueueVictim(new Map([['honest', held('a', 2, 6)], ['x1', held('b', 4)]])), 'honest')
  assert.equal(selectQueueVictim(new Map([['a1', held('a', 1)], ['a2', held('a', 5)], ['a3', held('a', 5)]])), 'a3')
  assert.equal(selectQueueVictim(new Map()), undefined)
})

test('attackers that each hold what an honest holder holds, from many ranges, end themselves: the honest holder stays', () => {
  const budget = new QueueBudget(4 * MiB)
  const honest = holder('192.0.2.1')
  budget.count(honest, 'read', MiB)
  const attackers = Array.from({ length: 8 }, (_, i) => holder(`198.51.${i}.1`))
  for (const a of attackers) {
    budget.count(a, 'read', MiB)
    budget.enforce()
  }
  assert.equal(honest.ended, false)
  assert.equal(attackers.filter((a) => a.ended).length, 5)
  assert.ok(budget.holding <= 4 * MiB)
  assert.equal(budget.overBudgetCloses, 5)
})

test('the queue budget never ends the last holder, and an ended holder is counted no more', () => {
  const budget = new QueueBudget(MiB)
  const one = holder('192.0.2.1')
  budget.count(one, 'write', 16 * MiB)
  budget.enforce()
  assert.equal(one.ended, false)
  const two = holder('192.0.2.2')
  budget.count(two, 'read', 1024)
  budget.enforce()
  assert.equal(one.ended, true)
  assert.equal(budget.holding, 1024)
  budget.count(one, 'write', 0)
  assert.equal(budget.holding, 1024)
})

test('peers that stop reading our answers, each within its own maxWriteQueueBytes, are held to maxQueuedBytesTotal together', T, async (t) => {
  const budget = 4 * MiB
  const victim = await testNode(t, { maxQueuedBytesTotal: budget, maxWriteQueueBytes: 64 * MiB, manager: { highWater: 64 } })
  const topic = discoveryKey('queued-bytes')
  // 32 announcers with 8 addresses each: every lookup's answer is some 8 KiB.
  for (let i = 0; i < 32; i++) {
    const a = await attack(victim.addresses[0]!)
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    a.control({ t: 'announce', topic, addresses: Array.from({ length: 8 }, (_, k) => `tcp://10.${i}.${k}.1:${4000 + k}`), ttl: 60_000 })
  }
  await until(() => victim.stats().rendezvousRegistrations >= 32, 10_000, 'the victim to register the announcers')
  const conns = accepting(victim)
  const readers: Array<{ a: Attacker; conn: NodeConnection }> = []
  for (let i = 0; i < 3; i++) {
    const a = await attack(victim.addresses[0]!, { localAddress: `127.0.2.${i + 1}` })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    await until(() => conns.has(a.id), 5000, 'the victim to accept the attacker')
    a.stream.socket.pause() // never reads again
    readers.push({ a, conn: conns.get(a.id)! })
  }
  let id = 0
  const giveUp = Date.now() + 20_000
  while (victim.stats().queueBudgetCloses === 0 && Date.now() < giveUp) {
    for (const { a } of readers) for (let i = 0; i < 100; i++) a.control({ t: 'lookup', id: id++, topic })
    await new Promise<void>((resolve) => { setImmediate(resolve) })
    assert.ok(victim.stats().queueHoldingBytes <= budget + 4 * MiB, `${victim.stats().queueHoldingBytes} bytes counted`)
  }
  assert.ok(victim.stats().queueBudgetCloses >= 1, `no connection gave way after ${id} lookups`)
  const closed = readers.filter((r) => !r.conn.open)
  assert.ok(closed.length >= 1)
  for (const r of closed) assert.equal(r.conn.closeReason, 'over-budget')
  assert.equal(victim.stats().writeBudgetCloses, 0, 'the per-connection budget never came near')
})
