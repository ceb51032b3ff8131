import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FrameReader, HEADER, SCRATCH_BYTES } from '../../src/node/frame-reader.js'

// The secure stream's framing on its own: bytes in, frames out (4-byte little-endian length, then the bytes).

function frame (body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body
  const header = Buffer.alloc(HEADER)
  header.writeUInt32LE(b.byteLength, 0)
  return Buffer.concat([header, b])
}

/** Feeds `chunks` in order; returns the frames (as strings) and each read's result. */
function feed (chunks: Buffer[], opts: { limit?: number; stopAfter?: number } = {}): { frames: string[]; reads: number[]; reader: FrameReader; held: number } {
  let held = 0
  const reader = new FrameReader({ limit: opts.limit ?? 1 << 20, onHolding: (d) => { held += d } })
  const frames: string[] = []
  const reads = chunks.map((c) => reader.read(c, (f) => {
    frames.push(f.toString())
    return opts.stopAfter === undefined || frames.length < opts.stopAfter
  }))
  return { frames, reads, reader, held }
}

const wire = Buffer.concat([frame('one'), frame(''), frame('three'), frame('x'.repeat(300))])
const expected = ['one', '', 'three', 'x'.repeat(300)]

const splits: Array<{ name: string; chunks: Buffer[] }> = [
  { name: 'many frames in one chunk', chunks: [wire] },
  { name: 'one byte at a time (every header and frame split)', chunks: [...wire].map((b) => Buffer.from([b])) },
  { name: 'a header split after 1, 2 and 3 bytes', chunks: [wire.subarray(0, 1), wire.subarray(1, 3), wire.subarray(3, 6), wire.subarray(6)] },
  { name: 'a frame split mid-body, the next header in the same chunk', chunks: [wire.subarray(0, 5), wire.subarray(5, 13), wire.subarray(13)] },
  { name: 'chunks of 7 bytes', chunks: Array.from({ length: Math.ceil(wire.length / 7) }, (_, i) => wire.subarray(i * 7, i * 7 + 7)) },
  { name: 'an empty chunk between two halves', chunks: [wire.subarray(0, 20), Buffer.alloc(0), wire.subarray(20)] }
]

for (const { name, chunks } of splits) {
  test(`frames come out whole and in order however the bytes are cut: ${name}`, () => {
    const { frames, reads, held } = feed(chunks)
    assert.deepEqual(frames, expected)
    for (const unread of reads) assert.equal(unread, 0)
    assert.equal(held, 0, 'nothing held once every frame is out')
  })
}

test('a zero-length frame is a frame (empty), also when its header ends the chunk', () => {
  assert.deepEqual(feed([frame('')]).frames, [''])
  assert.deepEqual(feed([Buffer.alloc(2), Buffer.alloc(2)]).frames, [''])
})

test('a partial header or a partial frame yields nothing until the rest arrives', () => {
  const f = frame('hello')
  const { reader } = feed([])
  const out: string[] = []
  const push = (b: Buffer): void => { reader.read(b, (x) => { out.push(x.toString()); return true }) }
  push(f.subarray(0, 3))
  assert.deepEqual(out, [])
  push(f.subarray(3, 6))
  assert.deepEqual(out, [])
  assert.equal(reader.holding, 5, 'the frame\'s buffer is held')
  push(f.subarray(6))
  assert.deepEqual(out, ['hello'])
  assert.equal(reader.holding, 0)
})

test('a frame wholly inside a chunk is a view into it (decrypted in place), a split one is gathered in the shared scratch buffer and lent for the call', () => {
  const chunk = frame('abc')
  let seen: Buffer | undefined
  let seenLent: boolean | undefined
  new FrameReader({ limit: 10 }).read(chunk, (f, lent) => { seen = f; seenLent = lent; return true })
  chunk[HEADER] = 0x7a
  assert.equal(seen!.toString(), 'zbc', 'the frame shares the chunk\'s bytes')
  assert.equal(seenLent, false)
  const again = frame('abc')
  const reader = new FrameReader({ limit: 10 })
  reader.read(again.subarray(0, 5), () => true)
  reader.read(again.subarray(5), (f, lent) => { seen = f; seenLent = lent; return true })
  again[HEADER] = 0x7a
  assert.equal(seen!.toString(), 'abc', 'a gathered frame is not a view of the chunk')
  assert.equal(seenLent, true)
  // The scratch is reused by the next split frame: a lent frame is valid only during onFrame.
  const next = frame('xyz')
  reader.read(next.subarray(0, 5), () => true)
  reader.read(next.subarray(5), (f) => { assert.equal(f.buffer, seen!.buffer, 'the same scratch buffer'); return true })
  assert.equal(seen!.toString(), 'xyz')
})

