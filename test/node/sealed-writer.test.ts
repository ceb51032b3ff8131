import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { FrameReader } from '../../src/node/frame-reader.js'
import { SCRATCH_BYTES, SealedWriter } from '../../src/node/sealed-writer.js'
import { TransportCipher } from '../../src/node/transport-cipher.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// The sealing write side on its own: a socket that keeps every buffer it is given (no copy, as a
// real socket's queue does), and the other end's cipher to open what was written.

const key = (): Buffer => randomBytes(32)

function sides (): { writer: SealedWriter; cipher: TransportCipher; written: Buffer[]; opened: () => Buffer[] } {
  const tx = key()
  const rx = key()
  const written: Buffer[] = []
  const socket = { writableLength: 0, write: (b: Buffer) => { written.push(b); return true }, cork: () => {}, uncork: () => {} }
  const writer = new SealedWriter(socket as unknown as ConstructorParameters<typeof SealedWriter>[0], new ManualClock())
  const opened = (): Buffer[] => {
    const remote = new TransportCipher(rx, tx)
    const out: Buffer[] = []
    new FrameReader({ limit: 1 << 24 }).read(Buffer.concat(written), (f) => { out.push(Buffer.from(remote.open(f))); return true })
    return out
  }
  return { writer, cipher: new TransportCipher(tx, rx), written, opened }
}

test('two big messages in a row, each encoded in the shared scratch buffer, arrive intact (nothing written aliases the scratch)', () => {
  const { writer, cipher, opened } = sides()
  const a = writer.alloc(64 * 1024)
  a.fill(1)
  writer.seal(cipher, a)
  const b = writer.alloc(64 * 1024)
  assert.equal(b.buffer, a.buffer, 'the scratch is reused once the first message is sealed')
  b.fill(2)
  writer.seal(cipher, b)
  const [first, second] = opened()
  assert.ok(first.equals(Buffer.alloc(64 * 1024, 1)), 'the first message is not overwritten by the second')
  assert.ok(second.equals(Buffer.alloc(64 * 1024, 2)))
})

test('big messages encoded before either is sealed (a corked batch) each keep their own bytes', () => {
  const { writer, cipher, opened } = sides()
  const a = writer.alloc(20_000)
  a.fill(1)
  const b = writer.alloc(SCRATCH_BYTES)
  b.fill(2)
  assert.notEqual(b.buffer, a.buffer, 'a view still lent keeps its memory')
  writer.seal(cipher, a)
  writer.seal(cipher, b)
  const c = writer.alloc(30_000) // the scratch is free again once sealed
  assert.equal(c.buffer, b.buffer)
  c.fill(3)
  writer.seal(cipher, c)
  assert.deepEqual(opened().map((m) => [m.length, m[0], m[m.length - 1]]), [[20_000, 1, 1], [SCRATCH_BYTES, 2, 2], [30_000, 3, 3]])
})

test('small messages get a frame of their own (sealed in place); a message over SCRATCH_BYTES too', () => {
  const { writer, cipher, written, opened } = sides()
  const small = writer.alloc(100)
  small.fill(4)
  writer.seal(cipher, small)
  const big = writer.alloc(SCRATCH_BYTES + 1)
  big.fill(5)
  const other = writer.alloc(64 * 1024)
  assert.notEqual(other.buffer, big.buffer)
  writer.seal(cipher, big)
  writer.drop(other) // never sealed: its scratch view is free again
  assert.equal(writer.alloc(64 * 1024).buffer, other.buffer)
  assert.equal(written[0].buffer, small.buffer, 'a small message is sealed in the frame alloc() handed out')
  assert.deepEqual(opened().map((m) => [m.length, m[0]]), [[100, 4], [SCRATCH_BYTES + 1, 5]])
})

/** A socket that copies what it can send at once (as the kernel does) and holds the rest by reference, as node:net's queue does. */
function socketSending (sendsAtOnce: () => boolean): { socket: ConstructorParameters<typeof SealedWriter>[0]; wire: Buffer[]; held: Buffer[] } {
  const wire: Buffer[] = []
  const held: Buffer[] = []
  const socket = {
    get writableLength () { return held.reduce((n, b) => n + b.byteLength, 0) },
    write: (b: Buffer) => {
      if (sendsAtOnce()) wire.push(Buffer.from(b))
      else held.push(b)
      return true
    }
  }
  return { socket: socket as unknown as ConstructorParameters<typeof SealedWriter>[0], wire, held }
}

test('keep-alives reuse one frame once the socket took it, and never seal into one a socket still holds (each opens in turn)', () => {
  const tx = key()
  const rx = key()
  const cipher = new TransportCipher(tx, rx)
  let atOnce = true
  const { socket, wire, held } = socketSending(() => atOnce)
  const writer = new SealedWriter(socket, new ManualClock())
  const empty = new Uint8Array(0)
  writer.seal(cipher, empty)
  writer.seal(cipher, empty)
  atOnce = false // the socket's buffer is full: it holds the next frames until sent
  writer.seal(cipher, empty)
  writer.seal(cipher, empty)
  assert.equal(held.length, 2)
  assert.notEqual(held[0], held[1], 'a frame a socket holds is not sealed into again')
  const remote = new TransportCipher(rx, tx)
  const frames = [...wire, ...held]
  assert.equal(frames.length, 4)
  for (const [i, f] of frames.entries()) {
    assert.equal(f.readUInt32LE(0), 16, `keep-alive ${i}: the length prefix of an empty message`)
    assert.doesNotThrow(() => { remote.openEmpty(f.subarray(4)) }, `keep-alive ${i} authenticates with its own nonce`)
  }
})

test('a keep-alive allocates no frame while sockets take them at once: one frame serves every connection', () => {
  const written: Buffer[] = []
  const socket = { writableLength: 0, write: (b: Buffer) => { written.push(b); return true } }
  const a = new SealedWriter(socket as unknown as ConstructorParameters<typeof SealedWriter>[0], new ManualClock())
  const b = new SealedWriter(socket as unknown as ConstructorParameters<typeof SealedWriter>[0], new ManualClock())
  a.seal(new TransportCipher(key(), key()), new Uint8Array(0))
  b.seal(new TransportCipher(key(), key()), new Uint8Array(0))
  a.seal(new TransportCipher(key(), key()), new Uint8Array(0))
  assert.equal(written.length, 3)
  assert.ok(written.every((f) => f === written[0]), 'the same frame each time')
})
