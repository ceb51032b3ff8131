import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CircuitStream } from '../../src/node/circuit.js'
import type { NodeConnection } from '../../src/node/connection.js'
import type { ControlMessage } from '../../src/node/control-wire.js'
import { DialBack } from '../../src/node/dial-back.js'
import { encodeHello } from '../../src/node/hello.js'
import type { SimultaneousOpenOptions } from '../../src/node/hole-punch.js'
import { Punching } from '../../src/node/punch.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// Floods, replays and lies on the dial-back and hole-punch messages (virtual time, no sockets).

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

test('a flood of dialback requests from one peer gets one dial-back, and a \'refused\' for each other; nothing throws', async () => {
  const clock = new ManualClock()
  const probes: string[] = []
  const d = new DialBack({ clock, ports: () => [4001], probe: async (address) => { probes.push(address) }, remoteIp: () => '198.51.100.7', changed: () => {} })
  const sent: ControlMessage[] = []
  const conn = { peer: A, post: (m: ControlMessage) => { sent.push(m); return true } } as unknown as NodeConnection
  for (let i = 0; i < 1000; i++) d.message(conn, { t: 'dialback', id: i, port: 1 + (i % 65535) })
  await clock.advance(0)
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  assert.deepEqual(probes, ['tcp://198.51.100.7:1'])
  assert.equal(d.refused, 999)
  assert.equal(d.served, 1)
})

test('replayed and made-up dialback results count for nothing: an answer counts once, for the request it answers, from the peer asked', () => {
  const clock = new ManualClock()
  const verdicts: string[] = []
  const ips = new Map([[A, '198.51.100.7'], [B, '203.0.113.9']])
  const d = new DialBack({ clock, ports: () => [4001], probe: async () => {}, remoteIp: (c) => ips.get(c.peer), changed: (r) => { verdicts.push(r) } })
  const sent: ControlMessage[] = []
  const conn = (peer: string): NodeConnection => ({ peer, post: (m: ControlMessage) => { sent.push(m); return true } }) as unknown as NodeConnection
  d.connected(conn(A))
  const request = sent.find((m) => m.t === 'dialback')
  assert.ok(request !== undefined && request.t === 'dialback')
  // B answers A's request, then A answers twice, then ids never asked.
  d.message(conn(B), { t: 'dialback-result', id: request.id, result: 'failed' })
  d.message(conn(A), { t: 'dialback-result', id: request.id, result: 'failed' })
  d.message(conn(A), { t: 'dialback-result', id: request.id, result: 'failed' })
  for (let id = 1000; id < 1100; id++) d.message(conn(A), { t: 'dialback-result', id, result: 'failed' })
  assert.equal(d.answers.failed, 1)
  assert.equal(d.unsolicited, 102)
  assert.deepEqual(verdicts, [])
})

/** A relayed inbound connection from `peer` through a relay that saw us at 203.0.113.5:4001 (and the peer at `seenAt`, when it said). */
function relayed (peer: string, seenAt?: string): { conn: NodeConnection; sent: ControlMessage[] } {
  const sent: ControlMessage[] = []
  const relay = { stream: { remotePayload: encodeHello({ listen: [], rendezvous: false, observed: '203.0.113.5', observedPort: 4001 }), socket: { localPort: 50_000 } } } as unknown as NodeConnection
  const socket = new CircuitStream({ data: () => true, close: () => {} }, relay)
  socket.relayObserved = seenAt
  const conn = { peer, limited: true, direction: 'inbound', open: true, stream: { socket }, post: (m: ControlMessage) => { sent.push(m); return true }, onClose: () => {} } as unknown as NodeConnection
  return { conn, sent }
}

