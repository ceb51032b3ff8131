/**
 * The room's rule for known peers and its pacing on the injected clock, in virtual time:
 * src/adapters/room-policy.ts (the rule), src/adapters/hyperswarm/room.ts and src/adapters/ssb/room.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Room as SsbRoom } from '../../src/adapters/ssb/room.js'
import { Room as SwarmRoom } from '../../src/adapters/hyperswarm/room.js'
import { DEFAULT_ROOM, type RoomStats } from '../../src/adapters/room-policy.js'
import type { Clock, ConnectionManager } from '../../src/manager/types.js'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

const HOUR = 3_600_000

/** Connects `id` if the manager admits it now. */
function join (m: ConnectionManager, id: string): boolean {
  return m.admits(id) && m.connected(testConnection(id))
}

const held = (m: ConnectionManager, id: string): boolean => m.listConnections().some((c) => c.peer === id)

/** One adapter's room: `knock(id)` is the bound refusing `id`; returns whether `id` is connected after. */
interface Knocker { knock(id: string): boolean; stats(): RoomStats; close(): void }

const rooms: Array<[string, (m: ConnectionManager, clock: Clock) => Knocker]> = [
  ['SSB', (m, clock) => {
    const room = new SsbRoom(m, () => clock.now())
    return { knock: (id) => m.admits(id) ? join(m, id) : room.makeRoom(id) && join(m, id), stats: () => room.stats(), close: () => {} }
  }],
  ['Hyperswarm', (m, clock) => {
    const room = new SwarmRoom(m, clock, (peer) => { join(m, peer) })
    return {
      knock: (id) => m.admits(id) || room.refused(id) ? join(m, id) : held(m, id),
      stats: () => room.stats(),
      close: () => { room.close() }
    }
  }]
]

for (const [name, make] of rooms) {
  test(`${name}: identities that got in while the node was below highWater come back known but take no tenured place (regression: the oldest place, one a second)`, async () => {
    const { m, clock } = manager({ lowWater: 2, highWater: 4, gracePeriod: 2 * HOUR })
    const room = make(m, clock)
    try {
      const honest = ['h1', 'h2', 'h3']
      m.addPeers(honest.map((id) => ({ id, topics: ['t'] })))
      for (const h of honest) assert.ok(join(m, h))
      // Ten identities each get in while there is room (3 of 4), then leave: the manager knows them now.
      const sybils = Array.from({ length: 10 }, (_, i) => `k${i}`)
      for (const k of sybils) {
        const conn = testConnection(k)
        assert.ok(m.admits(k) && m.connected(conn))
        m.disconnected(conn)
        assert.ok(m.getPeer(k) !== undefined && !held(m, k))
      }
      await clock.advance(5 * 60_000)
      assert.ok(join(m, 'k0'), 'the fourth place')
      // Two minutes of them knocking once a second (they churn the young fourth place among
      // themselves), then once per tenure + 1 s for fifteen minutes: every place is tenured then.
      let turn = 0
      const knock = (): void => {
        const out = sybils.filter((k) => !held(m, k))
        room.knock(out[turn++ % out.length]!)
      }
      for (let t = 0; t < 2 * 60_000; t += 1000) { await clock.advance(1000); knock() }
      for (let t = 0; t < 15 * 60_000; t += DEFAULT_ROOM.tenure + 1000) { await clock.advance(DEFAULT_ROOM.tenure + 1000); knock() }
      const s = room.stats()
      assert.deepEqual(honest.filter((h) => held(m, h)), honest, 'every tenured honest peer kept')
      assert.equal(s.provenReleases, 0)
      assert.ok(s.releases > 0, 'they still churned among the young places')
      assert.ok(m.stats().connections <= 4)
    } finally {
      room.close()
    }
  })

  test(`${name}: a known peer found on a topic still takes a tenured place, once per memory for all such peers`, async () => {
    const { m, clock } = manager({ lowWater: 2, highWater: 4, gracePeriod: 2 * HOUR })
    const room = make(m, clock)
    try {
      const honest = ['h1', 'h2', 'h3', 'h4']
      m.addPeers([...honest, 'n1', 'n2'].map((id) => ({ id, topics: ['t'] })))
      for (const h of honest) assert.ok(join(m, h))
      await clock.advance(5 * 60_000)
      assert.ok(room.knock('n1'), 'a tenured place for a peer with standing')
      // n1 is young but the application protects it: only tenured places are left.
      m.protect('n1', 'app')
      await clock.advance(DEFAULT_ROOM.interval)
      assert.ok(!room.knock('n2'), 'within memory of the last tenured place taken')
      await clock.advance(DEFAULT_ROOM.memory)
      assert.ok(room.knock('n2'), 'memory over')
      assert.equal(room.stats().provenReleases, 2)
      assert.equal(honest.filter((h) => held(m, h)).length, 2)
    } finally {
      room.close()
    }
  })
}

test('Hyperswarm: the room paces its releases on the clock it is given: a peer refused within the interval gets the next release when the clock reaches it', async () => {
  const { m, clock } = manager({ lowWater: 2, highWater: 3, gracePeriod: 2 * HOUR })
  const room = new SwarmRoom(m, clock, (peer) => { join(m, peer) })
  try {
    m.addPeers(['h1', 'h2', 'h3', 'a', 'b'].map((id) => ({ id, topics: ['t'] })))
    for (const h of ['h1', 'h2', 'h3']) assert.ok(join(m, h))
    await clock.advance(2000)
    assert.ok(room.refused('a') && join(m, 'a'), 'a young place released and a let in')
    assert.equal(room.refused('b'), false)
    assert.ok(!held(m, 'b'), 'b waits for the interval')
    await clock.advance(DEFAULT_ROOM.interval - 1)
    assert.ok(!held(m, 'b'), 'not before the interval is over')
    await clock.advance(1)
    assert.ok(held(m, 'b'), 'released and dialled back when the manual clock reached the interval')
    assert.equal(room.stats().releases, 2)
    assert.ok(m.stats().connections <= 3)
  } finally {
    room.close()
  }
})
