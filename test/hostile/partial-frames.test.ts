import assert from 'node:assert/strict'
import c from 'compact-encoding'
import { test } from 'node:test'
import { CONTROL_PROTOCOL, type NodeConnection } from '../../src/node/connection.js'
import type { PeerNode } from '../../src/node/index.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until, within } from '../helpers/wait.js'

// A peer announces a large frame (its 4-byte length) and then trickles its bytes, or stops: the
// receiver holds a buffer for it (1 MiB at once, then as the bytes arrive). Without a deadline one
// connection holds it for as long as the peer keeps the connection alive; without a budget across
// connections many of them hold maxConnections × 1 MiB or more.

const T = { timeout: 60_000 }
const MiB = 1024 * 1024

/** The victim's connections as its manager accepts them, by peer. */
function accepting (victim: PeerNode): Map<string, NodeConnection> {
  const conns = new Map<string, NodeConnection>()
  victim.events.addEventListener('connection', (e) => { conns.set(e.detail.peer, e.detail.connection as NodeConnection) })
  return conns
}

/** The victim's connection to `a`, once its manager accepted it. */
async function accepted (conns: Map<string, NodeConnection>, a: Attacker): Promise<NodeConnection> {
  a.channel(CONTROL_PROTOCOL)
  await until(() => conns.has(a.id), 5000, 'the victim to accept the attacker')
  return conns.get(a.id)!
}

/** Writes a frame header announcing `length` bytes, then `body` bytes of it, on the attacker's raw socket. */
function announceFrame (a: Attacker, length: number, body: number): void {
  const header = Buffer.alloc(4)
  header.writeUInt32LE(length, 0)
  a.stream.socket.write(Buffer.concat([header, Buffer.alloc(body, 1)]))
}

test('a peer that starts a large frame and never finishes it is closed (\'timeout\') once frameTimeout passed, and its buffer released', T, async (t) => {
  const victim = await testNode(t, { frameTimeout: 300 })
  const accepts = accepting(victim)
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  const conn = await accepted(accepts, a)
  announceFrame(a, 8 * MiB, 1000)
  await until(() => victim.stats().receivingBytes > 0, 5000, 'the victim to hold the partial frame')
  // The keep-alive would close it only after deadTimeout (20 s): the frame's deadline must come first.
  await until(() => !conn.open, 5000, 'the victim to close the trickling connection')
  assert.equal(conn.closeReason, 'timeout')
  assert.equal(victim.stats().frameTimeouts, 1)
  await until(() => victim.stats().receivingBytes === 0, 5000, 'the victim to release the partial frame')
})

test('partial frames across connections stay within maxReceivingBytes: the partial frame without a byte for longest gives way (\'over-budget\'), an honest 8 MiB message still arrives', T, async (t) => {
  const budget = 4 * MiB
  const victim = await testNode(t, { maxReceivingBytes: budget, manager: { highWater: 64 } })
  const accepts = accepting(victim)
  const attackers: Attacker[] = []
  const conns: NodeConnection[] = []
  for (let i = 0; i < 8; i++) {
    const a = await attack(victim.addresses[0]!)
    t.after(() => { a.close() })
    attackers.push(a)
    conns.push(await accepted(accepts, a))
    // 16 bytes of a 16 MiB frame: the victim allocates 1 MiB for it.
    announceFrame(a, 16 * MiB - 1, 16)
    await until(() => victim.stats().receivingBytes > 0 && (victim.stats().receivingBytes >= Math.min(budget, (i + 1) * MiB) || conns.some((x) => !x.open)), 5000, 'the victim to read the announcement')
  }
  await until(() => conns.filter((x) => !x.open).length >= 4, 5000, () => `the victim to close the oldest partial frames (${victim.stats().receivingBytes} bytes held)`)
  assert.ok(victim.stats().receivingBytes <= budget, `${victim.stats().receivingBytes} bytes held for partial frames (budget ${budget})`)
  for (const x of conns.slice(0, 4)) assert.equal(x.closeReason, 'over-budget')
  assert.equal(victim.stats().receiveBudgetCloses, 4)

  // An honest peer's large message, at normal speed, needs a buffer too: the attackers' give way.
  const got = new Promise<number>((resolve) => {
    victim.protocol('bulk/test', (conn) => {
      const ch = conn.mux.createChannel({ protocol: 'bulk/test' })
      ch?.addMessage<Uint8Array>({ encoding: c.raw, onmessage: (b) => { resolve(b.byteLength) } })
      ch?.open()
    })
  })
  const honest = await testNode(t)
  const conn = await honest.manager.connectNow(victim.addresses[0]!) as NodeConnection
  const ch = conn.mux.createChannel({ protocol: 'bulk/test' })!
  const data = ch.addMessage<Uint8Array>({ encoding: c.raw })
  ch.open()
  data.send(Buffer.alloc(8 * MiB, 7))
  assert.equal(await within(got, 20_000, 'the honest 8 MiB message'), 8 * MiB)
  assert.equal(conn.open, true)
})

test('a legitimate 16 MiB-scale message at normal speed passes the default frame deadline and budget', T, async (t) => {
  const victim = await testNode(t)
  const sender = await testNode(t)
  const sizes: number[] = []
  victim.protocol('bulk/test', (conn) => {
    const ch = conn.mux.createChannel({ protocol: 'bulk/test' })
    ch?.addMessage<Uint8Array>({ encoding: c.raw, onmessage: (b) => { sizes.push(b.byteLength) } })
    ch?.open()
  })
  const conn = await sender.manager.connectNow(victim.addresses[0]!) as NodeConnection
  const ch = conn.mux.createChannel({ protocol: 'bulk/test' })!
  const data = ch.addMessage<Uint8Array>({ encoding: c.raw })
  ch.open()
  for (let i = 0; i < 3; i++) data.send(Buffer.alloc(12 * MiB, i))
  await until(() => sizes.length === 3, 20_000, 'the victim to get three 12 MiB messages')
  assert.deepEqual(sizes, [12 * MiB, 12 * MiB, 12 * MiB])
  const stats = victim.stats()
  assert.equal(stats.receiveBudgetCloses, 0)
  assert.equal(stats.frameTimeouts, 0)
})
