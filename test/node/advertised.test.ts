import assert from 'node:assert/strict'
import type { NetworkInterfaceInfo } from 'node:os'
import { test } from 'node:test'
import { AdvertisedAddresses, OBSERVED_TTL, observerKey } from '../../src/node/advertised.js'
import { ManualClock } from '../../src/testing/manual-clock.js'
import { decodeHello, encodeHello } from '../../src/node/hello.js'
import { createNode } from '../../src/node/index.js'
import { until } from '../helpers/wait.js'

// Bug: a node listening on a wildcard told peers 'tcp://0.0.0.0:port', an address nobody can dial.

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null } as unknown as NetworkInterfaceInfo)
const interfaces = (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({
  lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
  eth0: [iface('10.1.2.3', 'IPv4'), iface('fe80::1', 'IPv6'), iface('2001:db8::5', 'IPv6')]
})

test('a wildcard listen address is told as the interfaces\' addresses (external first, loopback last; link-local left out); others as they are', () => {
  const v4 = new AdvertisedAddresses(undefined, interfaces)
  v4.setBound(['tcp://0.0.0.0:4001', 'tcp://127.0.0.1:4002'])
  assert.deepEqual(v4.list(), ['tcp://10.1.2.3:4001', 'tcp://127.0.0.1:4001', 'tcp://127.0.0.1:4002'])
  const v6 = new AdvertisedAddresses(undefined, interfaces)
  v6.setBound(['tcp://[::]:4001'])
  assert.deepEqual(v6.list(), ['tcp://10.1.2.3:4001', 'tcp://[2001:db8::5]:4001', 'tcp://127.0.0.1:4001', 'tcp://[::1]:4001'])
})

test('announce addresses replace everything else, observations included', () => {
  const a = new AdvertisedAddresses(['tcp://192.0.2.1:4001'], interfaces)
  a.setBound(['tcp://0.0.0.0:4001'])
  for (const o of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) a.observe(o, '198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://192.0.2.1:4001'])
})

test('an observed IP is told (with each listen port) once three distinct observers report it; one observer twice, or many ids behind one IP, is not enough; junk is ignored', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://127.0.0.1:4001'])
  a.observe(observerKey('203.0.113.1', 'p1'), '198.51.100.7')
  a.observe(observerKey('203.0.113.1', 'p1'), '198.51.100.7')
  // A hostile host with many identities is one observer.
  for (let i = 0; i < 10; i++) a.observe(observerKey('203.0.113.2', `sybil${i}`), '198.51.100.7')
  a.observe(observerKey('203.0.113.3', 'p2'), 'not an ip')
  a.observe(observerKey('203.0.113.4', 'p3'), '0.0.0.0')
  a.observe(observerKey(undefined, 'relayed'), '198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001'])
  a.observe(observerKey('::ffff:203.0.113.5', 'p4'), '::ffff:198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001', 'tcp://198.51.100.7:4001'])
})

test('three hosts of one public /24 are one observer: they cannot make the node advertise an IP of their choosing', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://127.0.0.1:4001'])
  for (const o of ['45.67.89.1', '45.67.89.2', '45.67.89.3']) a.observe(observerKey(o, `liar-${o}`), '1.2.3.4')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001'])
  // Observers in three networks do confirm it.
  for (const o of ['45.67.90.1', '45.67.91.1']) a.observe(observerKey(o, `p-${o}`), '1.2.3.4')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001', 'tcp://1.2.3.4:4001'])
  // On a private network each IP counts (one LAN, the lab's hosts).
  assert.notEqual(observerKey('10.0.0.1', 'a'), observerKey('10.0.0.2', 'b'))
  assert.equal(observerKey('45.67.89.1', 'a'), observerKey('45.67.89.200', 'b'))
})

test('observers: IPv4 by address (a public one by /24), IPv6 by /48, loopback by peer id, no IP no observer', () => {
  assert.equal(observerKey('2001:db8:1:2aff::1', 'a'), observerKey('2001:db8:1:2a00::9', 'b'))
  // Regression: by /56, one /48 was 256 observers and confirmed whatever IP it liked.
  assert.equal(observerKey('2001:db8:1:2aff::1', 'a'), observerKey('2001:db8:1:2bff::1', 'a'))
  assert.notEqual(observerKey('2001:db8:1:2aff::1', 'a'), observerKey('2001:db8:2:2aff::1', 'a'))
  assert.notEqual(observerKey('127.0.0.1', 'a'), observerKey('127.0.0.1', 'b'))
  assert.equal(observerKey('192.0.2.1', 'a'), observerKey('192.0.2.1', 'b'))
  assert.equal(observerKey(undefined, 'a'), undefined)
  assert.equal(observerKey('junk', 'a'), undefined)
})