test('one reader at a time holds the scratch buffer: another reader\'s split frame meanwhile gets a buffer of its own, and reset() gives the scratch back', () => {
  const first = new FrameReader({ limit: 10 })
  const second = new FrameReader({ limit: 10 })
  const a = frame('hello')
  const b = frame('world')
  first.read(a.subarray(0, 6), () => true) // holds the scratch from its frame's first byte
  const out: Array<[string, boolean]> = []
  let kept: Buffer | undefined
  second.read(b.subarray(0, 6), () => true)
  second.read(b.subarray(6), (f, lent) => { kept = f; out.push([f.toString(), lent]); return true })
  first.read(a.subarray(6), (f, lent) => { out.push([f.toString(), lent]); return true })
  assert.deepEqual(out, [['world', false], ['hello', true]])
  assert.equal(kept!.toString(), 'world', 'a frame of its own outlives the call')
  // A reader reset with a partial frame gives the scratch back.
  first.read(a.subarray(0, 6), () => true)
  first.reset()
  second.read(b.subarray(0, 6), () => true)
  second.read(b.subarray(6), (f, lent) => { out.push([f.toString(), lent]); return true })
  assert.deepEqual(out.at(-1), ['world', true])
  // A split frame over SCRATCH_BYTES gets a buffer of its own.
  const big = frame(Buffer.alloc(SCRATCH_BYTES + 1, 1))
  const reader = new FrameReader({ limit: SCRATCH_BYTES + 1 })
  reader.read(big.subarray(0, 10), () => true)
  reader.read(big.subarray(10), (f, lent) => { out.push([String(f.byteLength), lent]); return true })
  assert.deepEqual(out.at(-1), [String(SCRATCH_BYTES + 1), false])
})

const oversize: Array<{ name: string; chunks: Buffer[]; frames: string[]; length: number }> = [
  { name: 'in one chunk', chunks: [Buffer.concat([frame('ok'), frame('x'.repeat(11))])], frames: ['ok'], length: 11 },
  { name: 'with a split header', chunks: [frame('x'.repeat(11)).subarray(0, 2), frame('x'.repeat(11)).subarray(2)], frames: [], length: 11 },
  { name: 'announcing 4 GiB', chunks: [Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])], frames: [], length: 0xffffffff }
]

for (const c of oversize) {
  test(`a frame over the limit stops the read with oversize, nothing allocated for it: ${c.name}`, () => {
    const { frames, reader, held } = feed(c.chunks, { limit: 10 })
    assert.deepEqual(frames, c.frames)
    assert.deepEqual(reader.oversize, { length: c.length, limit: 10 })
    assert.equal(held, 0)
    assert.equal(reader.read(frame('ok'), () => { throw new Error('no frame after an oversize one') }), 6, 'nothing more is taken')
    reader.reset()
    assert.equal(reader.oversize, undefined)
    const after: string[] = []
    reader.read(frame('ok'), (f) => { after.push(f.toString()); return true })
    assert.deepEqual(after, ['ok'], 'frames again after reset()')
  })
}

test('exactly the limit is taken; the limit changed between frames applies to the next header', () => {
  const reader = new FrameReader({ limit: 3 })
  const out: string[] = []
  const r = reader.read(Buffer.concat([frame('abc'), frame('defgh')]), (f) => {
    out.push(f.toString())
    reader.limit = 5 // as the stream does when its handshake completes
    return true
  })
  assert.deepEqual(out, ['abc', 'defgh'])
  assert.equal(r, 0)
  assert.equal(reader.oversize, undefined)
})

test('onFrame returning false stops the read at once and says how much of the chunk was not looked at', () => {
  const { frames, reads } = feed([wire], { stopAfter: 2 })
  assert.deepEqual(frames, ['one', ''])
  assert.equal(reads[0], wire.length - (HEADER + 3) - HEADER)
  const split = feed([wire.subarray(0, 5), wire.subarray(5)], { stopAfter: 1 })
  assert.deepEqual(split.frames, ['one'])
  assert.equal(split.reads[1], wire.length - (HEADER + 3))
})

test('a big split frame is held at 1 MiB first, then grows fourfold with what arrives, never past its length', () => {
  const length = 16 * 1024 * 1024
  const header = Buffer.alloc(HEADER)
  header.writeUInt32LE(length, 0)
  const sizes: number[] = []
  let held = 0
  const reader = new FrameReader({ limit: length, onHolding: (d) => { held += d; sizes.push(held) } })
  const piece = Buffer.alloc(512 * 1024, 7)
  reader.read(header, () => true)
  assert.equal(reader.holding, 1024 * 1024, 'announcing 16 MiB costs 1 MiB')
  let frames = 0
  for (let sent = 0; sent < length; sent += piece.length) reader.read(piece, () => { frames++; return true })
  assert.equal(frames, 1)
  assert.deepEqual(sizes, [1 << 20, 4 << 20, 16 << 20, 0])
  assert.equal(held, 0)
})

test('reset() drops a partial frame and a partial header', () => {
  const f = frame('hello')
  let held = 0
  const reader = new FrameReader({ limit: 10, onHolding: (d) => { held += d } })
  reader.read(f.subarray(0, 6), () => true)
  assert.equal(held, 5)
  reader.reset()
  assert.equal(held, 0)
  assert.equal(reader.holding, 0)
  reader.read(Buffer.from([1, 0]), () => true) // half a header
  reader.reset()
  const out: string[] = []
  reader.read(frame('ab'), (x) => { out.push(x.toString()); return true })
  assert.deepEqual(out, ['ab'])
})
