import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeConnection } from '../../src/node/connection.js'
import { Discovery, discoveryKey } from '../../src/node/discovery.js'
import { MAX_FAREWELL_TOPICS } from '../../src/node/first-contact.js'
import { RendezvousTable } from '../../src/node/rendezvous.js'
import { ManualClock } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

/** A point whose rendezvous table lists one peer for each of `topics`, and a newcomer declaring `declared`. */
function point (topics: number, declared: number): { d: Discovery; newcomer: NodeConnection; posted: Array<{ t: string; topic?: string }> } {
  const clock = new ManualClock(0)
  const { m } = manager({ clock })
  const table = new RendezvousTable(() => clock.now())
  const keys = Array.from({ length: topics }, (_, i) => discoveryKey(`topic-${i}`))
  keys.forEach((key, i) => { table.announce(key, i.toString(16).padStart(64, '0'), [`tcp://127.0.0.1:${4000 + i}`], 60_000) })
  const d = new Discovery({ localId: 'f'.repeat(64), manager: m, rendezvous: table, addresses: () => [], connections: () => [] },
    { ttl: 60_000, refresh: 15_000, lookupTimeout: 2_000, quotaMin: 3, lowWater: 3, random: Math.random, clock })
  const posted: Array<{ t: string; topic?: string }> = []
  const newcomer = {
    id: 'n', peer: 'e'.repeat(64), direction: 'inbound', address: 'tcp://127.0.0.1:50000', remoteListen: [], remoteRendezvous: false,
    remoteAnnounces: false, remoteTopics: keys.slice(0, declared), post: (msg: { t: string; topic?: string }) => { posted.push(msg); return true }
  } as unknown as NodeConnection
  return { d, newcomer, posted }
}

test(`a newcomer turned away is referred peers for ${MAX_FAREWELL_TOPICS} of its topics at most, and the farewell cut short is counted`, () => {
  const { d, newcomer, posted } = point(64, 64)
  d.farewell(newcomer, 'over-limit')
  assert.equal(posted.filter((m) => m.t === 'pex').length, MAX_FAREWELL_TOPICS)
  assert.equal(d.counts.farewellsCapped, 1)
})

test('a newcomer turned away with a few topics is referred peers for each of them, the topics it declared first', () => {
  const { d, newcomer, posted } = point(12, 3)
  d.farewell(newcomer, 'trimmed')
  assert.deepEqual(posted.map((m) => m.topic), newcomer.remoteTopics)
  assert.equal(d.counts.farewellsCapped, 0)
})

test('a connection closed for another reason leaves without referrals', () => {
  const { d, newcomer, posted } = point(4, 4)
  d.farewell(newcomer, 'banned')
  assert.deepEqual(posted, [])
})
