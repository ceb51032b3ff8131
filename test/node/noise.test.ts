import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadIdentity } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { NoiseHandshake, staticKeys } from '../../src/node/noise.js'
import { ReferenceHandshake } from '../helpers/reference-noise.js'

// The node's own Noise implementation against noise-handshake (the implementation Hyperswarm ships)
// driving the same handshake: they agree on every byte only if ours follows the specification.

interface Side {
  send(payload?: Uint8Array): Buffer
  recv(message: Uint8Array): Buffer
  readonly complete: boolean
  readonly remotePublicKey: Buffer | null
  result(): { tx: Buffer; rx: Buffer; hash: Buffer }
}

const alice = staticKeys(loadIdentity({ seed: 'alice' }))
const bob = staticKeys(loadIdentity({ seed: 'bob' }))
const psk = new NetworkKey('test network').psk

/** Runs the three messages: initiator → responder → initiator. Returns the payloads each side read. */
function run (i: Side, r: Side): { atResponder: string[]; atInitiator: string[] } {
  const atResponder: string[] = []
  const atInitiator: string[] = []
  atResponder.push(r.recv(i.send()).toString())
  atInitiator.push(i.recv(r.send(Buffer.from('hello from the responder'))).toString())
  atResponder.push(r.recv(i.send(Buffer.from('hello from the initiator'))).toString())
  return { atResponder, atInitiator }
}

function agree (i: Side, r: Side): void {
  const { atResponder, atInitiator } = run(i, r)
  assert.deepEqual(atResponder, ['', 'hello from the initiator'])
  assert.deepEqual(atInitiator, ['hello from the responder'])
  assert.ok(i.complete && r.complete)
  assert.deepEqual(i.remotePublicKey, bob.publicKey)
  assert.deepEqual(r.remotePublicKey, alice.publicKey)
  const a = i.result()
  const b = r.result()
  assert.deepEqual(a.tx, b.rx)
  assert.deepEqual(a.rx, b.tx)
  assert.notDeepEqual(a.tx, a.rx)
  assert.deepEqual(a.hash, b.hash)
  assert.equal(a.tx.byteLength, 32)
}

test('our initiator and the reference responder complete the handshake with the same keys and hash', () => {
  agree(new NoiseHandshake(true, alice, psk), new ReferenceHandshake(false, bob, psk))
})

test('the reference initiator and our responder complete the handshake with the same keys and hash', () => {
  agree(new ReferenceHandshake(true, alice, psk), new NoiseHandshake(false, bob, psk))
})

test('our implementation agrees with itself, and two handshakes never share keys (fresh ephemeral keys)', () => {
  const one = [new NoiseHandshake(true, alice, psk), new NoiseHandshake(false, bob, psk)] as const
  const two = [new NoiseHandshake(true, alice, psk), new NoiseHandshake(false, bob, psk)] as const
  agree(...one)
  agree(...two)
  assert.notDeepEqual(one[0].result().tx, two[0].result().tx)
  assert.notDeepEqual(one[0].result().hash, two[0].result().hash)
})

test('a responder with another network key cannot read the first message', () => {
  const other = new NetworkKey('another network').psk
  const i = new NoiseHandshake(true, alice, psk)
  assert.throws(() => new NoiseHandshake(false, bob, other).recv(i.send()))
  assert.throws(() => new ReferenceHandshake(false, bob, other).recv(new NoiseHandshake(true, alice, psk).send()))
})

test('a tampered message does not authenticate, and a short one is refused', () => {
  const i = new NoiseHandshake(true, alice, psk)
  const r = new NoiseHandshake(false, bob, psk)
  r.recv(i.send())
  const m2 = r.send(Buffer.from('x'))
  const tampered = Buffer.from(m2)
  tampered[40] ^= 1
  assert.throws(() => i.recv(tampered))
  assert.throws(() => new NoiseHandshake(false, bob, psk).recv(Buffer.alloc(20)))
})

test('messages out of turn are refused', () => {
  const i = new NoiseHandshake(true, alice, psk)
  assert.throws(() => i.recv(Buffer.alloc(48)), /not our turn/)
  const r = new NoiseHandshake(false, bob, psk)
  assert.throws(() => r.send(), /not our turn/)
  assert.throws(() => i.result(), /not complete/)
})
