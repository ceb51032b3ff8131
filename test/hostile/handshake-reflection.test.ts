import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { parseTcpAddress } from '../../src/node/transport.js'
import { testNode } from '../helpers/nodes.js'
import { until, within } from '../helpers/wait.js'

// Attacks on the handshake with the victim's own identity: a "peer" that reflects the victim's dial
// back to the victim's own listener (so the victim's handshake meets itself), and a listener that
// answers every dial by piping it to the dialer. Noise proves each static key, so nobody can say our
// id; what is left is ourselves: the dialer must find it is talking to itself and stop, and the
// listener must keep nothing.

const T = { timeout: 20_000 }

/** A TCP server that pipes every socket to `target`: what the victim dials reaches its own listener. */
async function reflector (t: Parameters<typeof testNode>[0], target: string): Promise<string> {
  const { host, port } = parseTcpAddress(target)
  const sockets = new Set<net.Socket>()
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host, port })
    for (const s of [inbound, outbound]) { sockets.add(s); s.on('error', () => {}) }
    inbound.pipe(outbound)
    outbound.pipe(inbound)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { for (const s of sockets) s.destroy(); server.close() })
  return `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

test('a dial reflected back to the victim\'s own listener fails with ERR_SELF_DIAL on the dialer\'s side; the victim keeps no connection to itself', T, async (t) => {
  const victim = await testNode(t)
  const mirror = await reflector(t, victim.addresses[0]!)
  const failed: Error[] = []
  victim.events.addEventListener('handshake:failed', (e) => { failed.push(e.detail.error) })
  await assert.rejects(within(victim.manager.connectNow(mirror), 10_000, 'the reflected dial'), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_SELF_DIAL')
  await until(() => victim.stats().pendingHandshakes === 0, 5000, 'the inbound half to end')
  assert.equal(victim.connections().length, 0)
  assert.equal(victim.manager.getPeer(victim.id), undefined, 'the victim learnt itself as a peer')
  // The victim still serves others.
  const other = await testNode(t)
  const c = await other.manager.connectNow(victim.addresses[0]!)
  assert.equal(c.peer, victim.id)
})

test('a victim told to dial its own address with its own id refuses before any socket opens or fails with ERR_SELF_DIAL', T, async (t) => {
  const victim = await testNode(t)
  const err = await victim.manager.connectNow(`${victim.addresses[0]!}#${victim.id}`).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof PeerwardenError, String(err))
  assert.equal(victim.connections().length, 0)
})
