// The SSB plugin against what a remote SSB peer controls: its id, its address strings, and the RPCs
// secret-stack reports for it. A fake secret-stack server (an EventEmitter with hookable methods)
// and fake RPCs, in virtual time: each attack must not throw out of 'rpc:connect' or `sbot.auth`,
// and the manager's bounds hold.
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test, type TestContext } from 'node:test'
import { createPlugin, type SbotLike, type SsbConnectionManager } from '../../src/adapters/ssb.js'
import { ManualClock } from '../../src/testing/index.js'

const keyOf = (i: number): string => Buffer.alloc(32, i).toString('base64')
const idOf = (i: number): string => `@${keyOf(i)}.ed25519`
const inboundAddress = (i: number, port = 50000): string => `net:10.0.0.1:${port}~shs:${keyOf(i)}`

class FakeRpc extends EventEmitter {
  closed = false
  constructor (readonly id: unknown, readonly stream: { address?: unknown }) { super() }
  close (_err?: unknown, cb?: () => void): void {
    if (!this.closed) { this.closed = true; this.emit('closed') }
    cb?.()
  }
}

type Fn = (...args: any[]) => any
/** A function with secret-stack's `hook`. */
function hookable (fn: Fn): Fn & { hook: (h: (this: unknown, original: Fn, args: any[]) => unknown) => void } {
  let current = fn
  return Object.assign((...args: any[]) => current(...args), {
    hook: (h: (this: unknown, original: Fn, args: any[]) => unknown) => {
      const original = current
      current = (...args: any[]) => h.call(undefined, original, args)
    }
  })
}

/** A fake server with the plugin installed: highWater 4, lowWater 2. */
function server (t: TestContext): { sbot: SbotLike & EventEmitter; api: SsbConnectionManager; connect: (rpc: unknown) => void } {
  const sbot = Object.assign(new EventEmitter(), {
    id: idOf(0),
    connect: hookable((_a: string, cb: Fn) => { cb(new Error('no dial here')) }),
    auth: hookable((_id: string, cb: Fn) => { cb(null, {}) }),
    close: hookable((cb?: Fn) => { cb?.() })
  }) as unknown as SbotLike & EventEmitter
  const api = createPlugin({ clock: new ManualClock(0) }).init(sbot, { peerwarden: { highWater: 4, lowWater: 2 } })
  t.after(async () => { await api.manager.close() })
  return { sbot, api, connect: (rpc) => { sbot.emit('rpc:connect', rpc, false) } }
}

test('ids that are not feed ids, and our own: not counted, nothing thrown', (t) => {
  const { api, connect } = server(t)
  const huge = 'x'.repeat(1_000_000)
  for (const id of ['x', `@${huge}.ed25519`, 42, null, {}, { toString: () => { throw new Error('no') } }, idOf(0)]) {
    connect(new FakeRpc(id, { address: huge }))
  }
  // A feed id with an oversized or malformed address: counted, its address not kept.
  connect(new FakeRpc(idOf(1), { address: `net:${huge}:1~shs:${keyOf(1)}` }))
  connect(new FakeRpc(idOf(2), { address: { toString: () => 'net:1.2.3.4:1' } }))
  const conns = api.manager.listConnections()
  assert.deepEqual(conns.map((c) => c.peer).sort(), [idOf(1), idOf(2)])
  assert.ok(conns.every((c) => c.address === undefined))
})

test('a thousand RPCs from one feed id: one is kept, the others are closed; the table forgets them', (t) => {
  const { api, connect } = server(t)
  const rpcs = Array.from({ length: 1000 }, (_, i) => new FakeRpc(idOf(1), { address: inboundAddress(1, 1000 + i) }))
  for (const rpc of rpcs) connect(rpc)
  assert.equal(api.manager.stats().connections, 1)
  assert.equal(rpcs.filter((r) => !r.closed).length, 1)
  // Repeated 'closed' events on the survivor count once.
  const survivor = rpcs.find((r) => !r.closed)!
  survivor.close()
  survivor.emit('closed')
  assert.equal(api.manager.stats().connections, 0)
})

test('two hundred feed ids at once: never past highWater, every refused RPC closed', (t) => {
  const { api, connect } = server(t)
  const rpcs = Array.from({ length: 200 }, (_, i) => new FakeRpc(idOf(i + 1), { address: inboundAddress(i + 1) }))
  for (const rpc of rpcs) connect(rpc)
  assert.ok(api.manager.stats().connections <= 4)
  assert.equal(rpcs.filter((r) => !r.closed).length, api.manager.stats().connections)
})

test('RPCs that close during rpc:connect, or whose close and once throw: nothing thrown, nothing left counted', (t) => {
  const { api, connect } = server(t)
  const closing = new FakeRpc(idOf(1), { address: inboundAddress(1) })
  closing.once = ((event: string, listener: () => void) => { EventEmitter.prototype.once.call(closing, event, listener); closing.close(); return closing }) as never
  connect(closing)
  const already = new FakeRpc(idOf(2), { address: inboundAddress(2) })
  already.closed = true
  connect(already)
  assert.equal(api.manager.stats().connections, 0)
  const broken = new FakeRpc(idOf(3), { address: inboundAddress(3) })
  broken.close = () => { throw new Error('close failed') }
  broken.once = (() => { throw new Error('once failed') }) as never
  connect(broken)
  assert.doesNotThrow(() => { api.manager.setPriority([{ peer: idOf(3), priority: 'banned' }]) })
})

test('sbot.auth with ids that are not feed ids goes to secret-stack unchanged; a banned feed id is refused', (t) => {
  const { sbot, api } = server(t)
  const answers: unknown[] = []
  const auth = sbot.auth as unknown as (id: unknown, cb: (err?: unknown) => void) => void
  for (const id of [undefined, 'x'.repeat(1_000_000), 7]) auth(id, (err) => { answers.push(err ?? null) })
  assert.deepEqual(answers, [null, null, null])
  api.manager.setPriority([{ peer: idOf(9), priority: 'banned' }])
  let refusal: unknown
  auth(idOf(9), (err) => { refusal = err })
  assert.match(String((refusal as Error | undefined)?.message), /banned/)
})

test('a feed id denied at run time is refused at the handshake of a full server without making room (regression: only the deny option\'s ids were told from a refusal by the bound)', (t) => {
  const { sbot, api, connect } = server(t)
  const rpcs = [1, 2, 3, 4].map((i) => new FakeRpc(idOf(i), { address: inboundAddress(i) }))
  for (const rpc of rpcs) connect(rpc)
  assert.equal(api.manager.stats().connections, 4, 'at its bound')
  api.manager.deny(idOf(9))
  assert.equal(api.manager.isDenied(idOf(9)), true)
  let refusal: unknown
  const auth = sbot.auth as unknown as (id: unknown, cb: (err?: unknown) => void) => void
  auth(idOf(9), (err) => { refusal = err })
  assert.match(String((refusal as Error | undefined)?.message), /denied/)
  assert.deepEqual(rpcs.filter((r) => r.closed), [], 'nobody gave way for a denied feed')
})
