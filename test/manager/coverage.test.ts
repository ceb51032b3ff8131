import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import type { Connection, PeerStore, StoredPeer } from '../../src/index.js'
import { ManualClock, MemoryNetwork, testConnection } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'
import { collect } from '../helpers/events.js'
import { manager } from '../helpers/manager.js'

// resetBackoff, accepts, store:error and connection:replaced, in virtual time.

/** random = 0.5 makes the jitter factor exactly 1: an unproven peer's first backoff is 5_000 ms. */
const HALF = (): number => 0.5
const FIRST_BACKOFF = 5_000

/** A manager on a MemoryNetwork node 'me', with the given peers as refusing MemoryNetwork nodes. */
function refusingWorld (ids: string[]) {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, random: HALF, lowWater: 5, highWater: 10 })
  me.bind(m)
  const nodes = Object.fromEntries(ids.map((id) => {
    const n = net.addNode(id)
    n.behaviour = 'refuse'
    return [id, n]
  }))
  const started = collect<{ peer?: string; address: string }>(m.events, 'dial:started')
  return { clock, m, nodes, dialled: (): Array<string | undefined> => started.map((d) => d.peer), started }
}

// ── resetBackoff ─────────────────────────────────────────────────────────

test('resetBackoff(peer): a peer resting after a failed dial is dialled at once, the others keep resting until their time', async () => {
  const { clock, m, nodes, dialled, started } = refusingWorld(['r', 's'])
  m.addPeers([{ id: 'r', address: 'mem://r' }, { id: 's', address: 'mem://s' }])
  m.start()
  await clock.advance(0)
  assert.deepEqual(dialled().sort(), ['r', 's'], 'both dialled once at start')
  for (const id of ['r', 's']) {
    const p = m.getPeer(id)
    assert.equal(p?.failures, 1, `${id} failed once`)
    assert.equal(p?.nextDialAt, FIRST_BACKOFF, `${id} rests ${FIRST_BACKOFF} ms`)
    assert.equal(p?.connected, false)
  }
  nodes.r.behaviour = nodes.s.behaviour = 'accept'
  started.length = 0

  // Inside the backoff the dialer leaves both alone, although they would now accept.
  await clock.advance(FIRST_BACKOFF - 1_000)
  assert.deepEqual(dialled(), [], 'nobody is redialled inside the backoff')
  assert.equal(m.stats().connections, 0)

  m.resetBackoff('r')
  assert.equal(m.getPeer('r')?.nextDialAt, undefined, 'r\'s backoff is gone')
  assert.equal(m.getPeer('s')?.nextDialAt, FIRST_BACKOFF, 's\'s backoff is untouched')
  assert.ok(m.explain('r').some((d) => d.action === 'backoff' && /reset by the application/.test(d.reason)), 'the reset is explained')
  // No time passes: the dial must come from resetBackoff itself, not from the dialer's backoff timer.
  await clock.advance(0)
  assert.deepEqual(dialled(), ['r'], 'r is dialled at once, s is not')
  assert.equal(m.getPeer('r')?.connected, true)
  assert.equal(m.getPeer('r')?.failures, 0, 'the successful dial clears the failures')
  assert.equal(m.getPeer('s')?.connected, false, 's still rests')

  // s comes back on its own schedule, not before.
  await clock.advance(FIRST_BACKOFF - 1 - clock.now())
  assert.deepEqual(dialled(), ['r'], 's is not dialled a millisecond early')
  await clock.advance(1)
  assert.deepEqual(dialled(), ['r', 's'], 's is dialled when its backoff ends')
  assert.equal(m.stats().connections, 2)

  m.resetBackoff('nobody-knows-me') // an unknown peer: nothing to reset, nothing thrown
  assert.throws(() => { m.resetBackoff('') }, hasCode('ERR_INVALID_ARGUMENT'))
  await m.close()
  assert.throws(() => { m.resetBackoff('r') }, hasCode('ERR_CLOSED'))
})