test('a flood of punch and punch-sync messages on one relayed connection makes one punch (one answer, one dial); on a direct connection, none', () => {
  const opened: SimultaneousOpenOptions[] = []
  const p = new Punching({ clock: new ManualClock(), localId: A, upgrade: async () => await Promise.reject(new Error('no')), direct: () => {}, open: async (o) => { opened.push(o); return await Promise.reject(new Error('no')) } })
  const { conn, sent } = relayed(B)
  for (let i = 0; i < 100; i++) {
    p.message(conn, { t: 'punch', address: `tcp://198.51.100.${i}:4001` })
    p.message(conn, { t: 'punch-sync' })
  }
  assert.equal(sent.length, 1)
  assert.equal(opened.length, 1)
  assert.deepEqual(opened[0]!.remote, { host: '198.51.100.0', port: 4001 })
  const direct = { ...relayed(A).conn, limited: false } as unknown as NodeConnection
  p.message(direct, { t: 'punch', address: 'tcp://198.51.100.1:4001' })
  p.message(direct, { t: 'punch-sync' })
  assert.equal(opened.length, 1)
  p.close()
})

test('peers that send \'punch\' and never \'punch-sync\' cannot hold every punch place: the oldest waiting exchange gives way to a new one', () => {
  const opened: SimultaneousOpenOptions[] = []
  const p = new Punching({ clock: new ManualClock(), localId: A, upgrade: async () => await Promise.reject(new Error('no')), direct: () => {}, open: async (o) => { opened.push(o); return await Promise.reject(new Error('no')) } })
  for (let i = 0; i < 8; i++) p.message(relayed(i.toString(16).padStart(64, '1')).conn, { t: 'punch', address: `tcp://192.0.2.${i}:4001` })
  const honest = relayed(B)
  p.message(honest.conn, { t: 'punch', address: 'tcp://198.51.100.99:4001' })
  assert.equal(honest.sent.length, 1, 'the honest peer is answered')
  p.message(honest.conn, { t: 'punch-sync' })
  assert.deepEqual(opened.map((o) => o.remote), [{ host: '198.51.100.99', port: 4001 }])
  assert.equal(p.gaveWay, 1)
  p.close()
})

/** A Punching whose dials are recorded (and fail). */
function punching (clock = new ManualClock()): { p: Punching; opened: SimultaneousOpenOptions[] } {
  const opened: SimultaneousOpenOptions[] = []
  const p = new Punching({ clock, localId: A, upgrade: async () => await Promise.reject(new Error('no')), direct: () => {}, open: async (o) => { opened.push(o); return await Promise.reject(new Error('no')) } })
  return { p, opened }
}

test('a relayed dialer cannot make us punch toward a third party: its punch address must be where the relay saw it', () => {
  const { p, opened } = punching()
  const liar = relayed(B, '198.51.100.7')
  p.message(liar.conn, { t: 'punch', address: 'tcp://192.0.2.80:443' })
  p.message(liar.conn, { t: 'punch-sync' })
  assert.equal(liar.sent.length, 0, 'no answer to a punch toward a third party')
  assert.equal(opened.length, 0)
  assert.equal(p.implausible, 1)
  const honest = relayed('c'.repeat(64), '::ffff:198.51.100.9')
  p.message(honest.conn, { t: 'punch', address: 'tcp://198.51.100.9:4001' })
  p.message(honest.conn, { t: 'punch-sync' })
  assert.deepEqual(opened.map((o) => o.remote), [{ host: '198.51.100.9', port: 4001 }])
  p.close()
})

test('punches toward one address range are budgeted across relayed connections (8 a minute), through relays that do not say where the dialer is', async () => {
  const clock = new ManualClock()
  const { p, opened } = punching(clock)
  for (let i = 0; i < 40; i++) {
    const { conn } = relayed(i.toString(16).padStart(64, '2'))
    p.message(conn, { t: 'punch', address: `tcp://192.0.2.${i}:443` })
    p.message(conn, { t: 'punch-sync' })
  }
  assert.equal(opened.length, 8)
  assert.equal(p.overTargetBudget, 32)
  await new Promise<void>((resolve) => { setImmediate(resolve) }) // the failed dials free their places
  // Another range is not held back, and the range has its punches again a minute later.
  const other = relayed('d'.repeat(64))
  p.message(other.conn, { t: 'punch', address: 'tcp://198.51.100.1:4001' })
  p.message(other.conn, { t: 'punch-sync' })
  assert.equal(opened.length, 9)
  await clock.advance(60_000)
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  const later = relayed('e'.repeat(64))
  p.message(later.conn, { t: 'punch', address: 'tcp://192.0.2.200:443' })
  p.message(later.conn, { t: 'punch-sync' })
  assert.equal(opened.length, 10)
  p.close()
})

