import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CircuitStream } from '../../src/node/circuit.js'
import type { NodeConnection } from '../../src/node/connection.js'
import type { ControlMessage } from '../../src/node/control-wire.js'
import { encodeHello } from '../../src/node/hello.js'
import type { SimultaneousOpenOptions } from '../../src/node/hole-punch.js'
import { Punching } from '../../src/node/punch.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// Pure units: what a hostile peer on a relayed connection can make hole punching do (no sockets).

/** A relayed inbound connection from `peer` through a relay that saw us at `observed`:4001. */
function relayedConn (peer: string, observed: string, direction: 'inbound' | 'outbound' = 'inbound', open = true): { conn: NodeConnection; sent: ControlMessage[] } {
  const sent: ControlMessage[] = []
  const relay = { stream: { remotePayload: encodeHello({ listen: [], rendezvous: false, observed, observedPort: 4001 }), socket: { localPort: 50_000 } } } as unknown as NodeConnection
  const socket = new CircuitStream({ data: () => true, close: () => {} }, relay)
  const conn = { peer, limited: true, direction, open, stream: { socket }, post: (m: ControlMessage) => { sent.push(m); return true }, onClose: (fn: (c: unknown) => void) => { if (!open) fn(conn) } } as unknown as NodeConnection
  return { conn, sent }
}

function punching (): { p: Punching; opened: SimultaneousOpenOptions[] } {
  const opened: SimultaneousOpenOptions[] = []
  const p = new Punching({
    clock: new ManualClock(),
    localId: 'a'.repeat(64),
    upgrade: async () => await Promise.reject(new Error('not in this test')),
    direct: () => {},
    open: async (o) => { opened.push(o); return await Promise.reject(new Error('not in this test')) }
  })
  return { p, opened }
}

test('a punch goes only to an address of the scope our relay saw us in: a relayed peer cannot make us dial loopback or our network', () => {
  for (const [address, ok] of [['tcp://127.0.0.1:22', false], ['tcp://10.0.0.8:80', false], ['tcp://192.168.1.1:80', false], ['tcp://[::1]:22', false], ['tcp://169.254.169.254:80', false], ['tcp://198.51.100.9:4001', true]] as const) {
    const { p, opened } = punching()
    const { conn, sent } = relayedConn('b'.repeat(64), '203.0.113.5')
    p.message(conn, { t: 'punch', address })
    p.message(conn, { t: 'punch-sync' })
    assert.equal(opened.length, ok ? 1 : 0, `${address}: dialled ${opened.length} times`)
    assert.equal(sent.length, ok ? 1 : 0, `${address}: answered`)
  }
  // On one machine (the relay saw us on loopback) a loopback punch is what it should be.
  const { p, opened } = punching()
  const { conn } = relayedConn('b'.repeat(64), '127.0.0.1')
  p.message(conn, { t: 'punch', address: 'tcp://127.0.0.1:4002' })
  p.message(conn, { t: 'punch-sync' })
  assert.deepEqual(opened.map((o) => o.remote), [{ host: '127.0.0.1', port: 4002 }])
})

test('closing calls off a punch in flight: its dials stop (no socket opened after the node closed)', () => {
  const { p, opened } = punching()
  const { conn } = relayedConn('b'.repeat(64), '198.51.100.1')
  p.message(conn, { t: 'punch', address: 'tcp://198.51.100.9:4001' })
  p.message(conn, { t: 'punch-sync' })
  assert.equal(opened.length, 1)
  assert.equal(opened[0]!.signal?.aborted, false)
  p.close()
  assert.equal(opened[0]!.signal?.aborted, true)
})

test('a relayed connection closed before punching hears of it (an application closed it as it was accepted) starts nothing and throws nothing', () => {
  const { p, opened } = punching()
  const out = relayedConn('b'.repeat(64), '198.51.100.1', 'outbound', false)
  p.connected(out.conn)
  const inb = relayedConn('c'.repeat(64), '198.51.100.1', 'inbound', false)
  p.message(inb.conn, { t: 'punch', address: 'tcp://198.51.100.9:4001' })
  p.message(inb.conn, { t: 'punch-sync' })
  assert.deepEqual([out.sent, inb.sent, opened], [[], [], []])
  assert.equal(p.started, 0)
})