test('resetBackoff() with no peer resets the bootstrap peers only: they are dialled at once, a regular peer keeps resting', async () => {
  const { clock, m, nodes, dialled, started } = refusingWorld(['s', 'boot1', 'boot2'])
  m.addPeers([
    { id: 's', address: 'mem://s' },
    { id: 'boot1', address: 'mem://boot1', bootstrap: true },
    { id: 'boot2', address: 'mem://boot2', bootstrap: true }
  ])
  m.start()
  await clock.advance(0)
  // s first; the bootstrap peers (a last resort) once s has failed.
  assert.deepEqual(dialled().sort(), ['boot1', 'boot2', 's'])
  const resting = Object.fromEntries(['s', 'boot1', 'boot2'].map((id) => [id, m.getPeer(id)?.nextDialAt]))
  for (const [id, at] of Object.entries(resting)) assert.ok(at !== undefined && at > clock.now(), `${id} is in backoff`)
  nodes.s.behaviour = nodes.boot1.behaviour = nodes.boot2.behaviour = 'accept'
  started.length = 0
  await clock.advance(1_000)
  assert.deepEqual(dialled(), [], 'inside the backoff nobody is redialled')

  m.resetBackoff()
  assert.equal(m.getPeer('boot1')?.nextDialAt, undefined)
  assert.equal(m.getPeer('boot2')?.nextDialAt, undefined)
  assert.equal(m.getPeer('s')?.nextDialAt, resting.s, 'the regular peer\'s backoff is untouched')
  await clock.advance(0)
  assert.deepEqual(dialled().sort(), ['boot1', 'boot2'], 'both bootstrap peers are dialled at once, s is not')
  assert.equal(m.getPeer('boot1')?.connected, true)
  assert.equal(m.getPeer('boot2')?.connected, true)
  assert.equal(m.getPeer('s')?.connected, false)
  assert.equal(m.stats().connections, 2)
  await m.close()
})

// ── accepts ──────────────────────────────────────────────────────────────

test('accepts(address): false for an IP in a denied range (any address form), true outside it, false for everyone once closed', async () => {
  const { m } = manager({ deny: ['10.0.0.0/8', '2001:db8::/32', 'peer-x'] })
  assert.equal(m.accepts('tcp://10.1.2.3:4001'), false)
  assert.equal(m.accepts('tcp://10.255.255.255:1'), false, 'the top of the range')
  assert.equal(m.accepts('/ip4/10.9.9.9/tcp/1'), false, 'a multiaddr')
  assert.equal(m.accepts('10.0.0.1'), false, 'a bare IP')
  assert.equal(m.accepts('tcp://[::ffff:10.0.0.7]:4001'), false, 'an IPv4-mapped IPv6 address')
  assert.equal(m.accepts('tcp://[2001:db8::1]:4001'), false, 'an IPv6 range')
  assert.equal(m.accepts('tcp://11.0.0.1:4001'), true, 'just outside the range')
  assert.equal(m.accepts('tcp://9.255.255.255:4001'), true, 'just below the range')
  assert.equal(m.accepts('tcp://192.168.1.2:4001'), true)
  assert.equal(m.accepts('tcp://[2001:db9::1]:4001'), true)
  assert.equal(m.accepts('mem://peer-x'), true, 'a denied peer id is unknown before the handshake: the address alone decides')
  // The gate agrees with connected(): a connection from the denied range is refused once the peer is known.
  const denied = testConnection('someone', { address: 'tcp://10.1.2.3:4001' })
  assert.equal(m.connected(denied), false)
  assert.equal(denied.closeReason, 'denied')
  const fine = testConnection('someone-else', { address: 'tcp://11.0.0.1:4001' })
  assert.equal(m.connected(fine), true)
  assert.equal(m.stats().connections, 1, 'accepts() itself changed nothing')

  await m.close()
  assert.equal(m.accepts('tcp://11.0.0.1:4001'), false, 'a closed manager accepts nobody')
  assert.equal(m.accepts('tcp://192.168.1.2:4001'), false)
})

test('accepts(address) is true for any address without a deny list, and false after close()', async () => {
  const { m } = manager()
  assert.equal(m.accepts('tcp://10.1.2.3:4001'), true)
  assert.equal(m.accepts('tcp://127.0.0.1:1'), true)
  await m.close()
  assert.equal(m.accepts('tcp://10.1.2.3:4001'), false)
  assert.equal(m.accepts('tcp://127.0.0.1:1'), false)
})

// ── store:error ──────────────────────────────────────────────────────────

/** A PeerStore in memory whose methods a test can make fail; it counts what was written. */
class FlakyStore implements PeerStore {
  loadError: Error | undefined
  saveError: Error | undefined
  flushError: Error | undefined
  closeError: Error | undefined
  readonly saved: StoredPeer[][] = []
  flushes = 0

  constructor (private readonly peers: StoredPeer[] = []) {}

  async load (): Promise<StoredPeer[]> {
    if (this.loadError !== undefined) throw this.loadError
    return this.peers
  }

  save (peers: StoredPeer[]): void {
    if (this.saveError !== undefined) throw this.saveError
    this.saved.push(peers)
  }

  delete (_keys: string[]): void {}

  async flush (): Promise<void> {
    this.flushes++
    if (this.flushError !== undefined) throw this.flushError
  }

  async close (): Promise<void> {
    if (this.closeError !== undefined) throw this.closeError
  }
}

