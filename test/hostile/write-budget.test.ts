import assert from 'node:assert/strict'
import { once } from 'node:events'
import c from 'compact-encoding'
import { test } from 'node:test'
import { CONTROL_PROTOCOL, type NodeConnection } from '../../src/node/connection.js'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A peer that sends requests and never reads our answers: without a write-side budget, every answer
// waits in our socket's buffer for good, and a peer asking fast enough grows it without bound. The
// budget (write-budget.ts) closes it instead.

const T = { timeout: 60_000 }
const TOPIC = 'write-budget'
const KEY = discoveryKey(TOPIC)
const BUDGET = 1024 * 1024
/** What the attacker sends at most before the test gives up (the kernel's buffers take several MiB first). */
const MAX_SENT = 32 * 1024 * 1024

/** 32 peers announce the topic with 8 addresses each at the victim: every lookup's answer is then some 8 KiB. */
async function fillTopic (t: Parameters<typeof testNode>[0], victim: PeerNode): Promise<void> {
  const announcers: Attacker[] = []
  for (let i = 0; i < 32; i++) {
    const a = await attack(victim.addresses[0]!)
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    a.control({ t: 'announce', topic: KEY, addresses: Array.from({ length: 8 }, (_, k) => `tcp://10.${i}.${k}.1:${4000 + k}`), ttl: 60_000 })
    announcers.push(a)
  }
  await until(() => victim.stats().rendezvousRegistrations >= 32, 10_000, 'the victim to register the 32 announcers')
}

test('a peer that sends lookups and never reads the answers is closed (\'over-budget\') once maxWriteQueueBytes wait for it; the node still serves', T, async (t) => {
  const victim = await testNode(t, { maxWriteQueueBytes: BUDGET, manager: { highWater: 64 } })
  await fillTopic(t, victim)
  const conns = new Map<string, NodeConnection>()
  victim.events.addEventListener('connection', (e) => { conns.set(e.detail.peer, e.detail.connection) })
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  await until(() => conns.has(a.id), 5000, 'the victim to accept the attacker')
  const conn = conns.get(a.id)!
  // Never read again: what the victim answers stays in the kernel's buffers, then in its own.
  a.stream.socket.pause()
  let sent = 0
  let maxQueued = 0
  let id = 0
  const giveUp = Date.now() + 20_000 // a hard limit: without the budget this never ends
  while (!conn.stream.destroyed && sent < MAX_SENT && Date.now() < giveUp) {
    for (let i = 0; i < 200; i++) {
      a.control({ t: 'lookup', id: id++, topic: KEY })
      sent += 100
    }
    await new Promise<void>((resolve) => { setImmediate(resolve) })
    maxQueued = Math.max(maxQueued, conn.stream.socket.writableLength)
  }
  assert.ok(conn.stream.destroyed, `the victim still holds the connection after ${id} lookups (${maxQueued} bytes queued for the attacker)`)
  assert.equal(conn.closeReason, 'over-budget')
  // Past the budget by one answer at most (the write that crossed it), then nothing: destroyed.
  assert.ok(maxQueued <= BUDGET + 64 * 1024, `the victim queued ${maxQueued} bytes for the attacker (budget ${BUDGET})`)
  await until(() => conn.stream.socket.destroyed, 1000, 'the victim to destroy the socket (its buffer goes with it)')
  assert.equal(victim.stats().writeBudgetCloses, 1)
  await until(() => !victim.connections().some((c) => c.peer === a.id), 5000, 'the victim to forget the attacker')
  const honest = await testNode(t)
  const c = await honest.manager.connectNow(victim.addresses[0]!)
  assert.equal(c.peer, victim.id)
})

test('an honest bulk sender that waits for drain never trips the write budget (32 MiB in 64 KiB messages, budget 1 MiB)', T, async (t) => {
  const sender = await testNode(t, { maxWriteQueueBytes: BUDGET })
  const receiver = await testNode(t)
  let got = 0
  receiver.protocol('bulk/test', (conn) => {
    const ch = conn.mux.createChannel({ protocol: 'bulk/test' })
    ch?.addMessage<Uint8Array>({ encoding: c.raw, onmessage: (b) => { got += b.byteLength } })
    ch?.open()
  })
  const conn = await sender.manager.connectNow(receiver.addresses[0]!) as NodeConnection
  const ch = conn.mux.createChannel({ protocol: 'bulk/test' })!
  const data = ch.addMessage<Uint8Array>({ encoding: c.raw })
  ch.open()
  await new Promise<void>((resolve) => { setImmediate(resolve) }) // past the connection's set-up tick
  const chunk = Buffer.alloc(64 * 1024, 7)
  const total = 32 * 1024 * 1024
  let maxQueued = 0
  for (let sent = 0; sent < total; sent += chunk.byteLength) {
    const ok = data.send(chunk)
    maxQueued = Math.max(maxQueued, conn.stream.socket.writableLength)
    if (!ok) await once(conn.stream, 'drain')
  }
  await until(() => got >= total, 20_000, 'the receiver to get every byte')
  assert.ok(maxQueued < BUDGET, `${maxQueued} bytes queued at most`)
  assert.equal(conn.open, true)
  assert.equal(sender.stats().writeBudgetCloses, 0)
})
