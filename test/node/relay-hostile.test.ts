import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ConnectionManager } from '../../src/manager/types.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { RelayClient } from '../../src/node/relay-client.js'
import type { RelayHub, RelayLink } from '../../src/node/relay.js'
import type { RelayMessage } from '../../src/node/relay-wire.js'
import { MAX_DELAY } from '../../src/clock.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// Pure units: what a hostile relay or client can make the relay code do (virtual time, no sockets).

const ID = (c: string): string => c.repeat(64)

function fakeLink (peer: string, sent: RelayMessage[] = []): RelayLink {
  return { conn: { peer, address: `tcp://192.0.2.7:4001#${peer}`, open: true, direction: 'outbound' } as unknown as NodeConnection, circuits: new Map(), closed: false, post: (m: RelayMessage) => { sent.push(m); return true } } as unknown as RelayLink
}

function client (clock: ManualClock): { client: RelayClient; protectedPeers: Set<string>; relayed: string[][] } {
  const protectedPeers = new Set<string>()
  const relayed: string[][] = []
  const manager = { protect: (p: string) => { protectedPeers.add(p) }, unprotect: (p: string) => { protectedPeers.delete(p) } } as unknown as ConnectionManager
  const c = new RelayClient({
    clock,
    manager,
    hub: () => ({}) as unknown as RelayHub,
    live: () => [],
    relayed: (a) => { relayed.push(a) },
    dialOver: async () => await Promise.reject(new Error('no')),
    acceptOver: () => {}
  })
  return { client: c, protectedPeers, relayed }
}

test('a relay client ignores a \'reserved\' it did not ask for: no reservation, no protection, no relayed address', () => {
  const clock = new ManualClock()
  const { client: c, protectedPeers, relayed } = client(clock)
  c.setPrivate(true)
  for (const ch of ['a', 'b', 'c', 'd']) c.reserved(fakeLink(ID(ch)), { ttl: 60_000 })
  assert.equal(c.reservationCount, 0)
  assert.equal(protectedPeers.size, 0)
  assert.deepEqual(relayed.at(-1) ?? [], [])
})

test('a relay client\'s renewal timer stays within MAX_DELAY whatever ttl the relay names (node fires a longer one after 1 ms)', () => {
  const clock = new ManualClock()
  const delays: number[] = []
  const recording = Object.assign(Object.create(clock) as ManualClock, { setTimeout: (fn: () => void, ms: number) => { delays.push(ms); return clock.setTimeout(fn, ms) } })
  const { client: c } = client(recording)
  ;(c as unknown as { asking: Set<string> }).asking.add(ID('a')) // asked, as fill() does
  c.setPrivate(true)
  c.reserved(fakeLink(ID('a')), { ttl: Number.MAX_SAFE_INTEGER })
  assert.equal(c.reservationCount, 1)
  assert.equal(delays.length, 1)
  assert.ok(delays[0]! <= MAX_DELAY, `renewal after ${delays[0]!} ms`)
})