function storeWorld (store: PeerStore) {
  const clock = new ManualClock(0)
  const net = new MemoryNetwork({ clock })
  const me = net.addNode('me')
  const m = createConnectionManager({ dial: me.dial, localPeer: 'me', clock, random: HALF, lowWater: 5, highWater: 10, store, storeFlushInterval: 1_000 })
  me.bind(m)
  for (const id of ['b', 'c', 'd']) net.addNode(id)
  const errors = collect<{ error: Error }>(m.events, 'store:error')
  return { clock, net, m, errors }
}

test('store:error: a store whose load() rejects is reported once; ready() resolves and the manager dials and accounts connections without it', async () => {
  const store = new FlakyStore()
  store.loadError = new Error('disk gone')
  const { clock, m, errors } = storeWorld(store)
  m.start()
  await m.ready() // must not reject: the store is only a cache of what we learnt
  assert.equal(errors.length, 1)
  assert.equal(errors[0].error, store.loadError, 'the detail carries the store\'s own error')
  // The manager goes on: it dials the peers it is given and accounts inbound connections.
  m.addPeers([{ id: 'b', address: 'mem://b' }])
  await clock.advance(0)
  assert.equal(m.getPeer('b')?.connected, true, 'the dialer runs although the store failed to load')
  assert.equal(m.connected(testConnection('x', { direction: 'inbound' })), true)
  assert.deepEqual(m.stats().connections, 2)
  assert.deepEqual([m.stats().inbound, m.stats().outbound], [1, 1])
  await m.close()
  assert.equal(errors.length, 1, 'nothing else failed')
})

test('store:error: a batch whose save() throws or whose flush() rejects is reported, and the next batches are still written', async () => {
  const store = new FlakyStore()
  const { clock, m, errors } = storeWorld(store)
  m.start()
  await m.ready()
  assert.equal(errors.length, 0, 'load() worked')

  store.saveError = new Error('save failed')
  m.addPeers([{ id: 'b', address: 'mem://b' }])
  await clock.advance(0)
  assert.equal(m.getPeer('b')?.connected, true)
  assert.equal(errors.length, 0, 'nothing is written before storeFlushInterval')
  await clock.advance(1_000)
  assert.equal(errors.length, 1, 'the failed batch is reported')
  assert.equal(errors[0].error, store.saveError)
  assert.equal(m.stats().connections, 1, 'the connection is still accounted')

  // The write chain is not stuck behind the failure: the next batch reaches the store.
  store.saveError = undefined
  store.flushError = new Error('flush failed')
  m.addPeers([{ id: 'c', address: 'mem://c' }])
  await clock.advance(0)
  assert.equal(m.getPeer('c')?.connected, true)
  await clock.advance(1_000)
  assert.ok(store.saved.some((batch) => batch.some((p) => p.id === 'c')), 'the next batch was saved')
  assert.equal(errors.length, 2, 'the rejected flush is reported')
  assert.equal(errors[1].error, store.flushError)

  // And once the store works again, writes go through without further errors.
  store.flushError = undefined
  const flushes = store.flushes
  m.addPeers([{ id: 'd', address: 'mem://d' }])
  await clock.advance(0)
  await clock.advance(1_000)
  assert.ok(store.flushes > flushes, 'flushed again')
  assert.ok(store.saved.some((batch) => batch.some((p) => p.id === 'd')))
  assert.equal(errors.length, 2)
  assert.equal(m.stats().connections, 3, 'every connection is accounted throughout')
  assert.deepEqual(m.listConnections().map((c) => c.peer).sort(), ['b', 'c', 'd'])
  await m.close()
})

test('store:error: a store whose close() rejects is reported and close() still resolves', async () => {
  const store = new FlakyStore()
  store.closeError = new Error('close failed')
  const { m, errors } = storeWorld(store)
  m.start()
  await m.ready()
  await m.close()
  assert.equal(errors.length, 1)
  assert.equal(errors[0].error, store.closeError)
})

// ── connection:replaced ──────────────────────────────────────────────────

type Replaced = { peer: string; connection: Connection; replaced: Connection }

function watch (m: ReturnType<typeof manager>['m']) {
  return {
    replaced: collect<Replaced>(m.events, 'connection:replaced'),
    connected: collect<{ peer: string }>(m.events, 'peer:connected'),
    disconnected: collect<{ peer: string }>(m.events, 'peer:disconnected'),
    closed: collect<{ connection: Connection; reason: string }>(m.events, 'connection:closed')
  }
}

