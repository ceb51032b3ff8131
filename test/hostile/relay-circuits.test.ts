import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ConnectionManager } from '../../src/manager/types.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { RelayClient } from '../../src/node/relay-client.js'
import { RelayHub, RelayLink } from '../../src/node/relay.js'
import type { RelayMessage } from '../../src/node/relay-wire.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// A hostile relay client, or many identities of one host, against the relay service (relay/2), and
// a hostile relay against its client: virtual time, no sockets.

/** A peer id from a number (64 hex digits; the relay's own is the highest). */
const ID = (n: number): string => n.toString(16).padStart(64, '0')
const LOCAL = 'f'.repeat(64)

type HubInside = { message: (l: RelayLink, m: RelayMessage) => void }
const noClient = { reserved: () => {}, refused: () => {}, incoming: () => {}, closed: () => {} }

/** A relay link on a fake connection from `ip`, recording what the relay sends on it. */
function peerLink (peer: string, ip: string): { link: RelayLink; json: RelayMessage[]; errors: string[] } {
  const json: RelayMessage[] = []
  const errors: string[] = []
  const conn = { peer, address: `tcp://${ip}:4001`, open: true, stream: { socket: { writableLength: 0 } }, protocolError: (why: string) => { errors.push(why) } } as unknown as NodeConnection
  const link = new RelayLink(conn, { close: () => {} } as never, LOCAL)
  link.init({ send: (m: RelayMessage) => { json.push(m); return true } } as never, { send: () => true } as never)
  return { link, json, errors }
}

test('a relay client cannot open a circuit to itself through the relay (it would count twice against its budget and loop its own bytes)', () => {
  const hub = new RelayHub(new ManualClock(), noClient, true, LOCAL)
  const h = hub as unknown as HubInside
  const a = peerLink(ID(1), '198.51.100.1')
  h.message(a.link, { t: 'reserve' })
  h.message(a.link, { t: 'connect', id: 2, peer: ID(1) })
  assert.equal(hub.circuitCount, 0)
  assert.deepEqual(a.json.at(-1), { t: 'close', id: 2, why: 'to itself' })
  assert.equal(a.json.filter((m) => m.t === 'incoming').length, 0)
})

test('40 identities of one host (one /24) take 4 reservations at most: an honest private node from another range still gets one', () => {
  const hub = new RelayHub(new ManualClock(), noClient, true, LOCAL)
  const h = hub as unknown as HubInside
  for (let i = 0; i < 40; i++) h.message(peerLink(ID(100 + i), `45.67.89.${i + 1}`).link, { t: 'reserve' })
  assert.equal(hub.reservationCount, 4)
  const honest = peerLink(ID(1), '198.51.100.1')
  h.message(honest.link, { t: 'reserve' })
  assert.equal(honest.json[0]?.t, 'reserved')
  // Loopback and private peers are not limited by range (one machine, one LAN).
  for (let i = 0; i < 8; i++) h.message(peerLink(ID(300 + i), `10.0.0.${i + 1}`).link, { t: 'reserve' })
  assert.equal(hub.reservationCount, 13)
})

test('identities of one host share one circuit budget: they cannot take every circuit of the relay', () => {
  const hub = new RelayHub(new ManualClock(), noClient, { maxCircuits: 64, maxCircuitsPerPeer: 16 }, LOCAL)
  const h = hub as unknown as HubInside
  const targets = [1, 2, 3, 4].map((n) => peerLink(ID(n), `198.51.${n}.1`))
  for (const t of targets) h.message(t.link, { t: 'reserve' })
  // 16 dialer identities from one /24, 4 circuits each to 4 honest targets: 64 asked.
  for (let i = 0; i < 16; i++) {
    const d = peerLink(ID(200 + i), `45.67.89.${i + 1}`)
    targets.forEach((t, k) => { h.message(d.link, { t: 'connect', id: 2 * (k + 1), peer: t.link.conn.peer }) })
  }
  assert.equal(hub.circuitCount, 16)
  // An honest dialer from elsewhere still gets circuits.
  const honest = peerLink(ID(500), '203.0.113.9')
  h.message(honest.link, { t: 'connect', id: 2, peer: ID(1) })
  assert.equal(hub.circuitCount, 17)
})

