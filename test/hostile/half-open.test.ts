import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { loadIdentity } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { NoiseHandshake, staticKeys } from '../../src/node/noise.js'
import { handshakeFrame } from '../../src/node/secure-handshake.js'
import { parseTcpAddress } from '../../src/node/tcp-address.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// Half-open sockets: a peer sends its FIN and goes on reading. Does the node keep a handshake slot,
// or a place under highWater, for a peer that said it will send nothing more? (Tried: it does not.)

test('peers that send their FIN right after their first handshake message hold no handshake slot', { timeout: 30_000 }, async (t) => {
  const victim = await testNode(t, { perIpRate: 100 })
  const { host, port } = parseTcpAddress(victim.addresses[0]!)
  const sockets: net.Socket[] = []
  for (let i = 0; i < 4; i++) {
    const first = new NoiseHandshake(true, staticKeys(loadIdentity({ seed: randomBytes(32).toString('hex') })), new NetworkKey(undefined).psk).send()
    const s = net.connect({ host, port, localAddress: '127.0.0.2', allowHalfOpen: true }, () => { s.write(handshakeFrame(first)); s.end() })
    s.on('data', () => {})
    s.on('error', () => {})
    t.after(() => { s.destroy() })
    sockets.push(s)
  }
  await until(() => sockets.every((s) => s.destroyed), 5000, 'the victim to close every half-open socket')
  assert.equal(victim.stats().pendingHandshakes, 0)
})

test('connected peers that send their FIN and keep reading lose their places at once', { timeout: 30_000 }, async (t) => {
  const victim = await testNode(t, { perIpRate: 100 })
  const peers: Attacker[] = []
  for (let i = 0; i < 5; i++) {
    const a = await attack(victim.addresses[0]!, { localAddress: '127.0.0.2' })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    peers.push(a)
  }
  await until(() => victim.connections().length === 5, 5000, 'the victim to take the 5 peers')
  for (const a of peers) a.stream.socket.end()
  await until(() => victim.connections().length === 0, 5000, 'the victim to let the half-open peers go')
  assert.ok(peers.every((a) => a.closed))
})