for (const { local, first, second } of [
  // 'a' < 'b': the connection b initiated (inbound to us) survives.
  { local: 'a', first: 'outbound', second: 'inbound' },
  // 'z' > 'b': the connection we initiated (outbound) survives.
  { local: 'z', first: 'inbound', second: 'outbound' }
] as const) {
  test(`connection:replaced (localPeer ${local}): an ${second} newcomer that wins the tie-break replaces the ${first} one, which closes as duplicate; the peer never disconnects`, async () => {
    const { m } = manager({ localPeer: local })
    const seen = watch(m)
    const old = testConnection('b', { direction: first, id: 'old' })
    const newcomer = testConnection('b', { direction: second, id: 'new' })
    assert.equal(m.connected(old), true)
    assert.equal(m.connected(newcomer), true, 'the newcomer is accepted')

    assert.equal(seen.replaced.length, 1)
    assert.equal(seen.replaced[0].peer, 'b')
    assert.equal(seen.replaced[0].connection, newcomer)
    assert.equal(seen.replaced[0].replaced, old)
    assert.equal(old.closed, true)
    assert.equal(old.closeReason, 'duplicate')
    assert.equal(newcomer.closed, false)
    assert.deepEqual(seen.closed.map((e) => [e.connection.id, e.reason]), [['old', 'duplicate']])
    assert.deepEqual(seen.connected.map((e) => e.peer), ['b'], 'no second peer:connected')
    assert.equal(seen.disconnected.length, 0, 'no peer:disconnected')
    assert.equal(m.stats().connections, 1)
    assert.equal(m.stats()[second], 1, `counted as ${second}`)
    assert.equal(m.stats()[first], 0, `no longer counted as ${first}`)
    assert.deepEqual(m.listConnections().map((c) => c.id), ['new'])
    assert.equal(m.getPeer('b')?.connected, true)

    // The transport reports the old connection closed: it is no longer ours, the peer stays connected.
    m.disconnected(old)
    assert.equal(seen.disconnected.length, 0, 'still no peer:disconnected')
    assert.equal(m.stats().connections, 1)
    assert.equal(m.getPeer('b')?.connected, true)
    // The newcomer is the live one: its close is the peer's disconnection.
    m.disconnected(newcomer)
    assert.deepEqual(seen.disconnected.map((e) => e.peer), ['b'])
    assert.equal(m.stats().connections, 0)
    await m.close()
  })
}

test('connection:replaced does not fire when the newcomer loses the tie-break: it is refused as duplicate and the old one stays', async () => {
  const { m } = manager({ localPeer: 'a' })
  const seen = watch(m)
  const refused = collect<{ connection: Connection; reason: string }>(m.events, 'connection:refused')
  const old = testConnection('b', { direction: 'inbound', id: 'old' }) // initiated by b, the larger id
  const newcomer = testConnection('b', { direction: 'outbound', id: 'new' }) // initiated by us, 'a'
  assert.equal(m.connected(old), true)
  assert.equal(m.connected(newcomer), false)
  assert.deepEqual(seen.replaced, [])
  assert.deepEqual(refused.map((e) => [e.connection.id, e.reason]), [['new', 'duplicate']])
  assert.equal(newcomer.closeReason, 'duplicate')
  assert.equal(old.closed, false)
  assert.deepEqual(m.listConnections().map((c) => c.id), ['old'])
  assert.equal(m.stats().connections, 1)

  // Without localPeer nobody can tell the initiators apart: the existing connection is kept.
  const { m: anon } = manager()
  const anonSeen = watch(anon)
  const o = testConnection('b', { direction: 'outbound', id: 'o' })
  const i = testConnection('b', { direction: 'inbound', id: 'i' })
  assert.equal(anon.connected(o), true)
  assert.equal(anon.connected(i), false)
  assert.deepEqual(anonSeen.replaced, [])
  assert.deepEqual(anon.listConnections().map((c) => c.id), ['o'])
  await m.close()
  await anon.close()
})

// Bug: a store of the application's that returned a malformed peer made restore() throw: ready()
// rejected and the rejection went unhandled.
test('a store that returns malformed peers: the good ones are restored, the others skipped and reported as store:error (ERR_STORE_ROWS)', async () => {
  const good = { key: 'good', id: 'good', addresses: ['mem://good'], priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 1, failures: 0 }
  const store = { load: async () => [null, { key: 'x' }, good, { key: 'y', addresses: 'nope' }] as never, save () {}, delete () {}, flush: async () => {}, close: async () => {} }
  const errors: Error[] = []
  const manager = createConnectionManager({ dial: async () => { throw new Error('no') }, store: store as never, clock: new ManualClock() })
  manager.events.addEventListener('store:error', (e) => { errors.push(e.detail.error) })
  await manager.ready()
  assert.equal(manager.getPeer('good')?.addresses[0], 'mem://good')
  assert.equal(errors.length, 1)
  assert.equal((errors[0] as { code?: string }).code, 'ERR_STORE_ROWS')
  await manager.close()
})
