import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { simultaneousOpen } from '../../src/node/hole-punch.js'

// The primitive on 127.0.0.1, without the lab: its arguments, its failures and a socket that
// connects to itself (the one simultaneous open a single host can make on its own).

async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => { s.listen(0, '127.0.0.1', resolve) })
  const port = (s.address() as net.AddressInfo).port
  await new Promise((resolve) => { s.close(resolve) })
  return port
}

test('simultaneousOpen rejects bad arguments naming the field', async () => {
  await assert.rejects(simultaneousOpen({ localPort: 0, remote: { host: '127.0.0.1', port: 1 } }), { code: 'ERR_INVALID_ARGUMENT', message: /localPort/ })
  await assert.rejects(simultaneousOpen({ localPort: 5000, remote: { host: '', port: 1 } }), { code: 'ERR_INVALID_ARGUMENT', message: /remote\.host/ })
  await assert.rejects(simultaneousOpen({ localPort: 5000, remote: { host: '127.0.0.1', port: 70000 } }), { code: 'ERR_INVALID_ARGUMENT', message: /remote\.port/ })
  await assert.rejects(simultaneousOpen({ localPort: 5000, remote: { host: '127.0.0.1', port: 1 }, attempts: 0 }), { code: 'ERR_INVALID_ARGUMENT', message: /attempts/ })
})

test('a socket dialling its own port connects by simultaneous open; the port of an open outgoing connection can be bound again', { timeout: 10_000 }, async () => {
  const server = net.createServer((s) => { s.on('error', () => {}) })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = await freePort()
  // An outgoing connection holds the port, as the one that learnt a NAT's mapping would.
  const holder = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, localPort: port })
  await new Promise((resolve) => holder.once('connect', resolve))
  const socket = await simultaneousOpen({ localPort: port, localAddress: '127.0.0.1', remote: { host: '127.0.0.1', port } })
  assert.equal(socket.localPort, port)
  assert.equal(socket.remotePort, port)
  const echoed = new Promise<string>((resolve) => socket.once('data', (b) => { resolve(b.toString()) }))
  socket.write('ping')
  assert.equal(await echoed, 'ping')
  socket.destroy()
  holder.destroy()
  server.close()
})

test('simultaneousOpen fails after its attempts when the other side resets, and at once from a port with a listener', { timeout: 10_000 }, async () => {
  const target = await freePort() // nothing listens there: every SYN is answered with RST
  const local = await freePort()
  const seen: string[] = []
  await assert.rejects(
    simultaneousOpen({ localPort: local, remote: { host: '127.0.0.1', port: target }, attempts: 3, interval: 10, onAttempt: (n, err) => { seen.push(`${n}:${(err as NodeJS.ErrnoException).code}`) } }),
    (err: Error & { code?: string; cause?: { code?: string } }) => err.code === 'ERR_DIAL_FAILED' && err.cause?.code === 'ECONNREFUSED'
  )
  assert.deepEqual(seen, ['1:ECONNREFUSED', '2:ECONNREFUSED', '3:ECONNREFUSED'])
  const listener = net.createServer()
  await new Promise<void>((resolve) => { listener.listen(0, '127.0.0.1', resolve) })
  const listening = (listener.address() as net.AddressInfo).port
  let attempts = 0
  await assert.rejects(
    simultaneousOpen({ localPort: listening, localAddress: '127.0.0.1', remote: { host: '127.0.0.1', port: target }, attempts: 5, onAttempt: () => { attempts++ } }),
    (err: Error & { code?: string; cause?: { code?: string } }) => err.code === 'ERR_DIAL_FAILED' && err.cause?.code === 'EADDRINUSE'
  )
  assert.equal(attempts, 1, 'no retry from a port something listens on')
  listener.close()
})

test('simultaneousOpen stops when its signal aborts, between attempts or during one', { timeout: 10_000 }, async () => {
  const target = await freePort()
  const local = await freePort()
  const ac = new AbortController()
  const p = simultaneousOpen({ localPort: local, remote: { host: '127.0.0.1', port: target }, attempts: 100, interval: 50, signal: ac.signal, onAttempt: (n) => { if (n === 2) ac.abort() } })
  await assert.rejects(p, { code: 'ERR_ABORTED' })
  // During an attempt: a SYN to an address that never answers (TEST-NET-1 is not routed anywhere).
  const ac2 = new AbortController()
  const p2 = simultaneousOpen({ localPort: await freePort(), remote: { host: '192.0.2.1', port: 9 }, attemptTimeout: 60_000, signal: ac2.signal })
  setImmediate(() => { ac2.abort() })
  await assert.rejects(p2, { code: 'ERR_ABORTED' })
})
