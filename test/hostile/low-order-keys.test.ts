import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { test } from 'node:test'
import { discoveryKey } from '../../src/node/discovery-key.js'
import { loadIdentity } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { NoiseHandshake, staticKeys, type StaticKeys } from '../../src/node/noise.js'
import { handshakeFrame } from '../../src/node/secure-handshake.js'
import { parseTcpAddress } from '../../src/node/tcp-address.js'
import sodium from '../../src/node/vendor/sodium-native.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// The dialer's first handshake message is its ephemeral X25519 key and nothing anybody can check
// (the network key of the public network is public). The listener's answer computes X25519 with it
// (ee, es); a key of small order makes the result all zeros, which libsodium refuses by throwing.
// That throw left the listener's socket data handler: one 48-byte message ended the process.

/** The u-coordinates of small order on Curve25519 (libsodium's list): 0, 1, two of order 8, p − 1, p, p + 1. */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
].map((hex) => Buffer.from(hex, 'hex'))

/** The dialer's first message with `ephemeral` as its key: what the real handshake sends, the key swapped. */
function firstMessage (ephemeral: Buffer): Buffer {
  const keypair = sodium.crypto_box_keypair
  sodium.crypto_box_keypair = (pk, sk) => { keypair(pk, sk); pk.set(ephemeral) }
  try {
    return new NoiseHandshake(true, staticKeys(loadIdentity({ seed: randomBytes(32).toString('hex') })), new NetworkKey(undefined).psk).send()
  } finally {
    sodium.crypto_box_keypair = keypair
  }
}

/**
 * A socket from 127.0.0.2 that writes `first`, then hands each complete frame the victim sends to
 * `answer` (what it returns is written); resolves once the victim closed it, with the bytes it sent.
 */
async function exchange (address: string, first: Buffer, answer: (frame: Buffer) => Buffer | undefined = () => undefined): Promise<number> {
  const { host, port } = parseTcpAddress(address)
  return await new Promise((resolve) => {
    let got = 0
    let pending = Buffer.alloc(0)
    const s = net.connect({ host, port, localAddress: '127.0.0.2' }, () => { s.write(first) })
    s.on('data', (d: Buffer) => {
      got += d.byteLength
      pending = Buffer.concat([pending, d])
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)) {
        const frame = pending.subarray(4, 4 + pending.readUInt32LE(0))
        pending = pending.subarray(4 + frame.length)
        const next = answer(frame)
        if (next !== undefined) s.write(next)
      }
    })
    s.on('error', () => {})
    s.on('close', () => { resolve(got) })
  })
}

test('a first handshake message whose ephemeral key is of small order (7 of them, all zeros first) fails that handshake alone: the node stays up and serves', { timeout: 30_000 }, async (t) => {
  const victim = await testNode(t, { perIpRate: 100 })
  const address = victim.addresses[0]!
  for (const point of LOW_ORDER) {
    const answered = await exchange(address, handshakeFrame(firstMessage(point)))
    assert.equal(answered, 0, `no answer to the low-order key ${point.toString('hex').slice(0, 8)}…`)
  }
  await until(() => victim.stats().failedHandshakes >= LOW_ORDER.length, 5000, 'the victim to count the failed handshakes')
  assert.equal(victim.stats().failedHandshakes, LOW_ORDER.length)
  const honest = await attack(address, { localAddress: '127.0.0.3' })
  t.after(() => { honest.close() })
  assert.equal(await honest.ping(discoveryKey('x')), true, 'an honest peer is still served')
})

test('a dialer whose identity key is not an ed25519 point (its third message) fails that handshake alone', { timeout: 30_000 }, async (t) => {
  const victim = await testNode(t, { perIpRate: 100 })
  const good = staticKeys(loadIdentity({ seed: randomBytes(32).toString('hex') }))
  // y = 2 is not the y of any point of the curve: the map to X25519 refuses it.
  const notAPoint = Buffer.alloc(32)
  notAPoint[0] = 2
  const keys: StaticKeys = { ...good, publicKey: notAPoint }
  const hs = new NoiseHandshake(true, keys, new NetworkKey(undefined).psk)
  // The listener's second message is read as usual; the third carries the key that is not a point.
  await exchange(victim.addresses[0]!, handshakeFrame(hs.send()), (frame) => {
    hs.recv(frame)
    return handshakeFrame(hs.send(Buffer.alloc(0)))
  })
  await until(() => victim.stats().failedHandshakes >= 1, 5000, 'the victim to count the failed handshake')
  assert.equal(victim.connections().length, 0)
})
