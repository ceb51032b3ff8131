import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeConnection } from '../../src/node/connection.js'
import type { ControlMessage } from '../../src/node/control-wire.js'
import { decodeControl } from '../../src/node/control-wire.js'
import { DIAL_BACKS_PER_OBSERVER, DialBack, decideReachability, PROBE_GRACE } from '../../src/node/dial-back.js'
import { decodeHello, encodeHello } from '../../src/node/hello.js'
import type { Reachability } from '../../src/node/types.js'
import { ManualClock } from '../../src/testing/manual-clock.js'
import { until } from '../helpers/wait.js'
import { testNode } from '../helpers/nodes.js'

test('the verdict: public after 3 observers reached us (a majority), private after 3 could not (twice those that did), unknown otherwise; a verdict holds while its side has the majority', () => {
  const table: Array<[number, number, Reachability, Reachability]> = [
    [0, 0, 'unknown', 'unknown'],
    [2, 0, 'unknown', 'unknown'],
    [3, 0, 'unknown', 'public'],
    [3, 3, 'unknown', 'unknown'],
    [4, 3, 'private', 'public'],
    [0, 3, 'unknown', 'private'],
    [1, 3, 'unknown', 'private'],
    [2, 3, 'unknown', 'unknown'],
    [2, 4, 'unknown', 'private'],
    [1, 2, 'private', 'private'],
    [2, 2, 'private', 'unknown'],
    [1, 0, 'public', 'public'],
    [0, 1, 'public', 'unknown'],
    [0, 1, 'private', 'private']
  ]
  for (const [ok, failed, previous, expected] of table) assert.equal(decideReachability(ok, failed, previous), expected, `${ok} ok, ${failed} failed, was ${previous}`)
})

interface FakeConn { peer: string; sent: ControlMessage[]; ip: string | undefined }
const fakeConn = (peer: string, ip: string | undefined): FakeConn => ({ peer, sent: [], ip })
const asConn = (c: FakeConn): NodeConnection => ({ peer: c.peer, post: (m: ControlMessage) => { c.sent.push(m); return true } }) as unknown as NodeConnection

function harness (probe: (address: string, nonce?: string) => Promise<void>): { d: DialBack; clock: ManualClock; probed: string[]; verdicts: Reachability[]; conn: (c: FakeConn) => NodeConnection } {
  const clock = new ManualClock()
  const probed: string[] = []
  const verdicts: Reachability[] = []
  const conns = new Map<string, FakeConn>()
  const d = new DialBack({
    clock,
    ports: () => [4001],
    probe: async (address, _peer, _signal, nonce) => { probed.push(address); await probe(address, nonce) },
    remoteIp: (c) => conns.get(c.peer)?.ip,
    changed: (r) => { verdicts.push(r) }
  })
  return { d, clock, probed, verdicts, conn: (c) => { conns.set(c.peer, c); return asConn(c) } }
}

test('dial-back server: dials only the IP it sees the asker at, one request per peer per minute, none over a relayed connection; answers say so', async () => {
  const { d, clock, probed, conn } = harness(async () => {})
  const a = fakeConn('a'.repeat(64), '192.0.2.7')
  d.message(conn(a), { t: 'dialback', id: 1, port: 4001 })
  await until(() => a.sent.length === 1, 1000, 'the answer')
  assert.deepEqual(probed, ['tcp://192.0.2.7:4001'])
  assert.deepEqual(a.sent[0], { t: 'dialback-result', id: 1, result: 'ok' })
  d.message(conn(a), { t: 'dialback', id: 2, port: 4002 })
  assert.deepEqual(a.sent[1], { t: 'dialback-result', id: 2, result: 'refused' })
  await clock.advance(60_000)
  d.message(conn(a), { t: 'dialback', id: 3, port: 4001 })
  await until(() => a.sent.length === 3, 1000, 'the third answer')
  assert.equal(a.sent[2]!.t === 'dialback-result' && a.sent[2].result, 'ok')
  const relayed = fakeConn('b'.repeat(64), undefined)
  d.message(conn(relayed), { t: 'dialback', id: 1, port: 4001 })
  assert.deepEqual(relayed.sent, [{ t: 'dialback-result', id: 1, result: 'refused' }])
  assert.equal(probed.length, 2)
  assert.equal(d.refused, 2)
})

test('dial-back server: at most perMinute dial-backs a minute over all peers', async () => {
  const { d, probed, conn } = harness(async () => {})
  for (let i = 0; i < 100; i++) d.message(conn(fakeConn(i.toString(16).padStart(64, '0'), `192.0.2.${i}`)), { t: 'dialback', id: 1, port: 4001 })
  assert.equal(probed.length, 30)
  assert.equal(d.refused, 70)
})

