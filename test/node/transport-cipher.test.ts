import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BIG_MESSAGE, TAG, TransportCipher } from '../../src/node/transport-cipher.js'
import { hasCode } from '../helpers/errors.js'

// The two ends of one connection: what one sends with, the other receives with.
function pair (): { a: TransportCipher; b: TransportCipher } {
  const k1 = Buffer.alloc(32, 1)
  const k2 = Buffer.alloc(32, 2)
  return { a: new TransportCipher(k1, k2), b: new TransportCipher(k2, k1) }
}

/** A's sealed frame for `msg` (ciphertext then tag), whichever path seals it. */
function seal (a: TransportCipher, msg: Buffer): Buffer {
  if (TransportCipher.isBig(msg.byteLength)) return Buffer.concat(a.sealBig(msg))
  const frame = Buffer.alloc(msg.byteLength + TAG)
  msg.copy(frame)
  a.sealInPlace(frame, 0, msg.byteLength)
  return frame
}

test('what one end seals the other opens, small (libsodium) and big (OpenSSL) messages in turn', () => {
  const { a, b } = pair()
  for (const size of [0, 1, 100, BIG_MESSAGE - 1, BIG_MESSAGE, 70_000, 5]) {
    const msg = Buffer.alloc(size, size % 251)
    const frame = seal(a, msg)
    assert.equal(frame.byteLength, size + TAG)
    if (size > 0) assert.ok(!frame.subarray(0, size).equals(msg), `${size} bytes are encrypted`)
    assert.ok(b.open(frame).equals(msg), `${size} bytes come back`)
  }
})

test('a frame shorter than its tag, a changed bit, or a frame out of order is refused with ERR_PROTOCOL', () => {
  const { a, b } = pair()
  assert.throws(() => b.open(Buffer.alloc(TAG - 1)), hasCode('ERR_PROTOCOL', /shorter than its tag/))
  const { a: a2, b: b2 } = pair()
  const f = seal(a2, Buffer.from('hello'))
  f[0] ^= 1
  assert.throws(() => b2.open(f), hasCode('ERR_PROTOCOL', /authenticate/))
  // Nonces count per direction: the second frame cannot be opened first.
  const first = seal(a, Buffer.from('one'))
  const second = seal(a, Buffer.from('two'))
  assert.throws(() => b.open(second), hasCode('ERR_PROTOCOL'))
  const { b: fresh } = pair()
  assert.equal(fresh.open(first).toString(), 'one', 'in order, the same frame opens')
})

test('a keep-alive sealed by sealEmpty is the empty message sealInPlace makes, opened by open and openEmpty alike, each taking its nonce', () => {
  const { a, b } = pair()
  const { a: a2 } = pair()
  const msgs: Buffer[] = []
  for (let i = 0; i < 3; i++) {
    const tag = Buffer.alloc(TAG)
    a.sealEmpty(tag)
    assert.ok(tag.equals(seal(a2, Buffer.alloc(0))), `keep-alive ${i}: the same bytes as an empty message sealed in place`)
    msgs.push(tag)
  }
  b.openEmpty(msgs[0])
  assert.equal(b.open(msgs[1]).byteLength, 0)
  b.openEmpty(msgs[2])
  // Nonces stay in step with the other paths: a message after the keep-alives still opens.
  assert.ok(b.open(seal(a, Buffer.from('after'))).equals(Buffer.from('after')))
})

test('openEmpty refuses a changed keep-alive, or one replayed, with ERR_PROTOCOL', () => {
  const { a, b } = pair()
  const tag = Buffer.alloc(TAG)
  a.sealEmpty(tag)
  const changed = Buffer.from(tag)
  changed[3] ^= 1
  assert.throws(() => { b.openEmpty(changed) }, hasCode('ERR_PROTOCOL', /authenticate/))
  const { a: a2, b: b2 } = pair()
  const first = Buffer.alloc(TAG)
  a2.sealEmpty(first)
  b2.openEmpty(first)
  assert.throws(() => { b2.openEmpty(first) }, hasCode('ERR_PROTOCOL', /authenticate/), 'the second nonce does not open the first keep-alive again')
})
