import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { keepIncoming } from '../../src/manager/duplicates.js'
import type { Connection } from '../../src/manager/types.js'
import type { PeerNode } from '../../src/node/index.js'
import { normaliseHintAddress } from '../../src/node/address.js'
import { parseRelayedAddress } from '../../src/node/relay-client.js'
import { decodeRelay } from '../../src/node/relay-wire.js'
import { until } from '../helpers/wait.js'
import { testNode } from '../helpers/nodes.js'

const RELAY_ID = 'ab'.repeat(32)

test('a relayed address names the relay\'s address and id; hints keep it normalised, one relay deep', () => {
  assert.deepEqual(parseRelayedAddress(`tcp://192.0.2.1:4001/relay/${RELAY_ID}`), { relay: 'tcp://192.0.2.1:4001', relayId: RELAY_ID })
  assert.equal(parseRelayedAddress('tcp://192.0.2.1:4001'), undefined)
  assert.equal(normaliseHintAddress(`tcp://[::ffff:192.0.2.1]:4001/relay/${RELAY_ID}`), `tcp://192.0.2.1:4001/relay/${RELAY_ID}`)
  assert.equal(normaliseHintAddress(`tcp://192.0.2.1:4001/relay/${RELAY_ID}/relay/${RELAY_ID}`), undefined)
  assert.equal(normaliseHintAddress(`tcp://0.0.0.0:4001/relay/${RELAY_ID}`), undefined)
  assert.equal(normaliseHintAddress(`tcp://192.0.2.1:4001/relay/${RELAY_ID.toUpperCase()}`), undefined)
})

test('relay messages decode only with their fields checked', () => {
  assert.equal(decodeRelay({ t: 'connect', id: 2, peer: RELAY_ID }).ok, true)
  for (const bad of [{ t: 'connect', id: -2, peer: RELAY_ID }, { t: 'connect', id: 2, peer: 'x' }, { t: 'reserved', ttl: 1, duration: 1 }, { t: 'refused', why: 'x'.repeat(65) }, { t: 'relay-me' }, null, 7]) {
    assert.equal(decodeRelay(bad).ok, false, JSON.stringify(bad))
  }
})

/** A relay, two more peers to dial back, and a private node (it listens on 127.0.0.2 but dials from 127.0.0.1) holding a reservation with the relay. */
async function privateBehindRelay (t: TestContext, relay: NonNullable<Parameters<typeof testNode>[1]>['relay'] = true): Promise<{ relay: PeerNode; hidden: PeerNode }> {
  const r = await testNode(t, { relay })
  const helpers = await Promise.all([0, 1].map(async () => await testNode(t)))
  const hidden = await testNode(t, { listen: ['tcp://127.0.0.2:0'], dialBack: {} })
  for (const n of [r, ...helpers]) await hidden.manager.connectNow(n.addresses[0]!)
  await until(() => hidden.stats().reachability === 'private', 10_000, () => `the node to find itself private (${hidden.stats().reachability})`)
  await until(() => hidden.stats().relaysHeld === 1, 10_000, 'a reservation with the relay')
  return { relay: r, hidden }
}

test('a private node keeps a reservation with a relay and tells its relayed address; a peer reaches it through the relay, Noise end to end, as a node connection', { timeout: 30_000 }, async (t) => {
  const { relay, hidden } = await privateBehindRelay(t)
  assert.deepEqual(hidden.advertised, [`${relay.addresses[0]!}/relay/${relay.id}`])
  assert.equal(relay.stats().relayReservations, 1)
  const dialer = await testNode(t)
  dialer.manager.addPeers([{ id: hidden.id, addresses: hidden.advertised }])
  const conn = await dialer.manager.connectNow(hidden.id)
  assert.equal(conn.peer, hidden.id)
  await until(() => hidden.connections().some((c) => c.peer === dialer.id), 5000, 'the private node to keep the relayed connection')
  assert.equal(relay.stats().relayCircuits, 1)
  assert.equal(hidden.stats().relayedAccepted, 1)
  assert.ok(relay.stats().relayBytes > 0)
  // Application traffic runs over it.
  const got = new Promise<string>((resolve) => {
    hidden.protocol('echo/1', (c) => {
      const ch = c.mux.createChannel({ protocol: 'echo/1' })!
      ch.addMessage<string>({ encoding: stringEncoding(), onmessage: (m) => { resolve(m) } })
      ch.open()
    })
  })
  dialer.protocol('echo/1', (c) => {
    const ch = c.mux.createChannel({ protocol: 'echo/1' })!
    const m = ch.addMessage<string>({ encoding: stringEncoding() })
    ch.open()
    m.send('through the relay')
  })
  assert.equal(await got, 'through the relay')
})

