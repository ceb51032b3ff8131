import assert from 'node:assert/strict'
import type { NetworkInterfaceInfo } from 'node:os'
import { test } from 'node:test'
import { AdvertisedAddresses } from '../../src/node/advertised.js'
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
  a.observe('p1', '198.51.100.7')
  a.observe('p2', '198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://192.0.2.1:4001'])
})

test('an observed IP is told (with each listen port) once two distinct peers report it; one peer, or one peer twice, is not enough; junk is ignored', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://127.0.0.1:4001'])
  a.observe('p1', '198.51.100.7')
  a.observe('p1', '198.51.100.7')
  a.observe('p2', 'not an ip')
  a.observe('p3', '0.0.0.0')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001'])
  a.observe('p2', '::ffff:198.51.100.7')
  assert.deepEqual(a.list(), ['tcp://127.0.0.1:4001', 'tcp://198.51.100.7:4001'])
})

test('many peers reporting many IPs: at most 2 confirmed IPs are told, and candidates stay bounded', () => {
  const a = new AdvertisedAddresses(undefined, () => ({}))
  a.setBound(['tcp://127.0.0.1:4001'])
  for (let i = 0; i < 1000; i++) { a.observe(`p${i}`, `198.51.100.${i % 200}`); a.observe(`q${i}`, `198.51.100.${i % 200}`) }
  assert.ok(a.list().length <= 3)
})

test('the hello carries the observed IP; older decoders\' view (no trailing field) still decodes', () => {
  const h = decodeHello(encodeHello({ listen: ['tcp://127.0.0.1:1'], rendezvous: true, topics: [], observed: '127.0.0.9' }))
  assert.equal(h?.observed, '127.0.0.9')
  assert.equal(decodeHello(encodeHello({ listen: [], rendezvous: false }))?.observed, undefined)
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
