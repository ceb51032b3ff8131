import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeConnection } from '../../src/node/connection.js'
import type { ControlMessage } from '../../src/node/control-wire.js'
import { decodeControl } from '../../src/node/control-wire.js'
import { DialBack, decideReachability } from '../../src/node/dial-back.js'
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

function harness (probe: (address: string) => Promise<void>): { d: DialBack; clock: ManualClock; probed: string[]; verdicts: Reachability[]; conn: (c: FakeConn) => NodeConnection } {
  const clock = new ManualClock()
  const probed: string[] = []
  const verdicts: Reachability[] = []
  const conns = new Map<string, FakeConn>()
  const d = new DialBack({
    clock,
    ports: () => [4001],
    probe: async (address) => { probed.push(address); await probe(address) },
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