test('the relay cuts a circuit past its byte budget, and refuses circuits to peers without a reservation', { timeout: 30_000 }, async (t) => {
  const { relay, hidden } = await privateBehindRelay(t, { data: 2048 })
  const dialer = await testNode(t)
  dialer.manager.addPeers([{ id: hidden.id, addresses: hidden.advertised }])
  const lost = new Promise<void>((resolve) => { dialer.events.addEventListener('disconnection', (e) => { if (e.detail.peer === hidden.id) resolve() }) })
  for (const n of [hidden, dialer]) {
    n.protocol('bulk/1', (c) => {
      const ch = c.mux.createChannel({ protocol: 'bulk/1' })!
      const m = ch.addMessage<string>({ encoding: stringEncoding() })
      ch.open()
      if (n === dialer) m.send('x'.repeat(4096))
    })
  }
  await dialer.manager.connectNow(hidden.id)
  await lost
  assert.ok(relay.stats().relayCut >= 1, 'cut for the data budget')
  // A peer with no reservation cannot be reached through the relay.
  const other = await testNode(t)
  const nobody = await testNode(t)
  other.manager.addPeers([{ id: nobody.id, addresses: [`${relay.addresses[0]!}/relay/${relay.id}`] }])
  await assert.rejects(other.manager.connectNow(nobody.id))
  await until(() => relay.stats().relayRefused >= 1, 5000, 'the relay to refuse the circuit')
})

function stringEncoding (): unknown {
  return {
    preencode (state: { end: number }, s: string) { state.end += 4 + Buffer.byteLength(s) },
    encode (state: { buffer: Buffer; start: number }, s: string) { state.buffer.writeUInt32LE(Buffer.byteLength(s), state.start); state.start += 4; state.start += state.buffer.write(s, state.start) },
    decode (state: { buffer: Buffer; start: number; end: number }) { const n = state.buffer.readUInt32LE(state.start); state.start += 4; const s = state.buffer.toString('utf8', state.start, state.start + n); state.start += n; return s }
  }
}

test('the duplicate rule keeps a direct connection over a relayed (limited) one, whichever came first and whoever dialled', () => {
  const c = (direction: 'inbound' | 'outbound', limited: boolean): Connection => ({ id: `${direction}${String(limited)}`, peer: 'b', direction, limited, close: () => {} })
  for (const local of ['a', 'c']) {
    for (const [d1, d2] of [['inbound', 'outbound'], ['outbound', 'inbound'], ['outbound', 'outbound'], ['inbound', 'inbound']] as const) {
      assert.equal(keepIncoming(c(d1, true), c(d2, false), local), true, `${local}: relayed ${d1}, direct ${d2} arrives`)
      assert.equal(keepIncoming(c(d1, false), c(d2, true), local), false, `${local}: direct ${d1}, relayed ${d2} arrives`)
    }
  }
})

test('a relay holds at most maxReservations: a second private node is refused and keeps no relayed address', { timeout: 30_000 }, async (t) => {
  const { relay, hidden } = await privateBehindRelay(t, { maxReservations: 1 })
  const helpers = await Promise.all([0, 1].map(async () => await testNode(t)))
  const second = await testNode(t, { listen: ['tcp://127.0.0.2:0'], dialBack: {} })
  for (const n of [relay, ...helpers]) await second.manager.connectNow(n.addresses[0]!)
  await until(() => second.stats().reachability === 'private', 10_000, () => `the second node to find itself private (${second.stats().reachability})`)
  await until(() => relay.stats().relayRefused >= 1, 10_000, 'the relay to refuse the second reservation')
  assert.equal(second.stats().relaysHeld, 0)
  assert.deepEqual(second.advertised, [])
  assert.equal(relay.stats().relayReservations, 1)
  assert.equal(hidden.stats().relaysHeld, 1)
})