test('dial-back client: asks each observer once, answers from distinct observers decide, unsolicited answers and answers from another peer count for nothing', async () => {
  const { d, verdicts, conn } = harness(async () => {})
  const peers = ['1', '2', '3', '4'].map((x, i) => fakeConn(x.repeat(64), `198.51.100.${i}`))
  const sameHost = fakeConn('5'.repeat(64), '198.51.100.0')
  for (const p of [...peers, sameHost]) d.connected(conn(p))
  assert.equal(sameHost.sent.length, 0, 'one observer per IP')
  const ids = peers.map((p) => (p.sent[0] as { id: number }).id)
  assert.deepEqual(peers.map((p) => p.sent[0]!.t), ['dialback', 'dialback', 'dialback', 'dialback'])
  d.message(conn(peers[1]!), { t: 'dialback-result', id: ids[0]!, result: 'failed' })
  d.message(conn(peers[0]!), { t: 'dialback-result', id: 999, result: 'failed' })
  assert.equal(d.unsolicited, 2)
  for (let i = 0; i < 3; i++) d.message(conn(peers[i]!), { t: 'dialback-result', id: ids[i]!, result: 'failed' })
  assert.deepEqual(verdicts, ['private'])
  d.message(conn(peers[3]!), { t: 'dialback-result', id: ids[3]!, result: 'ok' })
  assert.deepEqual(verdicts, ['private'], 'three failed, one reached us: still private')
})

test('dialback messages decode only with a port 1-65535, a uint id and a known result', () => {
  assert.equal(decodeControl({ t: 'dialback', id: 1, port: 4001 }).ok, true)
  for (const bad of [{ t: 'dialback', id: 1, port: 0 }, { t: 'dialback', id: 1, port: 65536 }, { t: 'dialback', id: -1, port: 1 }, { t: 'dialback', id: 1, port: 1.5 }, { t: 'dialback', id: 1, port: '1' }, { t: 'dialback-result', id: 1, result: 'maybe' }, { t: 'dialback', id: 1, port: 1, address: 'tcp://1.2.3.4:5' }]) {
    const r = decodeControl(bad)
    if (bad.address !== undefined) assert.equal(r.ok && 'address' in r.value, false, 'an address named by the asker is never taken')
    else assert.equal(r.ok, false, JSON.stringify(bad))
  }
})

test('a node nobody can dial back finds itself private and stops telling its listen address; a dialable one finds itself public', { timeout: 20_000 }, async (t) => {
  const helpers = await Promise.all([0, 1, 2].map(async () => await testNode(t)))
  // Listening on 127.0.0.2, dialling out from 127.0.0.1: the helpers dial back 127.0.0.1 and find nobody.
  const hidden = await testNode(t, { listen: ['tcp://127.0.0.2:0'], dialBack: {} })
  const open = await testNode(t, { dialBack: {} })
  const seen: Reachability[] = []
  hidden.events.addEventListener('reachability', (e) => { seen.push(e.detail.reachability) })
  assert.equal(hidden.stats().reachability, 'unknown')
  for (const h of helpers) { await hidden.manager.connectNow(h.addresses[0]!); await open.manager.connectNow(h.addresses[0]!) }
  await until(() => hidden.stats().reachability === 'private', 15_000, () => `hidden to find itself private (${hidden.stats().reachability})`)
  await until(() => open.stats().reachability === 'public', 15_000, () => `open to find itself public (${open.stats().reachability})`)
  assert.deepEqual(seen, ['private'])
  assert.deepEqual(hidden.advertised, [])
  assert.deepEqual(open.advertised, open.addresses)
  assert.equal(helpers.reduce((n, h) => n + h.stats().dialBacksServed, 0), 6)
  assert.equal(open.stats().connections, 3, 'a probe is no connection')
})

/** Four peers on distinct IPs connected to the client; their requests' ids and nonces. */
function asked (h: ReturnType<typeof harness>): Array<{ c: FakeConn; id: number; nonce: string }> {
  const peers = ['1', '2', '3', '4'].map((x, i) => fakeConn(x.repeat(64), `198.51.100.${i}`))
  for (const p of peers) h.d.connected(h.conn(p))
  return peers.map((c) => {
    const m = c.sent[0]!
    assert.ok(m.t === 'dialback' && typeof m.nonce === 'string' && /^[0-9a-f]{32}$/.test(m.nonce), 'each request carries a fresh nonce')
    return { c, id: m.id, nonce: m.nonce! }
  })
}

test('lying dial-back answers: an \'ok\' counts only once a probe from that peer echoed the request\'s nonce; a claim without it is failed after PROBE_GRACE', async () => {
  const h = harness(async () => {})
  const { d, clock, verdicts } = h
  const reqs = asked(h)
  assert.equal(new Set(reqs.map((r) => r.nonce)).size, 4)
  // Three liars claim success without dialling: nobody reached us.
  for (const r of reqs.slice(0, 3)) d.message(h.conn(r.c), { t: 'dialback-result', id: r.id, result: 'ok' })
  assert.deepEqual(verdicts, [], 'a claim alone decides nothing')
  // A probe echoing another request's nonce, or from another peer than the one asked, proves nothing.
  d.probed(reqs[1]!.c.peer, reqs[0]!.nonce)
  d.probed(reqs[0]!.c.peer, 'ab'.repeat(16))
  await clock.advance(PROBE_GRACE)
  assert.equal(d.unproven, 3)
  assert.deepEqual(d.answers, { ok: 0, failed: 3, refused: 0 })
  assert.deepEqual(verdicts, ['private'])
})

