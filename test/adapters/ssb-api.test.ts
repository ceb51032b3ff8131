// peerwarden/ssb without sockets: the address rules, the priorities, the pull-stream source, the
// standalone Manager({ connectToPeer }) over fake RPCs in virtual time, and the option checks.
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { Manager, createPlugin, feedIdOf, isFeedId, isMultiserverAddress, priority, toPriority, type RpcLike, type SbotLike, type SsbConnectionError } from '../../src/adapters/ssb.js'
import { extractIp } from '../../src/index.js'
import { pullSource } from '../../src/adapters/ssb/pull-source.js'
import { shouldRelease } from '../../src/adapters/room-policy.js'
import { ManualClock } from '../../src/testing/index.js'

const pull = createRequire(import.meta.url)('pull-stream') as {
  (...parts: unknown[]): unknown
  take(n: number): unknown
  collect(cb: (err: unknown, values: unknown[]) => void): unknown
}

const KEY = 'cm5LA78eVjJHPOLwhM8v9afT05+1sHToVSALWxMZLow='
const ID = `@${KEY}.ed25519`
const keyOf = (i: number): string => Buffer.alloc(32, i).toString('base64')
const idOf = (i: number): string => `@${keyOf(i)}.ed25519`
const addressOf = (i: number): string => `net:127.0.0.1:${9000 + i}~shs:${keyOf(i)}`

test('feed ids and multiserver addresses: the id an address names, and what is refused', () => {
  assert.equal(isFeedId(ID), true)
  for (const bad of [KEY, `@${KEY}`, `@${KEY}.sha256`, `@${KEY.slice(1)}.ed25519`, '@AAAB=.ed25519', 42, undefined]) assert.equal(isFeedId(bad), false, String(bad))
  assert.equal(feedIdOf(`net:127.0.0.1:8008~shs:${KEY}`), ID)
  assert.equal(feedIdOf(`net:[::1]:8008~shs:${KEY}`), ID)
  assert.equal(feedIdOf(`onion:xyz.onion:8008~shs:${KEY};net:10.0.0.1:8008~shs:${KEY}`), ID)
  assert.equal(feedIdOf('net:127.0.0.1:8008~shs:notakey'), undefined)
  assert.equal(feedIdOf('net:127.0.0.1:8008'), undefined)
  assert.equal(feedIdOf(`net:127.0.0.1:8008~shs:${KEY}`.padEnd(5000, 'x')), undefined, 'bounded')
  assert.equal(isMultiserverAddress(`net:127.0.0.1:8008~shs:${KEY}`), true)
  for (const bad of ['', 'net', '~shs:x', 'net:1:2~', 'tcp://127.0.0.1:8008'.replace('tcp://', ''), 7]) assert.equal(isMultiserverAddress(bad), false, String(bad))
  // An inbound RPC's address is its full multiserver address: the access lists read its host.
  assert.equal(extractIp(`net:127.0.0.1:53122~shs:${KEY}`), '127.0.0.1')
  assert.equal(extractIp(`net:[::1]:53122~shs:${KEY}`), '::1')
})