/** A DialBack client whose peers are at the IPs given; its verdicts in order. */
function dialBackClient (): { d: DialBack; clock: ManualClock; verdicts: string[]; conn: (peer: string, ip: string) => { conn: NodeConnection; sent: ControlMessage[] } } {
  const clock = new ManualClock()
  const verdicts: string[] = []
  const ips = new Map<string, string>()
  const d = new DialBack({ clock, ports: () => [4001], probe: async () => {}, remoteIp: (c) => ips.get(c.peer), changed: (r) => { verdicts.push(r) } })
  const conn = (peer: string, ip: string): { conn: NodeConnection; sent: ControlMessage[] } => {
    ips.set(peer, ip)
    const sent: ControlMessage[] = []
    return { conn: { peer, post: (m: ControlMessage) => { sent.push(m); return true } } as unknown as NodeConnection, sent }
  }
  return { d, clock, verdicts, conn }
}

/** Three peers from three /24s answer 'failed' without trying: the client finds itself private. */
function threeLiars (c: ReturnType<typeof dialBackClient>): void {
  for (let i = 1; i <= 3; i++) {
    const liar = c.conn(String(i).repeat(64), `5.${i}.1.7`)
    c.d.connected(liar.conn)
    const request = liar.sent.find((m) => m.t === 'dialback') as { id: number } | undefined
    assert.ok(request !== undefined, `liar ${i} was asked`)
    c.d.message(liar.conn, { t: 'dialback-result', id: request.id, result: 'failed' })
  }
  assert.deepEqual(c.verdicts, ['private'])
}

test('three peers from three /24s lying \'failed\' cannot keep a reachable node private: the next observer is asked, and its proven success outweighs them', () => {
  const c = dialBackClient()
  threeLiars(c)
  const honest = c.conn('4'.repeat(64), '6.1.1.7')
  c.d.connected(honest.conn)
  const request = honest.sent.find((m) => m.t === 'dialback') as { id: number; nonce: string } | undefined
  assert.ok(request !== undefined, 'a private verdict held by failures alone still asks new observers')
  c.d.probed(honest.conn.peer, request.nonce)
  c.d.message(honest.conn, { t: 'dialback-result', id: request.id, result: 'ok' })
  assert.deepEqual(c.verdicts, ['private', 'unknown'])
  // A claimed success without its probe proves nothing: it cannot undo a verdict.
  const claimer = dialBackClient()
  threeLiars(claimer)
  const liar = claimer.conn('5'.repeat(64), '7.1.1.7')
  claimer.d.connected(liar.conn)
  const r = liar.sent.find((m) => m.t === 'dialback') as { id: number }
  claimer.d.message(liar.conn, { t: 'dialback-result', id: r.id, result: 'ok' })
  assert.deepEqual(claimer.verdicts, ['private'])
})

test('failures alone hold a private verdict for 2 minutes, not the 10 a success holds', async () => {
  const c = dialBackClient()
  threeLiars(c)
  await c.clock.advance(2 * 60_000 + 1)
  c.d.connected(c.conn('6'.repeat(64), '8.1.1.7').conn)
  assert.deepEqual(c.verdicts, ['private', 'unknown'])
})

test('a relayed peer answering our punch with our own mapping does not make us dial ourselves', () => {
  const { p, opened } = punching()
  // We dialled through the relay (outbound): the relay says nothing of where the other side is.
  const { conn, sent } = relayed(B)
  const outbound = { ...conn, direction: 'outbound' } as unknown as NodeConnection
  p.connected(outbound)
  assert.equal(sent.length, 1, 'our punch went out')
  p.message(outbound, { t: 'punch', address: 'tcp://203.0.113.5:4001' })
  assert.equal(sent.length, 1, 'no punch-sync')
  assert.equal(opened.length, 0)
  assert.equal(p.implausible, 1)
  p.close()
})
