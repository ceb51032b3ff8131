/**
 * Looking for room after a loss: src/adapters/hyperswarm/lookups.ts (deliberate difference 4 of
 * docs/hyperswarm.md: plain Hyperswarm looks up every 10 min).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LOOKUP_INTERVAL, RoomLookups } from '../../src/adapters/hyperswarm/lookups.js'
import type { HyperswarmLike } from '../../src/adapters/hyperswarm/types.js'
import type { ConnectionManager } from '../../src/manager/types.js'
import { ManualClock } from '../../src/testing/index.js'

/** Lookups on a swarm with a client topic, a server-only topic and a destroyed client topic; `refreshed` names what was looked up. */
function setup (): { lookups: RoomLookups; clock: ManualClock; count: { connections: number }; refreshed: string[]; state: { stopped: boolean; suspended: boolean } } {
  const refreshed: string[] = []
  const discovery = (name: string, isClient: boolean, destroyed = false): unknown => ({ isClient, destroyed, refresh: async () => { refreshed.push(name) } })
  const state = { stopped: false, suspended: false }
  const swarm = {
    _discovery: new Map([['c', discovery('client', true)], ['s', discovery('server', false)], ['d', discovery('gone', true, true)]]),
    get suspended () { return state.suspended }
  } as unknown as HyperswarmLike
  const count = { connections: 2 }
  const manager = { stats: () => ({ connections: count.connections, lowWater: 2 }) } as unknown as ConnectionManager
  const clock = new ManualClock()
  return { lookups: new RoomLookups(swarm, manager, clock, () => state.stopped), clock, count, refreshed, state }
}

test('a loss that takes the swarm just below lowWater looks up its client topics at once, at most once per LOOKUP_INTERVAL', async () => {
  const { lookups, clock, count, refreshed } = setup()
  lookups.droppedOne()
  assert.deepEqual(refreshed, [], 'at lowWater: nothing is missing')
  count.connections = 1
  lookups.droppedOne()
  assert.deepEqual(refreshed, ['client'], 'one step below lowWater: the client topic, not the server-only or destroyed one')
  await clock.advance(LOOKUP_INTERVAL - 1)
  lookups.droppedOne()
  assert.deepEqual(refreshed, ['client'], 'not again within the interval')
  await clock.advance(1)
  lookups.droppedOne()
  assert.deepEqual(refreshed, ['client', 'client'])
  count.connections = 0
  await clock.advance(LOOKUP_INTERVAL)
  lookups.droppedOne()
  assert.deepEqual(refreshed, ['client', 'client'], 'only the step from lowWater, not every loss below it')
})

test('no lookup for room while stopped or suspended', () => {
  const { lookups, count, refreshed, state } = setup()
  count.connections = 1
  state.stopped = true
  lookups.droppedOne()
  state.stopped = false
  state.suspended = true
  lookups.droppedOne()
  assert.deepEqual(refreshed, [])
})
