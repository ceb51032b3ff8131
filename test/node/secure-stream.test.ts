import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import c from 'compact-encoding'
import Protomux from 'protomux'
import sodium from 'sodium-native'
import { PeerwardenError } from '../../src/errors.js'
import { loadIdentity } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { staticKeys } from '../../src/node/noise.js'
import { BIG_MESSAGE, MAX_MESSAGE, SecureStream, type ReadMeter, type SecureStreamOptions } from '../../src/node/secure-stream.js'
import { hasCode } from '../helpers/errors.js'
import { until, within } from '../helpers/wait.js'

// The encrypted stream under the node, on a real socket pair on 127.0.0.1.

const T = { timeout: 10_000 }
const dialer = staticKeys(loadIdentity({ seed: 'dialer' }))
const listener = staticKeys(loadIdentity({ seed: 'listener' }))

interface Pair { a: SecureStream; b: SecureStream; aSocket: net.Socket; bSocket: net.Socket }

async function pair (t: TestContext, keys: { a?: string; b?: string } = {}, checkRemote?: (key: Buffer) => void, bOpts: Partial<SecureStreamOptions> = {}): Promise<Pair> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection') as Promise<[net.Socket]>
  const aSocket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const [bSocket] = await accepted
  const a = new SecureStream(true, aSocket, { keys: dialer, psk: new NetworkKey(keys.a).psk, payload: () => Buffer.from('hello from a'), checkRemote })
  const b = new SecureStream(false, bSocket, { keys: listener, psk: new NetworkKey(keys.b).psk, payload: () => Buffer.from('hello from b'), ...bOpts })
  a.on('error', () => {})
  b.on('error', () => {})
  t.after(() => { a.destroy(); b.destroy(); server.close() })
  return { a, b, aSocket, bSocket }
}

test('the handshake exchanges identities and hellos; messages arrive in order once resumed, never before', T, async (t) => {
  const { a, b } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  assert.deepEqual(a.remotePublicKey, listener.publicKey)
  assert.deepEqual(b.remotePublicKey, dialer.publicKey)
  assert.equal(a.remotePayload!.toString(), 'hello from b')
  assert.equal(b.remotePayload!.toString(), 'hello from a')
  assert.deepEqual(a.handshakeHash, b.handshakeHash)
  const got: string[] = []
  b.on('data', (d: Buffer) => { got.push(d.toString()) })
  for (const m of ['one', 'two', 'three']) a.write(Buffer.from(m))
  const big = a.alloc(200_000)
  big.fill(7)
  a.write(big) // encrypted in place, split across socket reads on the way
  a.keepAlive() // not delivered
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(got.length, 0, 'a new stream is paused until its owner resumes it')
  b.resume()
  await until(() => got.length === 4, 5000, 'the messages')
  assert.deepEqual(got.slice(0, 3), ['one', 'two', 'three'])
  assert.equal(got[3].length, 200_000)
})

test('a frame that does not authenticate destroys the stream and is never delivered', T, async (t) => {
  const { a, b, aSocket } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const got: Buffer[] = []
  b.on('data', (d: Buffer) => { got.push(d) })
  b.resume()
  const forged = Buffer.alloc(4 + 5 + 16, 1)
  forged.writeUInt32LE(5 + 16, 0)
  aSocket.write(forged) // straight onto the socket: not sealed with the session key
  await within(new Promise((resolve) => { b.once('close', resolve) }), 5000, 'the listener to drop the connection')
  assert.equal(b.destroyed, true)
  assert.deepEqual(got, [])
})

test('keep-alives reach the keep-alive listener, never \'data\', between messages; a forged one destroys the stream', T, async (t) => {
  const { a, b, aSocket } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const got: string[] = []
  let heard = 0
  b.keepAliveListener = { heard: () => { heard++ } }
  b.on('data', (d: Buffer) => { got.push(d.toString()) })
  b.resume()
  a.keepAlive()
  a.write(Buffer.from('one'))
  a.keepAlive()
  a.write(Buffer.alloc(0)) // an empty message is a keep-alive, whoever writes it
  a.write(Buffer.from('two'))
  await until(() => got.length === 2 && heard === 3, 5000, 'the messages and keep-alives')
  assert.deepEqual(got, ['one', 'two'])
  const forged = Buffer.alloc(4 + 16, 1)
  forged.writeUInt32LE(16, 0)
  aSocket.write(forged) // a keep-alive's length, not sealed with the session key
  await within(new Promise((resolve) => { b.once('close', resolve) }), 5000, 'the listener to drop the connection')
  assert.equal(heard, 3, 'the forged keep-alive was not heard')
})