test('private: the direct addresses are no longer told, only the relayed ones; public tells both', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://10.0.0.2:4001'])
  for (const o of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) a.observe(observerKey(o, 'x'), '198.51.100.7')
  const relayed = `tcp://192.0.2.9:4001/relay/${'ab'.repeat(32)}`
  a.setRelayed([relayed])
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001', 'tcp://198.51.100.7:4001', relayed])
  a.setReachability('private')
  assert.deepEqual(a.list(), [relayed])
  a.setReachability('public')
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001', 'tcp://198.51.100.7:4001', relayed])
})

test('many observers reporting many IPs: at most 2 confirmed IPs are told, and candidates stay bounded', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://127.0.0.1:4001'])
  for (let i = 0; i < 1000; i++) for (let j = 0; j < 3; j++) a.observe(`o${i}-${j}`, `198.51.100.${i % 200}`)
  assert.ok(a.list().length <= 3)
})

test('the hello carries the observed IP and port; older decoders\' view (no trailing field) still decodes', () => {
  const h = decodeHello(encodeHello({ listen: ['tcp://127.0.0.1:1'], rendezvous: true, topics: [], observed: '127.0.0.9', observedPort: 40001, probe: true, relay: true }))
  assert.equal(h?.observed, '127.0.0.9')
  assert.equal(h?.observedPort, 40001)
  assert.equal(h?.probe, true)
  assert.equal(h?.relay, true)
  assert.equal(decodeHello(encodeHello({ listen: [], rendezvous: false }))?.observed, undefined)
  assert.equal(decodeHello(encodeHello({ listen: [], rendezvous: false, observed: '127.0.0.9' }))?.observedPort, undefined)
})

test('a live peer learns the announce addresses of a node (not its listen address), and tells it the IP it dialled', { timeout: 15_000 }, async (t) => {
  const a = await createNode({ announce: ['tcp://127.0.0.2:4999'] })
  const b = await createNode()
  t.after(async () => { await a.close(); await b.close() })
  assert.deepEqual(a.advertised, ['tcp://127.0.0.2:4999'])
  let observed: string | undefined
  a.events.addEventListener('connection', (e) => { observed = e.detail.connection.observedByRemote })
  await b.manager.connectNow(a.addresses[0]!)
  await until(() => b.manager.getPeer(a.id)?.addresses.includes('tcp://127.0.0.2:4999') === true, 5000, () => `B to learn A's announced address (${JSON.stringify(b.manager.getPeer(a.id)?.addresses)})`)
  await until(() => observed !== undefined, 5000, 'A to accept B')
  assert.equal(observed, '127.0.0.1', 'B tells A the IP it dialled')
})

test('a loopback IP is believed only from peers on our own host, and those only for a loopback IP: remote peers cannot make us send every peer to its own localhost', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://10.0.0.2:4001'])
  for (const o of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) a.observe(observerKey(o, 'x'), '127.0.0.1')
  for (const p of ['p1', 'p2', 'p3']) a.observe(observerKey('127.0.0.1', p), '198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001'])
  for (const p of ['p1', 'p2', 'p3']) a.observe(observerKey('127.0.0.1', p), '127.0.0.2')
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001', 'tcp://127.0.0.2:4001'])
})

test('observed addresses age out (virtual time): an IP no longer reported by three observers within OBSERVED_TTL is no longer told; observers still connected keep it', async () => {
  const clock = new ManualClock()
  let live: Array<{ observer: string; ip: string }> = []
  const a = new AdvertisedAddresses(undefined, () => ({}), { now: () => clock.now(), live: () => live })
  a.setBound(['tcp://10.0.0.2:4001'])
  const observers = ['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((o) => observerKey(o, 'x')!)
  for (const o of observers) a.observe(o, '198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001', 'tcp://198.51.100.7:4001'])
  // Two of the three still connected: the third's report lasts OBSERVED_TTL, then the IP has two observers.
  live = observers.slice(0, 2).map((observer) => ({ observer, ip: '198.51.100.7' }))
  await clock.advance(OBSERVED_TTL)
  assert.deepEqual(a.observed, ['198.51.100.7'])
  await clock.advance(60_000)
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001'])
  assert.deepEqual(a.observed, [])
  // Reported again by three observers: confirmed again.
  for (const o of observers) a.observe(o, '198.51.100.7')
  assert.deepEqual(a.observed, ['198.51.100.7'])
  // All three connected: it stays however long.
  live = observers.map((observer) => ({ observer, ip: '198.51.100.7' }))
  for (let i = 0; i < 10; i++) { await clock.advance(OBSERVED_TTL); a.list() }
  assert.deepEqual(a.observed, ['198.51.100.7'])
  // A candidate (fewer than three observers) ages out too, so old reports cannot add up with new ones.
  a.observe(observerKey('192.0.2.1', 'y'), '198.51.100.99')
  a.observe(observerKey('192.0.2.2', 'y'), '198.51.100.99')
  await clock.advance(OBSERVED_TTL + 60_000)
  a.list()
  a.observe(observerKey('192.0.2.3', 'y'), '198.51.100.99')
  assert.deepEqual(a.observed, ['198.51.100.7'])
})

