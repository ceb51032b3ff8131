/**
 * Strangers churning a full node's room over a long attack, in virtual time: src/adapters/room-policy.ts
 * (the rule), src/adapters/ssb/room.ts and src/adapters/hyperswarm/room.ts (the two rooms).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Room as SsbRoom } from '../../src/adapters/ssb/room.js'
import { Room as SwarmRoom } from '../../src/adapters/hyperswarm/room.js'
import { chooseRoomVictim, DEFAULT_ROOM, roomPolicy, type RoomConnection } from '../../src/adapters/room-policy.js'
import { PeerwardenError } from '../../src/errors.js'
import type { Clock, ConnectionManager } from '../../src/manager/types.js'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

// A full SSB server or managed Hyperswarm makes room for a peer the bound refuses: one connection
// gives way, once a second. Strangers (peers the manager does not know) shared one release per
// 30 s, oldest connection first: an attacker with fresh keys every 30 s still replaced every honest
// peer given time (3 of 3 gone after 90 s), and an identity that got in once came back as a known
// peer, with a release a second. Now a stranger may only displace a connection younger than the
// room's `tenure` (60 s) or one a stranger took through the room, and a peer let in as a stranger
// stays one when it comes back.

const HOUR = 3_600_000

interface Knocker {
  /** The bound refuses `id`: the room's turn. Returns whether the peer is connected afterwards. */
  knock(id: string): boolean
  stats(): { releases: number; strangerReleases: number; strangersRefused: number; strangersRemembered: number }
  close(): void
}

/** Connects `id` if the manager admits it now. */
function join (m: ConnectionManager, id: string): boolean {
  return m.admits(id) && m.connected(testConnection(id))
}

function ssbKnocker (m: ConnectionManager, clock: Clock): Knocker {
  const room = new SsbRoom(m, () => clock.now())
  return {
    knock: (id) => m.admits(id) ? join(m, id) : room.makeRoom(id) && join(m, id),
    stats: () => room.stats(),
    close: () => {}
  }
}

function swarmKnocker (m: ConnectionManager, clock: Clock): Knocker {
  const room = new SwarmRoom(m, clock, (peer) => { join(m, peer) })
  return {
    knock: (id) => m.admits(id) || room.refused(id) ? join(m, id) : m.listConnections().some((c) => c.peer === id),
    stats: () => room.stats(),
    close: () => { room.close() }
  }
}

for (const [name, make] of [['SSB', ssbKnocker], ['Hyperswarm', swarmKnocker]] as const) {
  test(`${name}: an hour of fresh keys every second, and every identity that got in coming back, leaves a full node's tenured honest peers in place`, async () => {
    // A grace longer than the attack: only the room may release a connection.
    const { m, clock } = manager({ lowWater: 2, highWater: 4, gracePeriod: 2 * HOUR })
    const room = make(m, clock)
    try {
      const honest = ['h1', 'h2', 'h3']
      for (const h of honest) assert.ok(join(m, h))
      await clock.advance(5 * 60_000)
      // A fourth honest peer arrives as the attack starts: young, it may give way once.
      assert.ok(join(m, 'h4'))
      const got = new Set<string>()
      let fresh = 0
      for (let t = 0; t < HOUR; t += 1000) {
        await clock.advance(1000)
        const id = `s${fresh++}`
        if (room.knock(id)) got.add(id)
        // Every identity that got in once knocks again as a peer the manager knows.
        for (const back of got) if (!m.listConnections().some((c) => c.peer === back) && room.knock(back)) break
      }
      const held = m.listConnections().map((c) => c.peer)
      const kept = honest.filter((h) => held.includes(h))
      const s = room.stats()
      console.log(`${name}: tenured honest peers kept ${kept.length} of 3, connections ${held.length}, strangers ever in ${got.size}; releases ${s.releases} (for strangers ${s.strangerReleases}), strangers refused ${s.strangersRefused}, remembered ${s.strangersRemembered}`)
      assert.deepEqual(kept, honest)
      assert.ok(held.length <= 4)
      assert.ok(s.strangersRefused > 0)
      assert.ok(s.strangersRemembered <= DEFAULT_ROOM.maxStrangers)
    } finally {
      room.close()
    }
  })

  test(`${name}: strangers still find room on a node whose connections are young (late joiners), and a later stranger displaces the earlier one first`, async () => {
    const { m, clock } = manager({ lowWater: 2, highWater: 3, gracePeriod: 2 * HOUR })
    const room = make(m, clock)
    try {
      for (const h of ['h1', 'h2', 'h3']) assert.ok(join(m, h))
      await clock.advance(2000)
      assert.ok(room.knock('s1'), 'a stranger gets a young connection\'s place')
      await clock.advance(DEFAULT_ROOM.memory)
      assert.ok(room.knock('s2'), 'a second stranger, memory later')
      const held = m.listConnections().map((c) => c.peer)
      assert.ok(!held.includes('s1'), 'the stranger the room let in gave way first')
      assert.equal(held.filter((p) => p.startsWith('h')).length, 2)
    } finally {
      room.close()
    }
  })
}

