import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A rendezvous point kept an announcement until its ttl (up to maxTtl, 10 min) after the announcer's
// connection died: a peer that crashed, or vanished without a word, was handed out to every newcomer
// for minutes. Rule (topic-directory.ts): a registration outlives a connection closed with a word
// (a peer letting its bootstrap go stays listed, as libp2p rendezvous and Hyperswarm's DHT keep
// their records for their ttl), not one that died with its peer.

const T = { timeout: 30_000 }
const KEY = discoveryKey('stale-registrations')

/** The ids `probe` is told for the topic (a lookup answered by the point). */
async function listed (probe: Attacker): Promise<string[]> {
  const before = probe.inbox.length
  assert.equal(await probe.ping(KEY), true, 'the point answers')
  const answers = probe.inbox.slice(before).filter((m) => (m as { t?: string } | undefined)?.t === 'peers') as Array<{ peers: Array<{ id: string }> }>
  return answers.flatMap((m) => m.peers.map((p) => p.id))
}

async function announcer (t: Parameters<typeof testNode>[0], point: PeerNode, localAddress: string, seed?: string): Promise<Attacker> {
  const a = await attack(point.addresses[0]!, { localAddress, ...(seed !== undefined ? { seed } : {}), hello: { listen: [`tcp://${localAddress}:4000`], topics: [KEY], announce: true } })
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  a.control({ t: 'announce', topic: KEY, addresses: [`tcp://${localAddress}:4000`], ttl: 600_000 })
  assert.equal(await a.ping(KEY), true)
  return a
}

test('an announcer whose connection to the point ends without a word is no longer handed out (it was until its ttl)', T, async (t) => {
  const point = await testNode(t, { manager: { highWater: 64 } })
  const a = await announcer(t, point, '127.0.0.2')
  const probe = await attack(point.addresses[0]!, { localAddress: '127.0.0.3' })
  t.after(() => { probe.close() })
  probe.channel(CONTROL_PROTOCOL)
  assert.deepEqual(await listed(probe), [a.id], 'handed out while connected')
  a.close() // a crash: no unannounce, no close reason
  await until(() => point.manager.getPeer(a.id)?.connected !== true, 10_000, 'the point to see the announcer gone')
  assert.deepEqual(await listed(probe), [], 'not handed out once its connection is gone')
  assert.equal(point.stats().rendezvousRegistrations, 0)
  assert.equal(point.stats().rendezvousClosedWithdrawals, 1)
})

test('the point keeps an announcer listed when a duplicate connection of it ends, and when another peer leaves', T, async (t) => {
  const point = await testNode(t, { manager: { highWater: 64 } })
  const seed = randomBytes(32).toString('hex')
  const a = await announcer(t, point, '127.0.0.2', seed)
  const probe = await attack(point.addresses[0]!, { localAddress: '127.0.0.3' })
  t.after(() => { probe.close() })
  probe.channel(CONTROL_PROTOCOL)
  // The same identity again (its hello saying the same: a hello withdraws the topics it does not
  // name): one connection per peer, the tie-break closes one of the two.
  const again = await attack(point.addresses[0]!, { localAddress: '127.0.0.2', seed, hello: { listen: ['tcp://127.0.0.2:4000'], topics: [KEY], announce: true } })
  t.after(() => { again.close() })
  again.channel(CONTROL_PROTOCOL)
  await until(() => a.closed || again.closed, 10_000, 'the point to close the duplicate')
  assert.deepEqual(await listed(probe), [a.id], 'still listed: the peer is still connected')
  const other = await announcer(t, point, '127.0.0.4')
  other.close()
  await until(() => point.manager.getPeer(other.id)?.connected !== true, 10_000, 'the point to see the other announcer gone')
  assert.deepEqual(await listed(probe), [a.id], 'another peer leaving takes only its own registration')
})

test('an announcer that freezes (answers no keep-alive) is closed \'timeout\' by the point and no longer handed out', T, async (t) => {
  const point = await testNode(t, { deadTimeout: 2000, manager: { highWater: 64 } })
  const a = await announcer(t, point, '127.0.0.2')
  a.stream.socket.pause() // frozen: it reads nothing, so answers no keep-alive; its socket stays open
  const before = await attack(point.addresses[0]!, { localAddress: '127.0.0.3' })
  t.after(() => { before.close() })
  before.channel(CONTROL_PROTOCOL)
  assert.deepEqual(await listed(before), [a.id], 'handed out while its connection lives')
  before.close()
  await until(() => point.manager.getPeer(a.id)?.connected !== true, 10_000, 'the point to close the frozen announcer')
  // (Our test peers answer no keep-alive either: a fresh one asks, within the deadline.)
  const after = await attack(point.addresses[0]!, { localAddress: '127.0.0.4' })
  t.after(() => { after.close() })
  after.channel(CONTROL_PROTOCOL)
  assert.deepEqual(await listed(after), [], 'not handed out once closed for its death')
  assert.equal(point.stats().rendezvousClosedWithdrawals, 1)
})
