import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AddressTally, keysOf, resolveConnectionLimits } from '../../src/manager/connection-limits.js'
import { PeerwardenError } from '../../src/index.js'
import { testConnection, type TestConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// One host with many identities must not take every place: connections are capped per IP and per
// public range (go-libp2p's resource manager: 8 per IPv4 address and per IPv6 /56).

test('an IP is an IPv4 address in any spelling or an IPv6 /56, and a range a public /24 or /48', () => {
  assert.deepEqual(keysOf('tcp://20.1.2.7:4001', false), { ip: '20.1.2.7', range: '20.1.2' })
  assert.deepEqual(keysOf('tcp://[::ffff:20.1.2.7]:4001', false), { ip: '20.1.2.7', range: '20.1.2' })
  assert.deepEqual(keysOf('/ip4/20.1.2.7/tcp/4001', false), { ip: '20.1.2.7', range: '20.1.2' })
  assert.deepEqual(keysOf('tcp://[2001:db8:1:2345::9]:4001', false).ip, '2001:db8:1:2300::/56')
  assert.deepEqual(keysOf('tcp://[2001:db8:1:23ff::9]:4001', false).ip, '2001:db8:1:2300::/56', 'one /56')
  assert.deepEqual(keysOf('tcp://127.0.0.2:4001', false), { ip: '127.0.0.2', range: undefined }, 'the rest of 127/8 counts per IP, loopback ranges are exempt')
  assert.deepEqual(keysOf('tcp://10.0.0.5:4001', false), { ip: '10.0.0.5', range: undefined })
})

test('local addresses are exempt unless connectionLimits.local, and keys-only addresses are never counted', () => {
  assert.deepEqual(keysOf('tcp://127.0.0.1:4001', false), { ip: undefined, range: undefined })
  assert.deepEqual(keysOf('tcp://[::1]:4001', false), { ip: undefined, range: undefined })
  assert.deepEqual(keysOf('tcp://127.0.0.1:4001', true), { ip: '127.0.0.1', range: '127.0.0' })
  assert.deepEqual(keysOf('hyperswarm:' + 'ab'.repeat(32), false), { ip: undefined, range: undefined })
  assert.deepEqual(keysOf('mem://n5', false), { ip: undefined, range: undefined })
})

test('a relayed address counts only in its relay\'s range followed by /relayed', () => {
  assert.deepEqual(keysOf(`tcp://20.1.2.7:4001/relay/${'c'.repeat(64)}`, false), { ip: undefined, range: '20.1.2/relayed' })
})

test('connectionLimits refuses bad values naming the field', () => {
  assert.deepEqual(resolveConnectionLimits(undefined), { perIp: 8, perRange: 32, local: false })
  assert.deepEqual(resolveConnectionLimits({ perIp: Infinity }), { perIp: Infinity, perRange: 32, local: false })
  for (const [bad, field] of [[{ perIp: 0 }, 'perIp'], [{ perRange: 1.5 }, 'perRange'], [{ local: 'yes' }, 'local'], [{ perIP: 3 }, 'perIP']] as const) {
    assert.throws(() => resolveConnectionLimits(bad), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_INVALID_ARGUMENT' && err.message.includes(field))
  }
  assert.throws(() => manager({ connectionLimits: { perIp: -1 } }), /connectionLimits\.perIp/)
})

test('the tally forgets a key whose count falls to 0', () => {
  const t = new AddressTally(resolveConnectionLimits({ perIp: 2 }))
  const [a, b] = [testConnection('a', { address: 'tcp://20.1.2.7:1' }), testConnection('b', { address: 'tcp://20.1.2.7:2' })]
  t.add(a)
  t.add(b)
  assert.match(t.refusal('tcp://20.1.2.7:3') ?? '', /2 connections from 20\.1\.2\.7 already/)
  t.remove(a)
  t.remove(a) // once only
  assert.equal(t.countOf('tcp://20.1.2.7:9').ip, 1)
  t.remove(b)
  assert.equal(t.size, 0)
  assert.equal(t.refusal('tcp://20.1.2.7:3'), undefined)
  assert.equal(t.refusals, 1)
})

test('below highWater a ninth identity from one IP is refused over-limit, another IP still gets in, and a place freed is taken again', () => {
  const { m } = manager({ lowWater: 4, highWater: 100 })
  const conns: TestConnection[] = []
  for (let i = 0; i < 12; i++) conns.push(testConnection(`sybil${i}`, { address: `tcp://20.1.2.7:${5000 + i}` }))
  const accepted = conns.map((c) => m.connected(c))
  assert.deepEqual(accepted, [...Array(8).fill(true), ...Array(4).fill(false)])
  assert.equal(conns[8]!.closeReason, 'over-limit')
  assert.equal(m.stats().connectionLimitRefusals, 4)
  assert.match(m.explain('sybil8').at(-1)!.reason, /over-limit: 8 connections from 20\.1\.2\.7 already \(connectionLimits\.perIp\)/)
  assert.equal(m.connected(testConnection('honest', { address: 'tcp://20.1.9.9:4001' })), true)
  m.disconnected(conns[0]!)
  assert.equal(m.connected(testConnection('sybil-late', { address: 'tcp://20.1.2.7:6000' })), true)
})

test('a public /24 holds at most perRange connections, its IPs together', () => {
  const { m } = manager({ lowWater: 4, highWater: 100, connectionLimits: { perRange: 10 } })
  let accepted = 0
  for (let i = 0; i < 20; i++) if (m.connected(testConnection(`r${i}`, { address: `tcp://20.1.2.${10 + i}:4001` }))) accepted++
  assert.equal(accepted, 10)
  assert.equal(m.connected(testConnection('other', { address: 'tcp://20.1.3.1:4001' })), true)
})

test('allow-listed, protected, permanent and long-term peers and connectNow are never refused by the cap', async () => {
  const addr = (i: number): string => `tcp://20.1.2.7:${5000 + i}`
  const { m } = manager({ lowWater: 0, highWater: 100, connectionLimits: { perIp: 1 }, allow: ['allowed'] })
  assert.equal(m.connected(testConnection('first', { address: addr(0) })), true)
  assert.equal(m.connected(testConnection('stranger', { address: addr(1) })), false)
  assert.equal(m.connected(testConnection('allowed', { address: addr(2) })), true)
  m.addPeers([{ id: 'prot', address: addr(3) }, { id: 'lt', address: addr(4), longTerm: true }])
  m.protect('prot', 'app')
  assert.equal(m.connected(testConnection('prot', { address: addr(3) })), true)
  assert.equal(m.connected(testConnection('lt', { address: addr(4) })), true)
  assert.equal(m.stats().connectionLimitRefusals, 1)
})

test('the local address is exempt: 30 local identities all get in below highWater', () => {
  const { m } = manager({ lowWater: 0, highWater: 100 })
  let accepted = 0
  for (let i = 0; i < 30; i++) if (m.connected(testConnection(`l${i}`, { address: `tcp://127.0.0.1:${5000 + i}` }))) accepted++
  assert.equal(accepted, 30)
  const local = manager({ lowWater: 0, highWater: 100, connectionLimits: { local: true } }).m
  accepted = 0
  for (let i = 0; i < 30; i++) if (local.connected(testConnection(`l${i}`, { address: `tcp://127.0.0.1:${5000 + i}` }))) accepted++
  assert.equal(accepted, 8)
})

test('a duplicate replaced from another IP moves its count', () => {
  const { m } = manager({ lowWater: 0, highWater: 100, localPeer: '0', connectionLimits: { perIp: 1 } })
  // 'z' > '0': the connection z initiated (inbound to us) wins the tie-break over ours.
  m.connected(testConnection('z', { direction: 'outbound', address: 'tcp://20.1.2.7:1' }))
  assert.equal(m.connected(testConnection('z', { direction: 'inbound', address: 'tcp://20.1.2.8:1' })), true)
  assert.equal(m.connected(testConnection('y', { address: 'tcp://20.1.2.7:2' })), true, 'the first IP was freed')
  assert.equal(m.connected(testConnection('x', { address: 'tcp://20.1.2.8:2' })), false, 'the second IP holds z')
})
