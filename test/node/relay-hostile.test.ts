import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ConnectionManager } from '../../src/manager/types.js'
import { CircuitStream, MAX_CIRCUIT_UNREAD } from '../../src/node/circuit.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { RelayClient } from '../../src/node/relay-client.js'
import { circuitIdParity, MAX_RELAY_BACKLOG, RelayHub, RelayLink } from '../../src/node/relay.js'
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
/** The relay's own id in these tests: higher than the peers' (they choose the even circuit ids). */
const LOCAL = ID('f')

function stalledLink (peer: string, socketKind: object = {}): { link: RelayLink; socket: { writableLength: number }; json: RelayMessage[]; errors: string[] } {
  const socket = socketKind as { writableLength: number }
  Object.defineProperty(socket, 'writableLength', { value: 0, writable: true })
  const json: RelayMessage[] = []
  const errors: string[] = []
  const conn = { peer, open: true, stream: { socket }, protocolError: (why: string) => { errors.push(why) } } as unknown as NodeConnection
  const link = new RelayLink(conn, { close: () => {} } as never, LOCAL)
  link.init({ send: (m: RelayMessage) => { json.push(m); return true } } as never, { send: (m: { data: Uint8Array }) => { socket.writableLength += m.data.byteLength; return false } } as never)
  return { link, socket, json, errors }
}

test('a relay does not buffer without bound towards a circuit end that does not read: circuits reopened one after the other past the data budget are cut once the backlog is over MAX_RELAY_BACKLOG', () => {
  const clock = new ManualClock()
  const hub = new RelayHub(clock, { reserved: () => {}, refused: () => {}, incoming: () => {}, closed: () => {} }, true, LOCAL)
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

type HubInside = { message: (l: RelayLink, m: RelayMessage) => void; data: (l: RelayLink, m: { id: number; data: Uint8Array }) => void }
const noClient = { reserved: () => {}, refused: () => {}, incoming: () => {}, closed: () => {} }

test('two nodes that relay for each other choose circuit ids that never clash: each end its own parity, whatever its role (regression: ids split by role collided)', () => {
  const clock = new ManualClock()
  // Node f and node a are both relays; on their link each dials through the other and each tells the other of an incoming circuit.
  const incoming: number[] = []
  const hubF = new RelayHub(clock, { ...noClient, incoming: (_l: RelayLink, id: number) => { incoming.push(id) } }, true, LOCAL)
  const toA = stalledLink(ID('a'))
  const target = stalledLink(ID('b'))
  const h = hubF as unknown as HubInside
  h.message(target.link, { t: 'reserve' })
  // f, as a client, opens a circuit through a: its id is f's.
  const mine = toA.link.newId()
  toA.link.circuits.set(mine, { kind: 'local', stream: new CircuitStream({ data: () => true, close: () => {} }) })
  // a, as a client, opens a circuit through f to b: its id is a's, never f's.
  const theirs = 2
  h.message(toA.link, { t: 'connect', id: theirs, peer: ID('b') })
  assert.notEqual(mine, theirs)
  assert.deepEqual(toA.errors, [])
  assert.equal(hubF.circuitCount, 1)
  // a, as a relay, tells f of an incoming circuit with a's next id: taken too.
  h.message(toA.link, { t: 'incoming', id: 4, peer: ID('c') })
  assert.deepEqual(incoming, [4])
  assert.deepEqual(toA.errors, [])
  // An id of f's parity from a (as 'connect' or 'incoming') is a protocol error: a cannot choose it.
  h.message(toA.link, { t: 'connect', id: mine + 2, peer: ID('b') })
  h.message(toA.link, { t: 'incoming', id: mine + 4, peer: ID('c') })
  assert.equal(toA.errors.length, 2)
  // The split is the same seen from both ends.
  assert.equal(circuitIdParity(ID('a'), LOCAL), 0)
  assert.equal(circuitIdParity(LOCAL, ID('a')), 1)
  assert.equal(mine % 2, 1)
})

test('the relay cuts a circuit once its duration is over (virtual time): both ends hear \'close\' with the reason, and the budgets are freed', async () => {
  const clock = new ManualClock()
  const hub = new RelayHub(clock, noClient, { duration: 60_000 }, LOCAL)
  const h = hub as unknown as HubInside
  const target = stalledLink(ID('a'))
  const dialer = stalledLink(ID('b'))
  h.message(target.link, { t: 'reserve' })
  h.message(dialer.link, { t: 'connect', id: 2, peer: ID('a') })
  assert.equal(hub.circuitCount, 1)
  h.data(dialer.link, { id: 2, data: new Uint8Array(100) })
  await clock.advance(59_999)
  assert.equal(hub.circuitCount, 1)
  await clock.advance(1)
  assert.equal(hub.circuitCount, 0)
  assert.equal(hub.cut, 1)
  assert.deepEqual(dialer.json.filter((m) => m.t === 'close'), [{ t: 'close', id: 2, why: 'duration limit' }])
  assert.deepEqual(target.json.filter((m) => m.t === 'close').map((m) => m.t === 'close' ? m.why : ''), ['duration limit'])
  assert.equal(dialer.link.circuits.size + target.link.circuits.size, 0)
})

test('the relay cuts a circuit past its byte budget in either direction (virtual time, no sockets)', () => {
  for (const from of ['dialer', 'target'] as const) {
    const hub = new RelayHub(new ManualClock(), noClient, { data: 1000 }, LOCAL)
    const h = hub as unknown as HubInside
    const target = stalledLink(ID('a'))
    const dialer = stalledLink(ID('b'))
    h.message(target.link, { t: 'reserve' })
    h.message(dialer.link, { t: 'connect', id: 2, peer: ID('a') })
    const [tid] = [...target.link.circuits.keys()]
    const [link, id] = from === 'dialer' ? [dialer.link, 2] : [target.link, tid!]
    h.data(link, { id, data: new Uint8Array(600) })
    assert.equal(hub.circuitCount, 1, from)
    h.data(link, { id, data: new Uint8Array(600) })
    assert.equal(hub.circuitCount, 0, from)
    assert.equal(hub.cut, 1)
    assert.equal(hub.bytes, 600, 'the bytes past the budget are not forwarded')
    assert.deepEqual(dialer.json.filter((m) => m.t === 'close').map((m) => m.t === 'close' ? m.why : ''), from === 'dialer' ? ['data limit'] : ['data limit'])
  }
})

test('a relay refuses reservations and circuits asked for over a relayed connection: no relaying over a relay', () => {
  const hub = new RelayHub(new ManualClock(), noClient, true, LOCAL)
  const h = hub as unknown as HubInside
  const target = stalledLink(ID('a'))
  h.message(target.link, { t: 'reserve' })
  // A connection whose socket is a circuit: it runs over another relay.
  const relayed = stalledLink(ID('b'), Object.create(CircuitStream.prototype) as object)
  h.message(relayed.link, { t: 'reserve' })
  assert.deepEqual(relayed.json, [{ t: 'refused', why: 'over a relayed connection' }])
  h.message(relayed.link, { t: 'connect', id: 2, peer: ID('a') })
  assert.deepEqual(relayed.json.at(-1), { t: 'close', id: 2, why: 'over a relayed connection' })
  assert.equal(hub.reservationCount, 1)
  assert.equal(hub.circuitCount, 0)
  assert.equal(hub.refused, 2)
})