test('different network keys: the listener refuses the first message and both sides fail with ERR_NETWORK_KEY', T, async (t) => {
  const { a, b } = await pair(t, { a: 'one', b: 'two' })
  await assert.rejects(within(b.opened, 5000, 'the listener'), hasCode('ERR_NETWORK_KEY'))
  await assert.rejects(within(a.opened, 5000, 'the dialer'), hasCode('ERR_NETWORK_KEY'))
  assert.equal(a.remotePayload, null, 'the dialer never read a hello')
  assert.equal(b.remotePayload, null)
})

test('the dialer refuses an unexpected listener key before it sends its own identity', T, async (t) => {
  const { a, b } = await pair(t, {}, () => { throw new PeerwardenError('ERR_PEER_MISMATCH', 'not the peer we meant') })
  await assert.rejects(within(a.opened, 5000, 'the dialer'), hasCode('ERR_PEER_MISMATCH'))
  await assert.rejects(within(b.opened, 5000, 'the listener'), hasCode('ERR_CONNECTION_CLOSED'))
  assert.equal(b.remotePublicKey, null, 'the listener never learnt who dialled')
})

test('big messages (sealed by OpenSSL) and small ones (libsodium) interleave in order, and are the same cipher on the wire', T, async (t) => {
  const { a, b, aSocket } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  // What leaves the dialer's socket, chunk by chunk (a big message is header, ciphertext, tag).
  const wire: Buffer[] = []
  const write = aSocket.write.bind(aSocket) as (chunk: Buffer) => boolean
  aSocket.write = ((chunk: Buffer) => { wire.push(Buffer.from(chunk)); return write(chunk) }) as typeof aSocket.write
  const got: Buffer[] = []
  b.on('data', (d: Buffer) => { got.push(d) })
  b.resume()
  const sizes = [10, BIG_MESSAGE - 1, BIG_MESSAGE, 3, 65536, 1, 300_000]
  const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1))
  for (const m of sent) a.write(m)
  await until(() => got.length === sent.length, 5000, 'the messages')
  assert.deepEqual(got.map((d) => d.byteLength), sizes)
  for (let i = 0; i < sent.length; i++) assert.ok(got[i].equals(sent[i]), `message ${i} intact`)
  // The 65536-byte message (nonce 4, counting from 0): libsodium opens what OpenSSL sealed.
  const at = wire.findIndex((c) => c.byteLength === 65536)
  assert.ok(at > 0, 'the big message left as its own ciphertext chunk')
  const nonce = Buffer.alloc(12)
  nonce.writeUInt32LE(4, 4)
  const plain = Buffer.alloc(65536)
  sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(plain, null, wire[at], wire[at + 1], null, nonce, (a as unknown as { cipher: { tx: Buffer } }).cipher.tx)
  assert.ok(plain.equals(sent[4]))
})

test('a big frame that does not authenticate destroys the stream and is never delivered', T, async (t) => {
  const { a, b, aSocket } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const write = aSocket.write.bind(aSocket) as (chunk: Buffer) => boolean
  aSocket.write = ((chunk: Buffer) => {
    if (chunk.byteLength >= BIG_MESSAGE) chunk[100] ^= 1 // one bit of the ciphertext, on the way
    return write(chunk)
  }) as typeof aSocket.write
  const got: Buffer[] = []
  b.on('data', (d: Buffer) => { got.push(d) })
  b.resume()
  a.write(Buffer.alloc(BIG_MESSAGE * 2, 9))
  await within(new Promise((resolve) => { b.once('close', resolve) }), 5000, 'the listener to drop the connection')
  assert.deepEqual(got, [])
})

