import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ConnectionManager } from '../../src/manager/types.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { discoveryKey } from '../../src/node/discovery-key.js'
import { RendezvousTable } from '../../src/node/rendezvous.js'
import { TopicDirectory } from '../../src/node/topic-directory.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// Sybils against a rendezvous point: identities are free, so budgets per peer bound nothing for a
// host that makes a new identity per announcement (a visit registers a hello's 64 topics without a
// connection slot). Before the range budgets, 110 identities of one /24 filled the 4 MiB table and
// every honest announcement was refused for up to 10 minutes; 256 took every place of a topic.

const ID = (n: number): string => n.toString(16).padStart(64, '0')
const TOPICS = Array.from({ length: 64 }, (_, i) => discoveryKey(`topic-${i}`))

function directory (): { dir: TopicDirectory; table: RendezvousTable; clock: ManualClock } {
  const clock = new ManualClock()
  const table = new RendezvousTable(() => clock.now())
  const dir = new TopicDirectory({
    localId: 'f'.repeat(64),
    manager: { getPeer: () => undefined } as unknown as ConnectionManager,
    rendezvous: table,
    addresses: () => [],
    connections: () => [],
    announces: () => false
  })
  return { dir, table, clock }
}

/** A visitor's connection from `ip` whose hello announces `topics`. */
const visitor = (peer: string, ip: string, topics: string[]): NodeConnection => ({
  peer, address: `tcp://${ip}:40000`, remoteTopics: topics, remoteAnnounces: true, remoteListen: [`tcp://${ip}:4001`]
}) as unknown as NodeConnection

test('visits from 500 identities of one /24 announcing 64 topics each hold 256 registrations at most: honest peers of other ranges still register', () => {
  const { dir, table } = directory()
  for (let i = 0; i < 500; i++) dir.visited(visitor(ID(1000 + i), `45.67.89.${1 + (i % 250)}`, TOPICS), 600_000)
  assert.ok(table.registrations <= 256, `${table.registrations} registrations from one /24`)
  for (let h = 0; h < 20; h++) dir.visited(visitor(ID(h + 1), `203.0.${h}.7`, TOPICS.slice(0, 8)), 60_000)
  assert.equal(table.registrations, 256 + 20 * 8)
  assert.equal(table.lookup(TOPICS[0]!, 1000).filter((r) => Number.parseInt(r.id, 16) <= 20).length, 20)
})

test('sybils of one /24 announcing one topic with the longest TTL take 32 of its places at most: the honest registrations stay', () => {
  const { dir, table } = directory()
  const topic = TOPICS[0]!
  for (let h = 0; h < 10; h++) dir.announce(visitor(ID(h + 1), `198.${h}.1.7`, [topic]), topic, [`tcp://198.${h}.1.7:4001`], 60_000)
  for (let i = 0; i < 300; i++) dir.announce(visitor(ID(1000 + i), `45.67.89.${1 + (i % 250)}`, [topic]), topic, [], 600_000)
  const held = table.lookup(topic, 1000)
  assert.equal(held.filter((r) => Number.parseInt(r.id, 16) <= 10).length, 10, 'every honest registration stays')
  assert.equal(held.length, 10 + 32)
  // A sybil renewing its own registration is not refused.
  const before = dir.refused
  dir.announce(visitor(ID(1000), '45.67.89.1', [topic]), topic, [], 600_000)
  assert.equal(dir.refused, before)
})

test('peers on loopback or a private network are not limited by range (one machine, one LAN)', () => {
  const { dir, table } = directory()
  for (let i = 0; i < 40; i++) dir.visited(visitor(ID(1 + i), '10.0.0.9', TOPICS.slice(0, 8)), 60_000)
  assert.equal(table.registrations, 320)
})
