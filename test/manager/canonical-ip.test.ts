import { test } from 'node:test'
import assert from 'node:assert/strict'
import { canonicalIp } from '../../src/manager/canonical-ip.js'
import { AccessList } from '../../src/manager/access-list.js'
import { addressRange, EvictionRanges } from '../../src/manager/address-range.js'

// Every spelling of one address is one address: an IPv4 attacker writing its address as IPv6 must not
// land in an IPv6 /64 or /48 of its own (escaping per-/24 budgets or evicting another range's).

const SPELLINGS: Array<[string, string | undefined]> = [
  ['1.2.3.4', '1.2.3.4'],
  ['::ffff:1.2.3.4', '1.2.3.4'],
  ['::FFFF:1.2.3.4', '1.2.3.4'],
  ['::ffff:102:304', '1.2.3.4'],
  ['::FFFF:0102:0304', '1.2.3.4'],
  ['0:0:0:0:0:ffff:102:304', '1.2.3.4'],
  ['0000:0000:0000:0000:0000:ffff:0102:0304', '1.2.3.4'],
  ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
  ['::ffff:0:1.2.3.4', '1.2.3.4'],
  ['::ffff:0:102:304', '1.2.3.4'],
  ['::1.2.3.4', '1.2.3.4'],
  ['::102:304', '1.2.3.4'],
  ['::ffff:102:304%eth0', '1.2.3.4'],
  ['1.2.772', '1.2.3.4'],
  ['0x1020304', '1.2.3.4'],
  ['16909060', '1.2.3.4'],
  ['::ffff:7f00:1', '127.0.0.1'],
  ['::ffff:127.0.0.1', '127.0.0.1'],
  ['127.1', '127.0.0.1'],
  ['::1', '::1'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['::', '::'],
  ['0:0:0:0:0:0:0:0', '::'],
  ['::2', '::2'],
  ['2001:DB8::1', '2001:db8::1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ['fe80::1%eth0', 'fe80::1'],
  ['FE80::A%25', 'fe80::a'],
  ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ['1::', '1::'],
  ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
  ['example.org', undefined],
  ['1.2.3.256', undefined],
  ['1:2:3:4:5:6:7:8:9', undefined],
  ['1::2::3', undefined],
  [':1:2', undefined],
  ['::ffff:1.2.3', undefined],
  ['fe80::1%', undefined],
  ['[::1]', undefined],
  ['12345g', undefined],
  ['', undefined]
]

test('canonicalIp gives one form for every spelling of an address (a table of spellings)', () => {
  for (const [given, want] of SPELLINGS) assert.equal(canonicalIp(given), want, given)
})

test('the IPv6 forms of an IPv4 attacker count in its IPv4 /24, not in an IPv6 /48 of their own', () => {
  for (const [given, want] of SPELLINGS) {
    if (want !== '1.2.3.4') continue
    assert.equal(addressRange(`tcp://[${given.split('%')[0]}]:4001`, true) ?? addressRange(`tcp://${given}:4001`, true), '1.2.3', given)
  }
  assert.equal(addressRange('tcp://[::ffff:7f00:1]:4001', true), undefined, 'loopback however written has no public range')
  assert.equal(addressRange('tcp://[2001:DB8:0:1::1]:4001'), addressRange('tcp://[2001:db8::1]:4001'), 'one /48 whatever the case')
})

test('a range that took a place waits however its next newcomer writes its address', () => {
  const r = new EvictionRanges()
  r.evicted('tcp://20.1.2.3:4001', 0, 1000)
  for (const spelling of ['[::ffff:1401:207]', '[::ffff:0:20.1.2.9]', '[0:0:0:0:0:FFFF:1401:0209]', '[::20.1.2.10]']) {
    assert.equal(r.mayEvict(`tcp://${spelling}:4001`, 10), false, spelling)
  }
})

test('a denied IPv4 range denies its addresses in every IPv6 spelling', () => {
  const deny = new AccessList('deny', ['1.2.3.0/24', '::ffff:7f00:1'])
  for (const [given, want] of SPELLINGS) {
    if (want !== '1.2.3.4' || given.includes('%')) continue
    assert.equal(deny.matches(undefined, given.includes(':') ? `tcp://[${given}]:1` : `tcp://${given}:1`), true, given)
  }
  assert.equal(deny.matches(undefined, 'tcp://127.0.0.1:1'), true, 'an entry in a hex-mapped form is its IPv4 address')
  assert.equal(deny.matches(undefined, 'tcp://1.2.4.1:1'), false)
})