test('a paused stream queues at most maxQueuedBytes plus one message, then pauses its socket; resume delivers everything in order', T, async (t) => {
  const meter: ReadMeter = { queuedBytes: 0, discardedBytes: 0, queuePauses: 0, receivingBytes: 0 }
  const { a, b, bSocket } = await pair(t, {}, undefined, { maxQueuedBytes: 1024 * 1024, meter })
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const MiB = 1024 * 1024
  for (let i = 0; i < 20; i++) a.write(Buffer.alloc(MiB / 4, i)) // 5 MiB in 20 messages: under the count of 64
  await until(() => bSocket.isPaused(), 5000, 'the listener to pause its socket')
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.ok(b.queuedBytes <= MiB + MiB / 4, `${b.queuedBytes} bytes queued`)
  assert.equal(meter.queuedBytes, b.queuedBytes)
  assert.equal(meter.queuePauses, 1)
  const got: number[] = []
  b.on('data', (d: Buffer) => { got.push(d[0]) })
  b.resume()
  await until(() => got.length === 20, 5000, 'every message')
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i))
  assert.equal(meter.queuedBytes, 0)
})

test('an ended stream reads nothing more into memory: what arrives after end() is discarded undecrypted, and what was written before end() reaches the remote', T, async (t) => {
  const meter: ReadMeter = { queuedBytes: 0, discardedBytes: 0, queuePauses: 0, receivingBytes: 0 }
  const { a, b, aSocket } = await pair(t, {}, undefined, { meter })
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  a.write(Buffer.from('queued before the end')) // b is paused: this one waits in its queue
  await until(() => b.queuedBytes > 0, 5000, 'the first message to be queued')
  const heard: string[] = []
  a.on('data', (d: Buffer) => { heard.push(d.toString()) })
  a.resume()
  b.write(Buffer.from('why we close'))
  b.end()
  assert.equal(b.queuedBytes, 0, 'the queue is dropped at the end')
  assert.equal(meter.queuedBytes, 0)
  // The remote ignores our FIN (a half-open socket) and keeps sending.
  aSocket.allowHalfOpen = true
  for (let i = 0; i < 16; i++) a.write(Buffer.alloc(256 * 1024, 1))
  await until(() => meter.discardedBytes >= 16 * 256 * 1024, 5000, 'what arrives after the end to be discarded')
  assert.equal(b.queuedBytes, 0)
  assert.equal(meter.queuedBytes, 0)
  await until(() => heard.length === 1, 5000, 'the remote to read the message written before the end')
  assert.deepEqual(heard, ['why we close'])
})

test('a message over MAX_MESSAGE destroys the stream with ERR_MESSAGE_TOO_LARGE instead of throwing (it could throw out of an end-of-tick flush)', T, async (t) => {
  const { a, b } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const errors: unknown[] = []
  a.on('error', (err) => { errors.push(err) })
  let wrote: boolean | undefined
  assert.doesNotThrow(() => { wrote = a.write(Buffer.alloc(MAX_MESSAGE + 1)) })
  assert.equal(wrote, false)
  assert.equal(a.destroyed, true)
  assert.ok(errors.some((e) => hasCode('ERR_MESSAGE_TOO_LARGE')(e)))
  await within(new Promise((resolve) => { b.once('close', resolve) }), 5000, 'the remote to see the connection go')
})

test('a peer that announces a 16 MiB frame and trickles makes the stream hold what it sent (at most 1 MiB or 4 × that), not what it announced', T, async (t) => {
  const meter: ReadMeter = { queuedBytes: 0, discardedBytes: 0, queuePauses: 0, receivingBytes: 0 }
  const { a, b, aSocket } = await pair(t, {}, undefined, { meter })
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const header = Buffer.alloc(4)
  header.writeUInt32LE(MAX_MESSAGE + 16, 0) // the largest frame there is
  aSocket.write(header)
  aSocket.write(Buffer.alloc(100_000, 1)) // straight onto the socket: it never completes
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.ok(b.partialBytes > 0 && b.partialBytes <= 1024 * 1024, `${b.partialBytes} bytes held for the frame`)
  aSocket.write(Buffer.alloc(3 * 1024 * 1024, 2))
  await until(() => b.partialBytes > 1024 * 1024, 5000, 'the buffer to grow with what arrived')
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.ok(b.partialBytes <= 4 * (3 * 1024 * 1024 + 100_000), `${b.partialBytes} bytes held for the frame`)
  assert.equal(meter.receivingBytes, b.partialBytes)
  b.destroy()
  assert.equal(meter.receivingBytes, 0)
})

