import assert from 'node:assert/strict'
import { test } from 'node:test'
import { extractIp } from '../../src/index.js'

// ── extractIp ───────────────────────────────────────────────────────────────

test('extractIp finds the IP in every supported address form', () => {
  const table: Array<[string, string | undefined]> = [
    ['tcp://1.2.3.4:5', '1.2.3.4'],
    ['tcp://[::1]:5', '::1'],
    ['tcp://[::1]', '::1'],
    ['/ip4/1.2.3.4/tcp/5', '1.2.3.4'],
    ['/ip4/1.2.3.4', '1.2.3.4'],
    ['/ip6/::1/tcp/5', '::1'],
    ['/ip6/2001:db8::7/udp/9/quic', '2001:db8::7'],
    ['1.2.3.4', '1.2.3.4'],
    ['1.2.3.4:5', '1.2.3.4'],
    ['::1', '::1'],
    ['[::1]:5', '::1'],
    ['[fe80::1]:4001', 'fe80::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['tcp://[::ffff:1.2.3.4]:5', '::ffff:1.2.3.4'],
    ['tcp://1.2.3.4:5#peer-a', '1.2.3.4'],
    ['mem://a', undefined],
    ['/dns4/example.com/tcp/5', undefined],
    ['peer-a', undefined],
    // No IP inside: a host name is not an IP.
    ['tcp://example.com:4001', undefined],
    ['localhost:4001', undefined],
    // Multiserver (SSB): the first `net:` layer; the shs key holds '/' and must not cut the host.
    ['net:10.1.2.3:8008~shs:Ab/cd+ef=', '10.1.2.3'],
    ['net:[::1]:8008~shs:Ab/cd+ef=', '::1'],
    ['net:::1:8008~shs:Ab/cd+ef=', '::1'],
    ['ws:1.1.1.1:80~shs:x;net:10.0.0.9:8008~shs:Ab/cd', '10.0.0.9'],
    ['net:pub.example.com:8008~shs:Ab/cd', undefined],
    ['net:~shs:x', undefined]
  ]
  const wrong = table
    .map(([address, ip]) => ({ address, expected: ip, actual: extractIp(address) }))
    .filter((r) => r.actual !== r.expected)
  assert.deepEqual(wrong, [])
})
