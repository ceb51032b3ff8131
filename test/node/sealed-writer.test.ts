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
