import assert from 'node:assert/strict'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import type { NodeConnection } from '../../src/node/connection.js'
import { createNode, PeerwardenError, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { testTransport } from '../helpers/nodes.js'
import { until, within } from '../helpers/wait.js'

// The transport keeps the promises of the README: what a dial rejects with, why a connection closed.
// Real sockets on 127.0.0.1.

const T = { timeout: 20_000 }

async function node (t: TestContext, options: NodeOptions = {}): Promise<PeerNode> {
  const n = await createNode({ refreshInterval: 1000, ...options, manager: { gracePeriod: 1000, ...options.manager } })
  t.after(async () => { await n.close() })
  return n
}

const transport = testTransport

async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return port
}

function refusedBySocket (err: unknown): boolean {
  assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
  assert.equal(err.code, 'ERR_DIAL_FAILED', err.message)
  assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED', 'the cause is the socket\'s error')
  return true
}

test('a dial to a closed port fails with ERR_DIAL_FAILED, the ECONNREFUSED error as its cause (it was ERR_CONNECTION_CLOSED "closed during the handshake")', T, async (t) => {
  const port = await closedPort()
  const tr = transport(t, 'dialer')
  await assert.rejects(within(tr.dial(`tcp://127.0.0.1:${port}`, { signal: AbortSignal.timeout(5000) }), 5000, 'the dial'), refusedBySocket)
  const n = await node(t)
  await assert.rejects(within(n.manager.connectNow(`tcp://127.0.0.1:${port}`), 5000, 'connectNow'), refusedBySocket)
})

test('a connection that hears nothing for deadTimeout closes with the reason \'timeout\', and a remote that still reads hears it', T, async (t) => {
  const a = await node(t, { keepAlive: 200, deadTimeout: 1000 })
  const gone: Array<{ peer: string; reason?: string }> = []
  a.events.addEventListener('disconnection', (e) => { gone.push(e.detail) })
  let local: NodeConnection | undefined
  a.events.addEventListener('connection', (e) => { local = e.detail.connection })
  // A peer that stays silent: it sends no keep-alive (its own are an hour apart) but reads.
  const silent = transport(t, 'silent', { keepAlive: 3_600_000, deadTimeout: 3_600_000 })
  const conn = await silent.dial(a.addresses[0], { signal: AbortSignal.timeout(5000) })
  conn.accepted()
  await until(() => gone.length > 0, 5000, 'the node to drop the silent peer')
  assert.equal(gone[0].reason, 'timeout')
  assert.equal(local?.closeReason, 'timeout')
  await until(() => conn.remoteCloseReason !== undefined, 5000, 'the silent peer to read the reason')
  assert.equal(conn.remoteCloseReason, 'timeout')
})

test('a transport budget that is not an integer in range fails at construction with ERR_INVALID_ARGUMENT naming the option', (t) => {
  for (const [name, value] of [['maxPendingPerIp', -1], ['perIpRate', 1.5], ['maxTrackedIps', 0], ['maxQueuedBytes', 0], ['maxPendingHandshakes', '32']] as const) {
    assert.throws(() => transport(t, 'x', { [name]: value }), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_INVALID_ARGUMENT' && err.message.includes(name), name)
  }
})

test('an idle connection: the listener sends a keep-alive after keepAlive without writing, the dialer answers each (and sends none of its own), and neither side times out', T, async (t) => {
  const timing = { keepAlive: 100, deadTimeout: 2000, manager: { lowWater: 0 } }
  const listener = await node(t, timing)
  const dialer = await node(t, timing)
  let inbound: NodeConnection | undefined
  listener.events.addEventListener('connection', (e) => { inbound = e.detail.connection as NodeConnection })
  const outbound = await dialer.manager.connectNow(`${listener.addresses[0]}#${listener.id}`) as NodeConnection
  await until(() => inbound !== undefined, 5000, 'the listener to accept')
  const counts = { dialer: 0, listener: 0 }
  for (const [side, conn] of [['dialer', outbound], ['listener', inbound!]] as const) {
    const send = conn.stream.keepAlive.bind(conn.stream)
    conn.stream.keepAlive = () => { counts[side]++; send() }
  }
  // Past deadTimeout (2 s at least): the listener's keep-alives come every 0.1 s (and a tick), each answered.
  await until(() => counts.listener >= 20, 10_000, 'the listener\'s keep-alives')
  assert.ok(Math.abs(counts.dialer - counts.listener) <= 1, `dialer keep-alives: ${counts.dialer} (listener: ${counts.listener})`)
  assert.ok(outbound.open && inbound!.open, 'past deadTimeout, both ends are up')
})