test('chooseRoomVictim: room strangers first, then connections that have not proven themselves (younger than tenure, untagged, not high), then for a known peer alone a proven one once per memory; never protected or long-term ones', () => {
  const now = 1_000_000
  const c = (peer: string, age: number, more: Partial<RoomConnection> = {}): RoomConnection => ({ peer, openedAt: now - age, protected: false, longTerm: false, priority: 'medium', value: 0, ...more })
  const old = DEFAULT_ROOM.tenure
  const pick = (conns: RoomConnection[], stranger: boolean, strangers: string[] = [], provenTaken?: number): string | undefined =>
    chooseRoomVictim(conns, { newcomer: 'n', stranger, now, strangers: new Set(strangers), provenTaken })?.peer
  const rows: Array<[RoomConnection[], boolean, string[], string | undefined, string]> = [
    [[c('a', old + 5), c('b', old)], true, [], undefined, 'a stranger: every connection tenured'],
    [[c('a', old + 5), c('b', old - 1)], true, [], 'b', 'a stranger: the young one'],
    [[c('a', old + 5), c('b', 10), c('c', 20)], true, [], 'c', 'a stranger: the oldest young one'],
    [[c('a', old + 5), c('b', 10), c('s', old * 9)], true, ['s'], 's', 'a stranger: a room stranger first, however old'],
    [[c('a', old + 5), c('b', 10)], false, [], 'b', 'a known peer: the one that has not proven itself before the tenured one'],
    [[c('a', old + 5), c('b', old + 9)], false, [], 'b', 'a known peer: every connection tenured, none taken lately: the oldest'],
    [[c('a', old + 5), c('s', 10)], false, ['s'], 's', 'a known peer: a room stranger first'],
    [[c('a', 10, { protected: true }), c('b', 5, { longTerm: true })], true, [], undefined, 'protected and long-term never'],
    [[c('a', 10, { protected: true }), c('b', 5, { longTerm: true })], false, [], undefined, 'protected and long-term never (known)'],
    [[c('a', 10, { priority: 'high' }), c('b', 5, { value: 1 })], true, [], undefined, 'a stranger: never a peer of high priority or one the application tagged'],
    [[c('a', 10, { priority: 'high' }), c('b', 5, { value: 1 })], false, [], 'a', 'a known peer: high priority and tagged have proven themselves: the oldest, none taken lately'],
    [[c('n', 10)], true, ['n'], undefined, 'never the newcomer itself']
  ]
  for (const [conns, stranger, strangers, expected, why] of rows) assert.equal(pick(conns, stranger, strangers), expected, why)
  // Proven places for known peers together: once per memory (regression: one a second).
  const tenured = [c('a', old + 5), c('b', old + 9)]
  assert.equal(pick(tenured, false, [], now - DEFAULT_ROOM.memory + 1), undefined, 'a proven place taken within memory')
  assert.equal(pick(tenured, false, [], now - DEFAULT_ROOM.memory), 'b', 'memory over')
  assert.equal(pick([...tenured, c('y', 10)], false, [], now), 'y', 'an unproven place is free whatever the proven budget')
})

test('room options: defaults filled in, Infinity allowed for tenure; a wrong value or name is ERR_INVALID_ARGUMENT naming room.<field>', () => {
  assert.equal(roomPolicy(undefined), DEFAULT_ROOM)
  assert.deepEqual(roomPolicy({ tenure: Infinity, maxStrangers: 0 }), { ...DEFAULT_ROOM, tenure: Infinity, maxStrangers: 0 })
  const rows: Array<[unknown, RegExp]> = [
    [{ tenure: -1 }, /room\.tenure/],
    [{ interval: Infinity }, /room\.interval/],
    [{ maxStrangers: 1.5 }, /room\.maxStrangers/],
    [{ memory: '30s' }, /room\.memory/],
    [{ tenur: 5 }, /room\.tenur is not a room option/],
    [null, /room must be an object/]
  ]
  for (const [given, message] of rows) {
    assert.throws(() => roomPolicy(given), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_INVALID_ARGUMENT' && message.test(err.message), JSON.stringify(given))
  }
})
