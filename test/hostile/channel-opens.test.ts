import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import Protomux from 'protomux'
import { CONTROL_PROTOCOL, type NodeConnection } from '../../src/node/connection.js'
import { encodeHello } from '../../src/node/hello.js'
import { loadIdentity } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { staticKeys } from '../../src/node/noise.js'
import { DEFAULT_MAX_PENDING_OPENS, DEFAULT_MAX_REMOTE_CHANNELS } from '../../src/node/remote-opens.js'
import { SecureStream } from '../../src/node/secure-stream.js'
import { formatTcpAddress } from '../../src/node/tcp-address.js'
import type { PeerNode } from '../../src/node/index.js'
import { attack } from '../helpers/attacker.js'
import { testNode, testTransport } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A peer that opens channels by the thousand, for protocols nobody here serves: protomux queues each
// open that waits to be paired, and keeps a slot per channel id. The budgets of remote-opens.ts bound
// both; past one the connection closes ('over-budget') and the node carries on.

const T = { timeout: 30_000 }
const OPENS = 10_000

/** What protomux holds for the remote's opens on one connection: opens waiting to be paired, and channel-id slots. */
function muxQueue (conn: NodeConnection): { waiting: number; slots: number } {
  const m = conn.mux as unknown as { _infos: Map<string, { key: string; incoming: number[] }>; _remote: unknown[] }
  let waiting = 0
  // An info is listed under its key and each alias: count it once.
  for (const [key, info] of m._infos) if (key === info.key) waiting += info.incoming.length
  return { waiting, slots: m._remote.length }
}

/** Opens `n` channels of one protocol (distinct ids) on `mux`, in one burst. */
function openMany (mux: Protomux, n: number): void {
  mux.cork()
  for (let i = 0; i < n; i++) {
    const id = Buffer.alloc(4)
    id.writeUInt32BE(i)
    mux.createChannel({ protocol: 'nobody/serves/this', id })!.open()
  }
  mux.uncork()
}

/**
 * A hostile listener: it completes the handshake with whoever dials it, never sends the 'welcome'
 * (so the dialer's manager never accepts the connection), and opens `OPENS` channels at once.
 */
async function hostileListener (t: TestContext): Promise<{ address: string; done: Promise<void> }> {
  const keyPair = loadIdentity({ seed: randomBytes(32).toString('hex') })
  let finished: () => void = () => {}
  const done = new Promise<void>((resolve) => { finished = resolve })
  const server = net.createServer((socket) => {
    const stream = new SecureStream(false, socket, {
      keys: staticKeys(keyPair),
      psk: new NetworkKey(undefined).psk,
      payload: () => encodeHello({ listen: [], rendezvous: false, topics: [], announce: false })
    })
    stream.on('error', () => {})
    stream.once('close', finished)
    t.after(() => { stream.destroy() })
    void stream.opened.then(() => {
      const mux = Protomux.from(stream)
      // The control channel, as a node would, before reading the dialer's open of it (else that open
      // is rejected and the dialer closes at once).
      mux.createChannel({ protocol: CONTROL_PROTOCOL })!.open()
      stream.resume()
      openMany(mux, OPENS)
    }, () => {})
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.after(() => { server.close() })
  return { address: formatTcpAddress('127.0.0.1', (server.address() as net.AddressInfo).port), done }
}

test(`a remote that opens ${OPENS} channels before our manager accepted the connection queues at most maxPendingOpens of them, then is closed ('over-budget')`, T, async (t) => {
  const transport = testTransport(t, randomBytes(32).toString('hex'))
  const hostile = await hostileListener(t)
  // The bare transport never accepts the connection: every open the remote sends waits to be paired.
  const conn = await transport.dial(hostile.address, { signal: AbortSignal.timeout(10_000) })
  await until(() => conn.closeReason !== undefined, 10_000, 'the connection to close')
  assert.equal(conn.closeReason, 'over-budget')
  await hostile.done
  // The budget's worth, and the one open that went past it (protomux had filed it before it asked us).
  const queue = muxQueue(conn)
  assert.equal(queue.waiting, DEFAULT_MAX_PENDING_OPENS + 1, `protomux holds ${queue.waiting} opens waiting (budget ${DEFAULT_MAX_PENDING_OPENS})`)
  assert.ok(queue.slots <= DEFAULT_MAX_PENDING_OPENS + 2, `protomux holds ${queue.slots} channel slots`)
  assert.ok(conn.pendingOpens <= DEFAULT_MAX_PENDING_OPENS)
  assert.equal(transport.stats().openBudgetCloses, 1)
})

test('maxPendingOpens is the budget on opens waiting to be paired: one open past it closes the connection', T, async (t) => {
  const transport = testTransport(t, randomBytes(32).toString('hex'), { maxPendingOpens: 10 })
  const hostile = await hostileListener(t)
  const conn = await transport.dial(hostile.address, { signal: AbortSignal.timeout(10_000) })
  await until(() => conn.closeReason !== undefined, 10_000, 'the connection to close')
  assert.equal(conn.closeReason, 'over-budget')
  await hostile.done
  assert.equal(muxQueue(conn).waiting, 11)
  assert.equal(transport.stats().openBudgetCloses, 1)
})

/** An honest node reaches the victim, and both see the connection: the victim still serves. */
async function stillServes (t: TestContext, victim: PeerNode): Promise<void> {
  const honest = await testNode(t)
  const conn = await honest.manager.connectNow(victim.addresses[0]!)
  assert.equal(conn.peer, victim.id)
  await until(() => victim.connections().some((c) => c.peer === honest.id), 5000, 'the victim to account the honest peer')
}

test(`a node that dials a peer which opens ${OPENS} channels and never welcomes it fails that dial, counts it, and still serves`, T, async (t) => {
  const victim = await testNode(t)
  const hostile = await hostileListener(t)
  await assert.rejects(victim.manager.connectNow(hostile.address))
  await hostile.done
  assert.equal(victim.stats().openBudgetCloses, 1)
  assert.equal(victim.connections().length, 0)
  await stillServes(t, victim)
})

test(`an accepted peer that opens ${OPENS} channels for a protocol nobody serves is closed at maxRemoteChannels ids; the node still serves`, T, async (t) => {
  const victim = await testNode(t)
  const conns: NodeConnection[] = []
  victim.events.addEventListener('connection', (e) => { conns.push(e.detail.connection) })
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL) // as a node would (else the victim's is rejected and it closes at once)
  await until(() => conns.length === 1 && conns[0]!.isAccepted, 5000, 'the victim to accept the attacker')
  // protomux rejects each open at once (nobody serves the protocol), but the attacker never reads the
  // rejections before it opens the next: its ids grow, and so would the victim's table of them.
  openMany(a.mux, OPENS)
  await until(() => a.closed, 10_000, 'the victim to close the attacker')
  const conn = conns[0]!
  assert.equal(conn.closeReason, 'over-budget')
  const queue = muxQueue(conn)
  assert.ok(queue.slots <= DEFAULT_MAX_REMOTE_CHANNELS, `protomux holds ${queue.slots} channel slots (budget ${DEFAULT_MAX_REMOTE_CHANNELS})`)
  assert.equal(queue.waiting, 0)
  assert.equal(victim.stats().openBudgetCloses, 1)
  await stillServes(t, victim)
})
