import assert from 'node:assert/strict'
import { test } from 'node:test'
import ipaddr from 'ipaddr.js'
import { defaultHandshakeRate, defaultPendingPerIp, InboundLimits, isLoopback, sourceOf } from '../../src/node/inbound-limits.js'

// The admission rules before any cryptography, on a manual clock.

function limits (opts: Partial<InboundLimits['opts']> = {}): { l: InboundLimits; clock: { t: number } } {
  const clock = { t: 0 }
  const l = new InboundLimits({ perIpRate: 10, maxPending: 32, maxPendingPerIp: 4, maxTrackedIps: 4096, ...opts }, () => clock.t)
  return { l, clock }
}

test('one IP holds at most maxPendingPerIp handshakes in progress; a release gives its slot back', () => {
  const { l } = limits()
  assert.deepEqual([1, 2, 3, 4, 5].map(() => l.admit('10.0.0.1')), [null, null, null, null, 'pending-ip'])
  assert.equal(l.admit('10.0.0.2'), null, 'another IP has its own budget')
  l.release('10.0.0.1')
  assert.equal(l.admit('10.0.0.1'), null)
  assert.equal(l.pending, 5)
})

test('the global cap holds whatever the sources, loopback included', () => {
  const { l } = limits({ maxPending: 8, maxPendingPerIp: 2, perIpRate: 100 })
  for (let i = 0; i < 4; i++) { assert.equal(l.admit(`10.0.0.${i}`), null); assert.equal(l.admit(`10.0.0.${i}`), null) }
  assert.equal(l.admit('10.0.0.9'), 'pending')
  assert.equal(l.admit('127.0.0.1'), 'pending')
})

test('127.0.0.1 and ::1 are exempt from the per-IP rate and budget; 127.0.0.2 is not', () => {
  const { l } = limits({ perIpRate: 2, maxPendingPerIp: 1 })
  for (let i = 0; i < 20; i++) assert.equal(l.admit(i % 2 === 0 ? '127.0.0.1' : '::ffff:127.0.0.1'), null)
  for (let i = 0; i < 5; i++) assert.equal(l.admit('::1'), null)
  assert.equal(l.admit('127.0.0.2'), null)
  assert.equal(l.admit('127.0.0.2'), 'pending-ip')
  assert.equal(l.admit('127.0.0.2'), 'rate')
  assert.equal(isLoopback('127.0.0.2'), false)
})

test('the per-IP rate allows perIpRate sockets in a window of one second, then again', () => {
  const { l, clock } = limits({ perIpRate: 3, maxPendingPerIp: 100 })
  assert.deepEqual([0, 1, 2, 3].map(() => l.admit('10.0.0.1')), [null, null, null, 'rate'])
  clock.t = 999
  assert.equal(l.admit('10.0.0.1'), 'rate')
  clock.t = 1000
  assert.equal(l.admit('10.0.0.1'), null)
})

test('the rate table is bounded and forgets the least recently seen IP, never everyone (it was cleared at 4096 entries)', () => {
  const { l, clock } = limits({ perIpRate: 1, maxPendingPerIp: 100, maxTrackedIps: 3 })
  assert.equal(l.admit('10.0.0.1'), null)
  assert.equal(l.admit('10.0.0.1'), 'rate')
  clock.t = 10
  // Other IPs come and go: 10.0.0.1 is seen again in between, so it stays remembered.
  l.admit('10.0.0.2')
  l.admit('10.0.0.3')
  assert.equal(l.admit('10.0.0.1'), 'rate')
  for (let i = 4; i < 50; i++) { l.admit(`10.0.0.${i}`); if (i % 2 === 0) assert.equal(l.admit('10.0.0.1'), 'rate', `after ${i} other IPs`) }
  assert.equal(l.trackedIps, 3)
})

test('the per-IP pending table holds only IPs with a handshake in progress', () => {
  const { l } = limits()
  for (let i = 0; i < 10; i++) l.admit(`10.0.0.${i}`)
  assert.equal(l.pendingIps, 10)
  for (let i = 0; i < 10; i++) l.release(`10.0.0.${i}`)
  assert.equal(l.pendingIps, 0)
  assert.equal(l.pending, 0)
  l.release('10.0.0.1') // a stray release changes nothing
  assert.equal(l.pending, 0)
})

test('an IPv6 host is counted by its /64, an IPv4-mapped address as its IPv4 address', () => {
  assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), sourceOf('2001:db8:1:2:bbbb::7'))
  assert.notEqual(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:3::1'))
  assert.equal(sourceOf('::ffff:10.1.2.3'), '10.1.2.3')
  // The hand-written fast path agrees with ipaddr.js.
  for (const ip of ['::1', '::', '1:2:3:4:5:6:7:8', '2001:DB8:0:0:1::', 'fe80::1%eth0', '2001:db8:a::', '0:0:0:0:0:0:0:1']) {
    const parts = ipaddr.IPv6.parse(ip.split('%')[0]).parts
    assert.equal(sourceOf(ip), parts.slice(0, 4).map((p) => p.toString(16)).join(':') + '::/64', ip)
  }
  const { l } = limits({ maxPendingPerIp: 2 })
  assert.equal(l.admit('2001:db8::1'), null)
  assert.equal(l.admit('2001:db8::2'), null)
  assert.equal(l.admit('2001:db8::3'), 'pending-ip')
})