test('liars from two IPv6 /48s cannot confirm made-up IPs, nor push out the IP honest observers from three ranges confirmed', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://10.0.0.2:4001'])
  for (const o of ['203.0.113.1', '198.51.100.1', '192.0.2.1']) a.observe(observerKey(o, `honest-${o}`), '8.8.4.4')
  assert.deepEqual(a.observed, ['8.8.4.4'])
  // Two /48s, eight /56s each: every liar a different /56.
  for (const lie of ['1.1.1.1', '9.9.9.9']) {
    for (const net of ['2001:db8:aa', '2001:db8:bb']) {
      for (let i = 0; i < 8; i++) a.observe(observerKey(`${net}:${(i * 256).toString(16)}::1`, `liar-${net}-${i}`), lie)
    }
  }
  assert.deepEqual(a.observed, ['8.8.4.4'])
  assert.deepEqual(a.list(), ['tcp://10.0.0.2:4001', 'tcp://8.8.4.4:4001'])
})

test('liars that confirm two IPs (three ranges each) keep the IP more observers agree on: the fewest observers give way, not the oldest', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://10.0.0.2:4001'])
  for (let i = 1; i <= 5; i++) a.observe(observerKey(`203.0.${i}.1`, 'h'), '8.8.4.4')
  for (let i = 1; i <= 3; i++) a.observe(observerKey(`45.1.${i}.1`, 'l'), '1.1.1.1')
  for (let i = 1; i <= 3; i++) a.observe(observerKey(`45.2.${i}.1`, 'l'), '9.9.9.9')
  assert.equal(a.observed.length, 2)
  assert.ok(a.observed.includes('8.8.4.4'), `the real IP was pushed out: ${a.observed.join(', ')}`)
})

test('one observer reporting many IPs counts for the last one only: it cannot flush an honest candidate out of the table', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://10.0.0.2:4001'])
  a.observe(observerKey('203.0.113.1', 'h1'), '8.8.4.4')
  a.observe(observerKey('198.51.100.1', 'h2'), '8.8.4.4')
  // A liar churns through 100 made-up IPs (more than the 16 candidates).
  for (let i = 0; i < 100; i++) a.observe(observerKey('45.67.89.1', 'liar'), `1.2.${i}.4`)
  a.observe(observerKey('192.0.2.1', 'h3'), '8.8.4.4')
  assert.deepEqual(a.observed, ['8.8.4.4'])
  // An observer that changes its mind no longer counts for what it said before.
  const b = new AdvertisedAddresses(undefined, () => ({}))
  b.setBound(['tcp://10.0.0.2:4001'])
  for (const o of ['203.0.113.1', '198.51.100.1']) b.observe(observerKey(o, 'x'), '8.8.4.4')
  b.observe(observerKey('203.0.113.1', 'x'), '8.8.8.8')
  b.observe(observerKey('192.0.2.1', 'x'), '8.8.4.4')
  assert.deepEqual(b.observed, [])
})

test('an observed IP however spelt (translated, compatible, dotted) is one address, and an observer so spelt is its public /24', () => {
  // Bug: ipaddr.process knew only the mapped form (::ffff:…), so the translated '::ffff:0:1.2.3.4' and
  // the compatible '::102:304' were IPv6 addresses of their own (a second tally for the same IP) and
  // such an observer an IPv6 /48 (one observer per spelling).
  assert.equal(observerKey('::ffff:0:2d43:5901', 'a'), observerKey('45.67.89.1', 'b'))
  assert.equal(observerKey('::2d43:5902', 'c'), observerKey('45.67.89.1', 'b'))
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://127.0.0.1:4001'])
  a.observe(observerKey('45.67.1.1', 'p1'), '::ffff:0:c633:6407')
  a.observe(observerKey('45.68.1.1', 'p2'), '::c633:6407')
  a.observe(observerKey('45.69.1.1', 'p3'), '198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001', 'tcp://198.51.100.7:4001'])
})
