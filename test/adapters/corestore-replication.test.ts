import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { Replication } from '../../src/adapters/corestore-replication.js'

const HYPERCORE = 'hypercore/alpha'
const keyA = Buffer.alloc(32, 1)
const keyB = Buffer.alloc(32, 2)

/** A protomux's shape: channels by protocol and id, a stream that closes. */
class FakeMux {
  readonly isProtomux = true
  readonly stream = Object.assign(new EventEmitter(), { destroyed: false })
  readonly channels: Array<{ protocol: string; id: Buffer | null; closed: boolean; close: () => void }> = []
  createChannel (opts: { protocol: string; id?: Uint8Array | null }): unknown {
    const channel = { protocol: opts.protocol, id: opts.id == null ? null : Buffer.from(opts.id), closed: false, close: () => { channel.closed = true; this.channels.splice(this.channels.indexOf(channel), 1) } }
    this.channels.push(channel)
    return channel
  }

  * [Symbol.iterator] (): Iterator<{ protocol: string; id: Buffer | null; close: () => void }> { yield* this.channels }
}

/** A replicator as Corestore drives it: attached muxes. */
class FakeReplicator {
  readonly attachedTo = new Set<FakeMux>()
  attached (mux: FakeMux): boolean { return this.attachedTo.has(mux) }
  attachTo (mux: FakeMux): void { this.attachedTo.add(mux); mux.createChannel({ protocol: HYPERCORE, id: keyA }) }
  detachFrom (mux: FakeMux): void { this.attachedTo.delete(mux) }
}

function fakeStore (): { store: { replicate: (s: unknown) => unknown; cores: { get: (dk: Uint8Array) => { replicator: FakeReplicator } | null } }; replicator: FakeReplicator } {
  const replicator = new FakeReplicator()
  return {
    replicator,
    store: {
      replicate: (s) => s,
      cores: { get: (dk) => Buffer.from(dk).equals(keyA) ? { replicator } : null }
    }
  }
}

test('replication: stop closes the key\'s Hypercore channel on every connection, detaches its core and refuses new channels for it; other keys and protocols are untouched', () => {
  const { store, replicator } = fakeStore()
  const r = new Replication(store)
  const muxes = [new FakeMux(), new FakeMux()]
  for (const m of muxes) {
    r.add(m)
    replicator.attachTo(m)
    m.createChannel({ protocol: HYPERCORE, id: keyB })
    m.createChannel({ protocol: 'other', id: keyA })
  }
  r.stop(keyA)
  assert.equal(r.stopped(keyA), true)
  for (const m of muxes) {
    assert.deepEqual(m.channels.map((c) => [c.protocol, c.id?.[0]]), [[HYPERCORE, 2], ['other', 1]])
    assert.equal(replicator.attached(m), false)
    assert.equal(m.createChannel({ protocol: HYPERCORE, id: keyA }), null, 'a new channel of the stopped key is refused')
    assert.notEqual(m.createChannel({ protocol: HYPERCORE, id: keyB }), null)
  }
  assert.deepEqual(r.stats(), { connections: 2, stopped: 1, refusedChannels: 2, overBudgetChannels: 0 })
})

test('replication: resume lets the key open again and re-attaches its core to every connection', () => {
  const { store, replicator } = fakeStore()
  const r = new Replication(store)
  const m = new FakeMux()
  r.add(m)
  r.stop(keyA)
  // Attached again while stopped (the remote opened the key): no channel came of it.
  replicator.attachTo(m)
  assert.equal(m.channels.length, 0)
  r.resume(keyA)
  assert.equal(r.stopped(keyA), false)
  assert.equal(replicator.attached(m), true)
  assert.equal(m.channels.filter((c) => c.protocol === HYPERCORE).length, 1, 'the core opened its channel again')
})

test('replication: a connection added while a key is stopped has that key closed at once; a closed connection is forgotten', () => {
  const { store, replicator } = fakeStore()
  const r = new Replication(store)
  r.stop(keyA)
  const m = new FakeMux()
  // Corestore attaches its open cores as it replicates, before the gate is on.
  store.replicate = (s) => { replicator.attachedTo.add(s as FakeMux); return s }
  r.add(m)
  assert.equal(replicator.attached(m), false)
  assert.equal(m.createChannel({ protocol: HYPERCORE, id: keyA }), null)
  assert.equal(r.stats().connections, 1)
  m.stream.emit('close')
  assert.equal(r.stats().connections, 0)
})

test('replication: a Noise stream is replicated through its protomux (userData); a stream without one is replicated but not gated', () => {
  const { store } = fakeStore()
  const r = new Replication(store)
  const mux = new FakeMux()
  const replicated: unknown[] = []
  store.replicate = (s) => { replicated.push(s); return s }
  r.add({ noiseStream: { userData: mux } })
  r.add({ noiseStream: { userData: null } })
  assert.equal(replicated.length, 2)
  assert.equal(r.stats().connections, 1)
  r.stop(keyA)
  assert.equal(mux.createChannel({ protocol: HYPERCORE, id: keyA }), null)
})

test('replication: a connection holds at most maxCoresPerConnection Hypercore channels, whichever side asks; the next is refused and counted, other protocols and other connections are untouched, and a closed channel frees its place', () => {
  const { store } = fakeStore()
  const r = new Replication(store, 3)
  const [a, b] = [new FakeMux(), new FakeMux()]
  r.add(a)
  r.add(b)
  const keys = [1, 2, 3, 4].map((i) => Buffer.alloc(32, 10 + i))
  const made = keys.map((id) => a.createChannel({ protocol: HYPERCORE, id }))
  assert.deepEqual(made.map((c) => c !== null), [true, true, true, false])
  assert.notEqual(a.createChannel({ protocol: 'other/1', id: keys[3] }), null, 'other protocols are not counted')
  assert.notEqual(b.createChannel({ protocol: HYPERCORE, id: keys[3] }), null, 'a budget per connection')
  assert.equal(r.stats().overBudgetChannels, 1)
  a.channels[0].close()
  assert.notEqual(a.createChannel({ protocol: HYPERCORE, id: keys[3] }), null, 'a closed channel frees its place')
  assert.throws(() => new Replication(store, 0), /maxCoresPerConnection must be an integer >= 1 or Infinity/)
})