test('frames over 1 MiB, whose buffer grows as they arrive, are delivered intact up to MAX_MESSAGE', T, async (t) => {
  const { a, b } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const got: Buffer[] = []
  b.on('data', (d: Buffer) => { got.push(d) })
  b.resume()
  const sizes = [1024 * 1024 + 1, 5 * 1024 * 1024 + 3, MAX_MESSAGE]
  const sent = sizes.map((n, i) => { const m = Buffer.allocUnsafe(n); for (let j = 0; j < n; j += 4096) m[j] = (i + j) & 0xff; m[n - 1] = i; return m })
  for (const m of sent) a.write(m)
  await until(() => got.length === sent.length, 10_000, 'the messages')
  for (let i = 0; i < sent.length; i++) assert.ok(got[i].equals(sent[i]), `message ${i} of ${sizes[i]} bytes intact`)
})

test('messages through Protomux, big ones in a corked batch then one after another, arrive intact: the shared scratch buffers (sending, receiving) never hand one message\'s bytes to another', T, async (t) => {
  const { a, b } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  const ma = new Protomux(a)
  const mb = new Protomux(b)
  const got: Buffer[] = []
  mb.pair({ protocol: 'scratch-test' }, () => {
    const ch = mb.createChannel({ protocol: 'scratch-test' })!
    ch.addMessage({ encoding: c.raw, onmessage: (m: Buffer) => { got.push(m) } }) // kept, not copied
    ch.open()
  })
  b.resume()
  a.resume()
  const ch = ma.createChannel({ protocol: 'scratch-test' })!
  const send = ch.addMessage({ encoding: c.raw })
  ch.open()
  const sizes = [64 * 1024, 100_000, 20, 64 * 1024, BIG_MESSAGE, 250_000, 64 * 1024, 64 * 1024, 5, 200_000]
  const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1))
  ma.cork()
  send.send(sent[0])
  send.send(sent[1]) // two big messages encoded before either is written
  send.send(sent[2])
  ma.uncork()
  for (const m of sent.slice(3)) send.send(m)
  await until(() => got.length === sent.length, 5000, 'the messages')
  for (let i = 0; i < sent.length; i++) assert.ok(got[i].equals(sent[i]), `message ${i} of ${sizes[i]} bytes intact`)
})

test('small messages split across reads (gathered in the shared scratch buffer, opened in place) are copied out: each kept message keeps its bytes', T, async (t) => {
  const { a, b, aSocket } = await pair(t)
  await within(Promise.all([a.opened, b.opened]), 5000, 'the handshake')
  aSocket.setNoDelay(true)
  const got: Buffer[] = []
  b.on('data', (d: Buffer) => { got.push(d) }) // kept, not copied
  b.resume()
  // What the dialer writes is held back, then sent in 37-byte pieces a few ms apart: every frame is split.
  const held: Buffer[] = []
  const write = aSocket.write.bind(aSocket) as (chunk: Buffer) => boolean
  aSocket.write = ((chunk: Buffer) => { held.push(Buffer.from(chunk)); return true }) as typeof aSocket.write
  const sent = Array.from({ length: 6 }, (_, i) => Buffer.alloc(100, i + 1))
  for (const m of sent) a.write(m)
  const wire = Buffer.concat(held)
  for (let at = 0; at < wire.length; at += 37) {
    write(wire.subarray(at, at + 37))
    await new Promise((resolve) => setTimeout(resolve, 3))
  }
  await until(() => got.length === sent.length, 5000, 'the messages')
  for (let i = 0; i < sent.length; i++) assert.ok(got[i].equals(sent[i]), `message ${i} intact`)
})

test('remoteHost, the IP the queue budget counts a connection\'s range by, is in canonical form: an IPv4 address written as IPv6 is that IPv4 address', () => {
  const host = (remoteAddress: string | undefined): string | undefined => {
    const socket = Object.assign(new EventEmitter(), { remoteAddress })
    return new SecureStream(false, socket as unknown as net.Socket, { keys: listener, psk: new NetworkKey().psk, payload: () => Buffer.alloc(0) }).remoteHost
  }
  assert.equal(host('::ffff:192.0.2.1'), '192.0.2.1')
  assert.equal(host('::FFFF:c000:201'), '192.0.2.1') // the mapped form in hex, upper-case: the old prefix strip left it IPv6
  assert.equal(host('2001:DB8:0:0::1'), '2001:db8::1')
  assert.equal(host(undefined), undefined)
})