test("priorities take sbot-connection-manager's names and the manager's; anything else is refused naming the field", () => {
  assert.deepEqual([priority.HIGH, priority.MED, priority.LOW, priority.BANNED], ['high', 'medium', 'low', 'banned'])
  assert.equal(toPriority('MEDIUM', 'p'), 'medium')
  assert.equal(toPriority('low', 'p'), 'low')
  assert.throws(() => toPriority('URGENT', 'peers[0].priority'), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT' && err.message.startsWith('peers[0].priority'))
  assert.throws(() => toPriority('constructor', 'p'), /must be one of/)
})

test('the pull-stream source yields in order, ends, and an abort unsubscribes', async () => {
  let returned = 0
  const values = [1, 2, 3]
  const iterator: AsyncIterator<number> = {
    next: async () => values.length > 0 ? { done: false, value: values.shift()! } : await new Promise<IteratorResult<number>>(() => {}),
    return: async () => { returned++; return { done: true, value: undefined } }
  }
  const got = await new Promise<unknown[]>((resolve, reject) => {
    pull(pullSource(iterator), pull.take(2), pull.collect((err, v) => { if (err != null) reject(err); else resolve(v) }))
  })
  assert.deepEqual(got, [1, 2])
  assert.equal(returned, 1, 'take(2) aborted the source, which returned the iterator')
  const ended = pullSource((async function * () { yield 'a' })())
  const all = await new Promise<unknown[]>((resolve, reject) => { pull(ended, pull.collect((err, v) => { if (err != null) reject(err); else resolve(v) })) })
  assert.deepEqual(all, ['a'])
})

/** A fake muxrpc connection: an event emitter with `close(true, cb)`. */
class FakeRpc extends EventEmitter implements RpcLike {
  closed = false
  closes = 0
  constructor (readonly id: string, readonly stream: { address: string }) { super() }
  close (_err?: unknown, cb?: () => void): void {
    this.closes++
    if (!this.closed) { this.closed = true; this.emit('closed') }
    cb?.()
  }
}

test('Manager({ connectToPeer }) takes an async connectToPeer too (the documented form: "an async function"): its promise resolves or rejects the dial (regression: the promise was ignored, and every dial hung until dialTimeout)', { timeout: 10_000 }, async (t) => {
  const clock = new ManualClock(0)
  const manager = Manager({
    clock,
    id: idOf(0),
    dialTimeout: 60_000,
    connectToPeer: async (address: string) => {
      await new Promise((resolve) => setImmediate(resolve))
      if (address === addressOf(9)) throw new Error('connection refused')
      return new FakeRpc(feedIdOf(address)!, { address })
    }
  })
  t.after(async () => { await manager.close() })
  const failed: SsbConnectionError[] = []
  pull(manager.connection.errors(), pull.take(1), pull.collect((_err, v) => { failed.push(...v as SsbConnectionError[]) }))
  await manager.connections.connectNow(addressOf(1))
  assert.equal(manager.manager.stats().connections, 1, 'the RPC the promise gave is counted')
  assert.equal(manager.manager.listConnections()[0].peer, idOf(1))
  await assert.rejects(manager.connections.connectNow(addressOf(9)), (err: Error & { code?: string; cause?: Error }) => err.code === 'ERR_DIAL_FAILED' && err.cause?.message === 'connection refused')
  for (let i = 0; i < 5 && failed.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(failed[0]?.peer, addressOf(9))
  assert.equal(clock.now(), 0, 'no dial waited for its timeout')
})

test('Manager({ connectToPeer }): dials through the callback, counts and closes the RPCs, bans, errors(), remotePeerConnected', async (t) => {
  const clock = new ManualClock(0)
  const dialled: string[] = []
  const rpcs = new Map<string, FakeRpc>()
  const manager = Manager({
    clock,
    id: idOf(0),
    connectToPeer: (address, cb) => {
      dialled.push(address)
      if (address === addressOf(9)) { setImmediate(() => { cb(new Error('connection refused')) }); return }
      const rpc = new FakeRpc(feedIdOf(address)!, { address })
      rpcs.set(address, rpc)
      setImmediate(() => { cb(null, rpc) })
    }
  })
  t.after(async () => { await manager.close() })
  const failures: SsbConnectionError[] = []
  pull(manager.connection.errors(), pull.take(1), pull.collect((_err, v) => { failures.push(...v as SsbConnectionError[]) }))
  manager.peers.add([1, 2, 3, 9].map((i) => ({ address: addressOf(i) })))
  manager.connections.setMax(4)
  // Off by default: nothing is dialled however long we wait (a dial is scheduled, not synchronous,
  // so the wait is what makes this fail if the manager started on its own).
  await clock.advance(60_000)
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(dialled, [], 'off by default')
  manager.connections.start()
  await clock.advance(10)
  for (let i = 0; i < 10 && (manager.manager.stats().connections < 3 || failures.length === 0); i++) { await new Promise((resolve) => setImmediate(resolve)); await clock.advance(10) }
  assert.equal(manager.manager.stats().connections, 3)
  assert.equal(failures.length, 1)
  assert.equal(failures[0].peer, addressOf(9))
  assert.equal(failures[0].id, idOf(9))
  // Banned by address: the id's RPC is closed.
  manager.peers.setPriority([{ address: addressOf(2), priority: 'BANNED' }])
  assert.equal(rpcs.get(addressOf(2))!.closed, true)
  assert.equal(manager.manager.getPeer(idOf(2))?.priority, 'banned')
  // An inbound RPC the application reports: counted, and closed by a ban.
  const inbound = new FakeRpc(idOf(5), { address: `net:127.0.0.1:50000~shs:${keyOf(5)}` })
  manager.connections.remotePeerConnected(idOf(5), inbound)
  assert.equal(manager.manager.stats().inbound, 1)
  assert.equal(manager.manager.listConnections().find((c) => c.peer === idOf(5))?.address, `net:127.0.0.1:50000~shs:${keyOf(5)}`, 'inbound: the full multiserver address, as ssb-conn records it (regression: only the host)')
  inbound.emit('closed')
  assert.equal(manager.manager.stats().inbound, 0, 'its close is heard')
  // Without an RPC the peer is only learnt.
  manager.connections.remotePeerConnected(idOf(6))
  assert.ok(manager.manager.getPeer(idOf(6)) !== undefined)
  assert.throws(() => { manager.connections.remotePeerConnected('not an id') }, /feed id/)
  // The peers observable.
  let seen = 0
  const off = manager.peers.observe((peers) => { seen = peers.length })
  assert.equal(seen, manager.peers.list().length)
  off()
  await manager.connections.stop()
  assert.equal(manager.manager.stats().connections, 0)
})

test('connections.setLifetime closes a connection that is not long-term at that age (reason lifetime), keeps long-term and permanent ones; connectNow({ permanent }) redials after every loss', { timeout: 10_000 }, async (t) => {
  const clock = new ManualClock(0)
  const dialled: string[] = []
  const rpcs = new Map<string, FakeRpc>()
  const manager = Manager({
    clock,
    id: idOf(0),
    gracePeriod: 1_000,
    connectToPeer: (address, cb) => {
      dialled.push(address)
      const rpc = new FakeRpc(feedIdOf(address)!, { address })
      rpcs.set(address, rpc)
      setImmediate(() => { cb(null, rpc) })
    }
  })
  t.after(async () => { await manager.close() })
  const closed: string[] = []
  manager.manager.events.addEventListener('connection:closed', (e) => { closed.push(`${e.detail.connection.peer}:${e.detail.reason}`) })
  await manager.connections.connectNow(addressOf(1), { permanent: true })
  await manager.connections.connectNow(addressOf(2))
  await manager.connections.connectNow(addressOf(3))
  manager.peers.setLongTerm(addressOf(3), true)
  manager.connections.setLifetime(5_000)
  manager.connections.start() // the scheduler rotates once started (off by default)
  await clock.advance(6_000)
  assert.deepEqual(closed, [`${idOf(2)}:lifetime`], 'only the connection that is neither permanent nor long-term')
  assert.equal(rpcs.get(addressOf(2))!.closed, true, 'its RPC is closed')
  assert.equal(manager.manager.stats().connections, 2)
  // The permanent peer's RPC drops: it is dialled again, without start().
  const before = dialled.filter((a) => a === addressOf(1)).length
  rpcs.get(addressOf(1))!.close()
  for (let i = 0; i < 20 && dialled.filter((a) => a === addressOf(1)).length === before; i++) { await new Promise((resolve) => setImmediate(resolve)); await clock.advance(1_000) }
  assert.ok(dialled.filter((a) => a === addressOf(1)).length > before, 'the permanent peer is redialled')
})

test('peers.forget(address or id) forgets a peer the errors stream named, so another module can drop the peers that keep failing (what the errors stream is for)', { timeout: 10_000 }, async (t) => {
  const clock = new ManualClock(0)
  const manager = Manager({ clock, id: idOf(0), connectToPeer: (_address, cb) => { setImmediate(() => { cb(new Error('offline')) }) } })
  t.after(async () => { await manager.close() })
  const failed: SsbConnectionError[] = []
  pull(manager.connection.errors(), pull.take(1), pull.collect((_err, v) => { failed.push(...v as SsbConnectionError[]) }))
  manager.peers.add([{ address: addressOf(1) }, { address: addressOf(2) }])
  await assert.rejects(manager.connections.connectNow(addressOf(1)))
  for (let i = 0; i < 5 && failed.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  manager.peers.forget(failed[0].peer)
  assert.equal(manager.manager.getPeer(idOf(1)), undefined, 'forgotten by its address')
  manager.peers.forget(idOf(2))
  assert.deepEqual(manager.peers.list(), [], 'and by its id')
  assert.throws(() => { manager.peers.forget('nonsense') }, /feed id/)
})

test('run-time access entries under peerwarden/ssb: a multiserver address is the feed id it names, feed ids and IPs as they are, anything else refused naming the argument, in the options too (regression: an address was taken for a peer id and matched nothing)', async (t) => {
  const manager = Manager({ connectToPeer: (_a, cb) => { cb(new Error('offline')) } })
  t.after(async () => { await manager.close() })
  const rpc = new FakeRpc(idOf(3), { address: `net:127.0.0.1:50003~shs:${keyOf(3)}` })
  manager.connections.remotePeerConnected(idOf(3), rpc)
  assert.equal(manager.manager.stats().connections, 1)
  assert.equal(manager.manager.deny(addressOf(3)), true)
  assert.equal(rpc.closed, true, 'the live RPC of the feed id the address names is closed')
  assert.equal(manager.manager.isDenied(idOf(3)), true)
  assert.equal(manager.manager.undeny(addressOf(3)), true, 'lifted by the same address')
  assert.equal(manager.manager.allow(idOf(4)), true)
  assert.equal(manager.manager.deny('203.0.113.0/24'), true)
  for (const bad of ['nonsense', 'net:127.0.0.1:8008']) {
    assert.throws(() => manager.manager.deny(bad), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT' && err.message.startsWith('entry must be a feed id'), bad)
  }
  // The options are read so too: an address is its feed id, anything else refused naming the option.
  const given = Manager({ connectToPeer: (_a, cb) => { cb(new Error('offline')) }, deny: [addressOf(5)], allow: ['10.0.0.0/8'] })
  assert.equal(given.manager.isDenied(idOf(5)), true)
  await given.close()
  assert.throws(() => Manager({ connectToPeer: (_a, cb) => { cb(new Error('offline')) }, deny: ['nonsense'] }), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT' && err.message.startsWith('deny[0] must be a feed id'))
})

test('onPrioritise answers in either spelling; the hook can be replaced', async (t) => {
  const manager = Manager({ connectToPeer: (_a, cb) => { cb(new Error('offline')) }, onPrioritise: (p) => p.id === idOf(1) ? 'HIGH' : undefined })
  t.after(async () => { await manager.close() })
  manager.peers.add([{ address: addressOf(1) }, { address: addressOf(2) }])
  assert.equal(manager.manager.getPeer(idOf(1))?.priority, 'high')
  assert.equal(manager.manager.getPeer(idOf(2))?.priority, 'medium')
  manager.onPrioritise((p) => p.id === idOf(3) ? priority.LOW : undefined)
  manager.peers.add([{ address: addressOf(3) }])
  assert.equal(manager.manager.getPeer(idOf(3))?.priority, 'low')
})

test('options are checked: unknown names, objects in the config section, bad peers', () => {
  assert.throws(() => createPlugin({ lowwater: 3 } as never), /unknown option "lowwater"; did you mean "lowWater"/)
  assert.throws(() => createPlugin({ name: 'peer-warden' }), /camelCase/)
  assert.throws(() => Manager({} as never), /connectToPeer/)
  assert.throws(() => Manager({ connectToPeer: () => {}, id: 'me' }), /feed id/)
  const hooks = (): SbotLike['auth'] => Object.assign(() => {}, { hook: () => {} }) as never
  const sbot = { id: ID, connect: hooks(), auth: hooks(), close: hooks(), on: () => {} } as unknown as SbotLike
  assert.throws(() => createPlugin().init(sbot, { peerwarden: { store: {} } }), /createPlugin\(\{ store \}\)/)
  // The names it lists are the ones the section takes (it listed store, clock and random, which it refuses).
  assert.throws(() => createPlugin().init(sbot, { peerwarden: { highwater: 3 } }), (err: unknown) => {
    assert.match(String((err as Error).message), /unknown option "highwater"/)
    assert.doesNotMatch(String((err as Error).message), /\bstore\b|\bclock\b|\brandom\b/)
    return true
  })
  const api = createPlugin().init(sbot, { peerwarden: { highWater: 3 } })
  assert.equal(api.manager.stats().highWater, 3)
  assert.throws(() => { api.peers.add([{ address: 'example.com' }]) }, /multiserver address/)
  assert.throws(() => { api.peers.add([{}]) }, /address or an id/)
  assert.throws(() => { api.peers.add([{ id: 'bob' }]) }, /feed id/)
  assert.throws(() => { api.peers.setPriority([{ id: ID, priority: 'TOP' as never }]) }, /one of HIGH/)
  void api.manager.close()
})

test('room for a newcomer: only above lowWater, once per interval, never for a peer we released lately', () => {
  const base = { connections: 4, lowWater: 3, highWater: 4, now: 10_000, lastRelease: -Infinity, releasedAt: undefined }
  assert.equal(shouldRelease(base), true)
  assert.equal(shouldRelease({ ...base, connections: 3 }), false, 'at lowWater: nothing to spare')
  assert.equal(shouldRelease({ ...base, lowWater: 4 }), false, 'lowWater = highWater: nothing to spare')
  assert.equal(shouldRelease({ ...base, lastRelease: 9_500 }), false, 'one release a second')
  assert.equal(shouldRelease({ ...base, lastRelease: 9_000 }), true)
  assert.equal(shouldRelease({ ...base, releasedAt: 0 }), false, 'released 10 s ago: it would push another one out')
  assert.equal(shouldRelease({ ...base, releasedAt: -20_000 }), true)
})
