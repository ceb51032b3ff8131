import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ConnectionManager } from '../../src/manager/types.js'
import { CircuitStream, MAX_CIRCUIT_UNREAD } from '../../src/node/circuit.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { RelayClient } from '../../src/node/relay-client.js'
import { MAX_RELAY_BACKLOG, RelayHub, RelayLink } from '../../src/node/relay.js'
import { MAX_RELAY_DATA, type RelayMessage } from '../../src/node/relay-wire.js'
import { MAX_DELAY } from '../../src/clock.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// Pure units: what a hostile relay or client can make the relay code do (virtual time, no sockets).

const ID = (c: string): string => c.repeat(64)

function fakeLink (peer: string, sent: RelayMessage[] = []): RelayLink {
  return { conn: { peer, address: `tcp://192.0.2.7:4001#${peer}`, open: true, direction: 'outbound' } as unknown as NodeConnection, circuits: new Map(), closed: false, post: (m: RelayMessage) => { sent.push(m); return true } } as unknown as RelayLink
}

function client (clock: ManualClock): { client: RelayClient; protectedPeers: Set<string>; relayed: string[][] } {
  const protectedPeers = new Set<string>()
  const relayed: string[][] = []
  const manager = { protect: (p: string) => { protectedPeers.add(p) }, unprotect: (p: string) => { protectedPeers.delete(p) } } as unknown as ConnectionManager
  const c = new RelayClient({
    clock,
    manager,
    hub: () => ({}) as unknown as RelayHub,
    live: () => [],
    relayed: (a) => { relayed.push(a) },
    dialOver: async () => await Promise.reject(new Error('no')),
    acceptOver: () => {}
  })
  return { client: c, protectedPeers, relayed }
}

test('a relay client ignores a \'reserved\' it did not ask for: no reservation, no protection, no relayed address', () => {
  const clock = new ManualClock()
  const { client: c, protectedPeers, relayed } = client(clock)
  c.setPrivate(true)
  for (const ch of ['a', 'b', 'c', 'd']) c.reserved(fakeLink(ID(ch)), { ttl: 60_000 })
  assert.equal(c.reservationCount, 0)
  assert.equal(protectedPeers.size, 0)
  assert.deepEqual(relayed.at(-1) ?? [], [])
})

test('a relay client\'s renewal timer stays within MAX_DELAY whatever ttl the relay names (node fires a longer one after 1 ms)', () => {
  const clock = new ManualClock()
  const delays: number[] = []
  const recording = Object.assign(Object.create(clock) as ManualClock, { setTimeout: (fn: () => void, ms: number) => { delays.push(ms); return clock.setTimeout(fn, ms) } })
  const { client: c } = client(recording)
  ;(c as unknown as { asking: Set<string> }).asking.add(ID('a')) // asked, as fill() does
  c.setPrivate(true)
  c.reserved(fakeLink(ID('a')), { ttl: Number.MAX_SAFE_INTEGER })
  assert.equal(c.reservationCount, 1)
  assert.equal(delays.length, 1)
  assert.ok(delays[0]! <= MAX_DELAY, `renewal after ${delays[0]!} ms`)
})

/** A real relay link on a fake connection whose socket never drains (its peer does not read). */
function stalledLink (peer: string): { link: RelayLink; socket: { writableLength: number }; json: RelayMessage[] } {
  const socket = { writableLength: 0 }
  const json: RelayMessage[] = []
  const conn = { peer, open: true, stream: { socket } } as unknown as NodeConnection
  const link = new RelayLink(conn, { close: () => {} } as never)
  link.init({ send: (m: RelayMessage) => { json.push(m); return true } } as never, { send: (m: { data: Uint8Array }) => { socket.writableLength += m.data.byteLength; return false } } as never)
  return { link, socket, json }
}

test('a relay does not buffer without bound towards a circuit end that does not read: circuits reopened one after the other past the data budget are cut once the backlog is over MAX_RELAY_BACKLOG', () => {
  const clock = new ManualClock()
  const hub = new RelayHub(clock, { reserved: () => {}, refused: () => {}, incoming: () => {}, closed: () => {} }, true)
  const h = hub as unknown as { message: (l: RelayLink, m: RelayMessage) => void; data: (l: RelayLink, m: { id: number; data: Uint8Array }) => void }
  const target = stalledLink(ID('a'))
  const dialer = stalledLink(ID('b'))
  h.message(target.link, { t: 'reserve' })
  assert.equal(hub.reservationCount, 1)
  const chunk = new Uint8Array(MAX_RELAY_DATA)
  for (let round = 0, id = 2; round < 40; round++, id += 2) {
    h.message(dialer.link, { t: 'connect', id, peer: ID('a') })
    for (let i = 0; i < 8; i++) h.data(dialer.link, { id, data: chunk })
  }
  assert.ok(target.socket.writableLength <= MAX_RELAY_BACKLOG + MAX_RELAY_DATA, `${target.socket.writableLength} bytes queued towards a peer that does not read`)
  assert.equal(hub.circuitCount, 0)
})

test('a circuit\'s end whose reader paused (a secure stream pauses its socket at its queue budget) holds at most MAX_CIRCUIT_UNREAD bytes: past them it is destroyed, as a relay cannot be told to wait', () => {
  const closes: string[] = []
  const stream = new CircuitStream({ data: () => true, close: (why) => { closes.push(why) } })
  stream.on('error', () => {})
  stream.pause()
  const chunk = new Uint8Array(MAX_RELAY_DATA)
  for (let i = 0; i < 100; i++) stream.received(chunk)
  assert.ok(stream.readableLength <= MAX_CIRCUIT_UNREAD, `${stream.readableLength} bytes held unread`)
  assert.equal(stream.destroyed, true)
  assert.deepEqual(closes, ['error'])
})