test('the default per-IP budget is an eighth of the global cap, at least 1', () => {
  assert.equal(defaultPendingPerIp(32), 4)
  assert.equal(defaultPendingPerIp(4), 1)
  assert.equal(defaultPendingPerIp(0), 1)
})

test('at the global cap a newcomer that passed the per-IP rules takes the slot the eviction frees; one over its own budget evicts nobody', () => {
  const { l } = limits({ maxPending: 2, maxPendingPerIp: 1 })
  assert.equal(l.admit('10.0.0.1'), null)
  assert.equal(l.admit('10.0.0.2'), null)
  let evictions = 0
  const evict = (): boolean => { evictions++; l.release('10.0.0.1'); return true }
  assert.equal(l.admit('10.0.0.2', evict), 'pending-ip', 'over its own budget: no eviction')
  assert.equal(evictions, 0)
  assert.equal(l.admit('10.0.0.3', evict), null)
  assert.equal(evictions, 1)
  assert.equal(l.pending, 2)
  assert.equal(l.admit('10.0.0.4', () => false), 'pending', 'nothing gave way')
})

test('an IPv4 attacker writing its address as IPv6 (hex-mapped, translated, compatible, upper case) is counted as its IPv4 address', () => {
  for (const ip of ['::ffff:7f00:2', '0:0:0:0:0:ffff:7f00:2', '::FFFF:127.0.0.2', '::ffff:0:127.0.0.2', '::127.0.0.2']) assert.equal(sourceOf(ip), '127.0.0.2', ip)
  const { l } = limits({ maxPendingPerIp: 2 })
  assert.equal(l.admit('127.0.0.2'), null)
  assert.equal(l.admit('::ffff:7f00:2'), null)
  assert.equal(l.admit('0:0:0:0:0:ffff:7f00:2'), 'pending-ip', 'one budget for every spelling')
  assert.equal(isLoopback('::ffff:7f00:1'), true)
  assert.equal(isLoopback('0:0:0:0:0:FFFF:127.0.0.1'), true)
  assert.equal(isLoopback('::ffff:7f00:2'), false)
})

test('a public /24 has 4x the per-IP rate and 2x the per-IP handshakes in progress, however its addresses are spelled; another /24 and private ranges are not affected', () => {
  const { l, clock } = limits({ perIpRate: 10, maxPendingPerIp: 4, maxPending: 1000 })
  const verdicts: Array<string | null> = []
  for (let i = 1; i <= 41; i++) { verdicts.push(l.admit(`20.1.2.${i}`)); l.release(`20.1.2.${i}`) }
  assert.deepEqual(verdicts, [...Array<null>(40).fill(null), 'rate-range'], 'the 41st new socket of the /24 within a second')
  assert.equal(l.admit('::ffff:1401:2fe'), 'rate-range', 'its hex-mapped spelling is the same /24')
  assert.equal(l.admit('20.1.3.1'), null, 'another /24')
  l.release('20.1.3.1')
  for (let i = 1; i <= 60; i++) { assert.equal(l.admit(`10.9.9.${i}`), null, 'a private /24 is exempt'); l.release(`10.9.9.${i}`) }
  clock.t += 1000
  const held: string[] = []
  for (let i = 1; i <= 8; i++) { assert.equal(l.admit(`20.1.2.${100 + i}`), null); held.push(`20.1.2.${100 + i}`) }
  assert.equal(l.admit('20.1.2.200'), 'pending-range', 'the 9th handshake in progress from the /24')
  l.release(held[0]!)
  assert.equal(l.admit('20.1.2.200'), null, 'a release gives the range its slot back')
  for (const ip of [...held.slice(1), '20.1.2.200']) l.release(ip)
  assert.equal(l.pending, 0)
  assert.equal(l.pendingIps, 0, 'no range left counted')
})

test('a public IPv6 /48 is one range across its /64s', () => {
  const { l } = limits({ perIpRate: 100, maxPendingPerIp: 1, maxPending: 1000 })
  assert.equal(l.admit('2a00:1:2:a::1'), null)
  assert.equal(l.admit('2a00:1:2:b::1'), null)
  assert.equal(l.admit('2a00:1:2:c::1'), 'pending-range')
  assert.equal(l.admit('2a00:1:3:c::1'), null, 'another /48')
})

test('sockets of many sources begin at most 8 x maxPending handshakes a second in all (127.0.0.1 and ::1 exempt); the next second has its own', () => {
  const { l, clock } = limits({ maxPending: 4, maxPendingPerIp: 1 })
  const verdicts: Array<string | null> = []
  for (let i = 0; i < 40; i++) {
    const ip = `10.0.${i}.1`
    const v = l.admit(ip, () => true)
    verdicts.push(v)
  }
  assert.equal(verdicts.filter((v) => v === null).length, defaultHandshakeRate(4))
  assert.equal(defaultHandshakeRate(4), 32)
  assert.deepEqual(verdicts.slice(32), Array(8).fill('rate-all'))
  assert.equal(l.admit('127.0.0.1', () => true), null, 'a local peer is not counted')
  clock.t += 1000
  assert.equal(l.admit('10.0.99.1', () => true), null, 'a new second')
  const { l: l2 } = limits({ maxPending: 4, maxPendingPerIp: 1, maxRate: 2 })
  assert.deepEqual(['10.1.0.1', '10.1.1.1', '10.1.2.1'].map((ip) => l2.admit(ip, () => true)), [null, null, 'rate-all'], 'maxRate sets it')
})