test('circuit ids: one of the relay\'s parity, or one in use, is a protocol error; a huge one is just an id', () => {
  const hub = new RelayHub(new ManualClock(), noClient, true, LOCAL)
  const h = hub as unknown as HubInside
  const target = peerLink(ID(1), '198.51.100.1')
  h.message(target.link, { t: 'reserve' })
  const d = peerLink(ID(2), '203.0.113.1')
  h.message(d.link, { t: 'connect', id: 3, peer: ID(1) })
  assert.deepEqual(d.errors, ['relay: circuit id'])
  const e = peerLink(ID(3), '203.0.114.1')
  h.message(e.link, { t: 'connect', id: Number.MAX_SAFE_INTEGER - 1, peer: ID(1) })
  h.message(e.link, { t: 'connect', id: Number.MAX_SAFE_INTEGER - 1, peer: ID(1) })
  assert.deepEqual(e.errors, ['relay: circuit id'])
  assert.equal(hub.circuitCount, 1)
})

test('a circuit to a peer whose reservation ended with its connection (a peer the relay banned) is refused', () => {
  const hub = new RelayHub(new ManualClock(), noClient, true, LOCAL)
  const h = hub as unknown as HubInside
  const target = peerLink(ID(1), '198.51.100.1')
  h.message(target.link, { t: 'reserve' })
  target.link.closed = true // the relay's manager banned it: its connection closed
  const d = peerLink(ID(2), '203.0.113.1')
  h.message(d.link, { t: 'connect', id: 2, peer: ID(1) })
  assert.deepEqual(d.json.at(-1), { t: 'close', id: 2, why: 'no reservation' })
  assert.equal(hub.circuitCount, 0)
})

test('a relay telling us of an incoming circuit from a peer we banned gets it refused before any handshake', () => {
  const accepted: string[] = []
  const manager = {
    protect: () => {},
    unprotect: () => {},
    getPeer: (p: string) => (p === ID(66) ? { priority: 'banned' } : undefined)
  } as unknown as ConnectionManager
  const client = new RelayClient({ clock: new ManualClock(), manager, hub: () => ({}) as unknown as RelayHub, live: () => [], relayed: () => {}, dialOver: async () => await Promise.reject(new Error('no')), acceptOver: (_s, address) => { accepted.push(address) } })
  const relay = peerLink(ID(9), '198.51.100.9')
  ;(client as unknown as { asking: Set<string> }).asking.add(ID(9))
  client.setPrivate(true)
  client.reserved(relay.link, { ttl: 60_000 })
  client.incoming(relay.link, 1, ID(66))
  assert.deepEqual(relay.json.at(-1), { t: 'close', id: 1, why: 'banned' })
  assert.equal(accepted.length, 0)
  client.incoming(relay.link, 3, ID(5))
  assert.equal(accepted.length, 1)
  client.close()
})

test('a relay that opens circuits and never completes their handshakes takes at most its share of the incoming circuits: another relay\'s circuit still comes in', () => {
  const accepted: string[] = []
  const manager = { protect: () => {}, unprotect: () => {}, getPeer: () => undefined } as unknown as ConnectionManager
  const client = new RelayClient({ clock: new ManualClock(), manager, hub: () => ({}) as unknown as RelayHub, live: () => [], relayed: () => {}, dialOver: async () => await Promise.reject(new Error('no')), acceptOver: (_s, address) => { accepted.push(address) } })
  const hostile = peerLink(ID(9), '198.51.100.9')
  const honest = peerLink(ID(10), '203.0.113.10')
  const inside = client as unknown as { asking: Set<string> }
  client.setPrivate(true)
  for (const r of [hostile, honest]) {
    inside.asking.add(r.link.conn.peer)
    client.reserved(r.link, { ttl: 60_000 })
  }
  // Half-open circuits: their handshakes never complete (each waits for the handshake timeout).
  for (let i = 0; i < 40; i++) client.incoming(hostile.link, 2 * i + 1, ID(100 + i))
  const held = accepted.length
  assert.ok(held <= 8, `${held} circuits of one relay coming in at once`)
  assert.equal(hostile.json.filter((m) => m.t === 'close').length, 40 - held, 'the rest refused')
  client.incoming(honest.link, 1, ID(5))
  assert.equal(accepted.length, held + 1, 'the honest relay\'s circuit comes in')
  client.close()
})