test('honest dial-back answers: the probe proves the request whether it comes before or after the answer', async () => {
  const h = harness(async () => {})
  const { d, clock, verdicts } = h
  const reqs = asked(h)
  // Before the answer: the probe comes first.
  d.probed(reqs[0]!.c.peer, reqs[0]!.nonce)
  d.message(h.conn(reqs[0]!.c), { t: 'dialback-result', id: reqs[0]!.id, result: 'ok' })
  // After: the answer overtook the probe's last handshake message.
  for (const r of reqs.slice(1, 3)) d.message(h.conn(r.c), { t: 'dialback-result', id: r.id, result: 'ok' })
  await clock.advance(PROBE_GRACE / 2)
  for (const r of reqs.slice(1, 3)) d.probed(r.c.peer, r.nonce)
  assert.deepEqual(verdicts, ['public'])
  assert.equal(d.unproven, 0)
  // A repeated answer to a settled request counts for nothing.
  d.message(h.conn(reqs[0]!.c), { t: 'dialback-result', id: reqs[0]!.id, result: 'failed' })
  assert.equal(d.unsolicited, 1)
})

test('the dial-back server echoes the asker\'s nonce in its probe, and the hello carries it (with or without an observed IP)', async () => {
  const nonces: Array<string | undefined> = []
  const h = harness(async (_address, nonce) => { nonces.push(nonce) })
  const a = fakeConn('a'.repeat(64), '192.0.2.7')
  h.d.message(h.conn(a), { t: 'dialback', id: 1, port: 4001, nonce: 'cd'.repeat(16) })
  await until(() => a.sent.length === 1, 1000, 'the answer')
  assert.deepEqual(nonces, ['cd'.repeat(16)])
  const hello = { listen: [], rendezvous: false, topics: [], announce: false, probe: true, nonce: 'cd'.repeat(16) }
  assert.equal(decodeHello(encodeHello(hello))?.nonce, 'cd'.repeat(16))
  const withObserved = decodeHello(encodeHello({ ...hello, observed: '192.0.2.7', observedPort: 4001 }))
  assert.deepEqual([withObserved?.nonce, withObserved?.observed, withObserved?.observedPort], ['cd'.repeat(16), '192.0.2.7', 4001])
  const noObserved = decodeHello(encodeHello(hello))
  assert.equal(noObserved?.observed, undefined, 'the placeholder observed IP is not taken for one')
  assert.equal(decodeHello(encodeHello({ ...hello, nonce: 'not hex' }))?.nonce, undefined)
  assert.equal(decodeControl({ t: 'dialback', id: 1, port: 1, nonce: 'x' }).ok, false)
  assert.equal(decodeControl({ t: 'dialback', id: 1, port: 1, nonce: 'ab'.repeat(16) }).ok, true)
})

test('dial-back server: many identities on one IP get at most DIAL_BACKS_PER_OBSERVER dial-backs per perPeerInterval, however many connections they open', async () => {
  const { d, clock, probed, conn } = harness(async () => {})
  for (let i = 0; i < 20; i++) d.message(conn(fakeConn(i.toString(16).padStart(64, '0'), '203.0.113.9')), { t: 'dialback', id: 1, port: 4001 })
  assert.equal(probed.length, DIAL_BACKS_PER_OBSERVER)
  assert.equal(d.refused, 20 - DIAL_BACKS_PER_OBSERVER)
  // One IPv6 /48 is one observer too (its /56s included).
  for (let i = 0; i < 10; i++) d.message(conn(fakeConn((100 + i).toString(16).padStart(64, '0'), `2001:db8:0:${(i * 256).toString(16)}::1`)), { t: 'dialback', id: 1, port: 4001 })
  assert.equal(probed.length, 2 * DIAL_BACKS_PER_OBSERVER)
  // Another host is served; the first one again once the interval passed.
  d.message(conn(fakeConn('f'.repeat(64), '203.0.113.10')), { t: 'dialback', id: 1, port: 4001 })
  await clock.advance(60_000)
  d.message(conn(fakeConn('e'.repeat(64), '203.0.113.9')), { t: 'dialback', id: 1, port: 4001 })
  assert.equal(probed.length, 2 * DIAL_BACKS_PER_OBSERVER + 2)
})

test('a NATed node with fewer than three observers stays unknown: two failed dial-backs (and a third from one of their hosts) decide nothing', () => {
  const { d, verdicts, conn } = harness(async () => {})
  const peers = ['1', '2'].map((x, i) => fakeConn(x.repeat(64), `198.51.100.${i}`))
  const sameHost = fakeConn('3'.repeat(64), '198.51.100.1')
  for (const p of [...peers, sameHost]) d.connected(conn(p))
  assert.equal(sameHost.sent.length, 0)
  for (const p of peers) d.message(conn(p), { t: 'dialback-result', id: (p.sent[0] as { id: number }).id, result: 'failed' })
  assert.deepEqual(d.answers, { ok: 0, failed: 2, refused: 0 })
  assert.deepEqual(verdicts, [])
  assert.equal(d.reachability, 'unknown')
})
