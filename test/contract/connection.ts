import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Connection, ConnectionManager, PeerId } from '../../src/index.js'
import { until, within } from '../helpers/wait.js'

/**
 * The contract every `Connection` implementation keeps, run against each one (memory, node,
 * libp2p, Hyperswarm: test/contract/*.test.ts), as js-libp2p's interface-compliance-tests do:
 *
 * - `id`, `peer` and `direction` agree on both ends: the dialler's end is 'outbound' and names the
 *   listener, the listener's end is 'inbound' and names the dialler; each manager lists the end it
 *   holds under the same id, peer and direction.
 * - `close(reason)` is idempotent: a second and a third call (one while the first is in flight) neither
 *   throw nor reject, and both ends close.
 * - The reason reaches the remote where the transport can carry it (`Transport.remoteReason`; each
 *   test file says why when it cannot: no test is registered, so nothing is skipped).
 * - Each manager hears `disconnected()` once per connection (`Transport.disconnectedCalls` names an
 *   implementation that reports it more than once, and why).
 * - A connection its manager closes (here: the peer banned) closes on both sides, with the manager's
 *   reason at the remote where the transport carries one.
 * - `streams` counts the open application channels where the transport has channels
 *   (`Transport.openStream`): 0 when idle, 1 with one open, 0 again once it closed.
 */
export interface ConnectedPair {
  /** The dialler's end, as its manager holds it. */
  outbound: Connection
  /** The listener's end, as its manager holds it. */
  inbound: Connection
  /** The dialler's and the listener's ids. */
  dialler: PeerId
  listener: PeerId
  /** The managers of the dialler and of the listener (spied: see `spyManager`). */
  diallerManager: SpiedManager
  listenerManager: SpiedManager
}

/** A manager whose `connected`/`disconnected` calls are counted per connection id. */
export interface SpiedManager {
  manager: ConnectionManager
  /** How many times `disconnected()` was called for the connection `id`. */
  disconnects: (id: string) => number
  /** Every connection handed to `connected()`, in order. */
  connectedOnes: Connection[]
}

/** Counts `disconnected()` per connection id on `manager` (the transport calls it through the object). */
export function spyManager (manager: ConnectionManager): SpiedManager {
  const counts = new Map<string, number>()
  const connectedOnes: Connection[] = []
  const original = { connected: manager.connected.bind(manager), disconnected: manager.disconnected.bind(manager) }
  manager.connected = (conn: Connection): boolean => {
    connectedOnes.push(conn)
    return original.connected(conn)
  }
  manager.disconnected = (conn: Connection): void => {
    counts.set(conn.id, (counts.get(conn.id) ?? 0) + 1)
    original.disconnected(conn)
  }
  return { manager, connectedOnes, disconnects: (id) => counts.get(id) ?? 0 }
}

export interface Transport {
  /** Names the implementation in the test titles. */
  name: string
  /** A connected pair: the dialler's manager dialled the listener, both managers hold their end. */
  connect: () => Promise<ConnectedPair>
  /**
   * The reason the far end of `end` received when `end` was closed with one, once it has arrived
   * (undefined while it has not); absent when the transport cannot carry a reason.
   */
  remoteReason?: (pair: ConnectedPair, end: 'outbound' | 'inbound') => string | undefined
  /**
   * Opens one application channel (stream) between the two ends; resolves once it is open on both,
   * with a function that closes it. Absent when the transport has no channels the Connection counts.
   */
  openStream?: (pair: ConnectedPair) => Promise<() => void>
  /**
   * 'once' (the contract), or a reason this implementation reports `disconnected()` more than once
   * for one connection; then the test checks that the manager still counts it closed once.
   */
  disconnectedCalls?: 'once' | { moreThanOnce: string }
  /** How long a wait for the remote may take (real sockets: seconds). */
  timeoutMs?: number
  /** Tears everything down after each test. */
  cleanup: () => Promise<void>
}

/** Runs `fn` a few event-loop turns later, so a report that is deferred by setImmediate has arrived. */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

function holds (m: SpiedManager, id: string): boolean {
  return m.manager.listConnections().some((c) => c.id === id)
}

/** Registers the contract's tests for `transport`. */
export function connectionContract (transport: Transport): void {
  const wait = transport.timeoutMs ?? 10_000
  const opts = { timeout: wait * 4 }

  async function withPair (fn: (pair: ConnectedPair) => Promise<void>): Promise<void> {
    try {
      const pair = await within(transport.connect(), wait, `${transport.name}: a connected pair`)
      await fn(pair)
    } finally {
      await within(transport.cleanup(), wait, `${transport.name}: cleanup`)
    }
  }

  async function bothGone (pair: ConnectedPair): Promise<void> {
    await until(() => !holds(pair.diallerManager, pair.outbound.id) && !holds(pair.listenerManager, pair.inbound.id), wait,
      () => `both managers to drop the connection (dialler holds it: ${holds(pair.diallerManager, pair.outbound.id)}, listener: ${holds(pair.listenerManager, pair.inbound.id)})`)
    await settle()
  }

  test(`${transport.name}: id, peer and direction agree on both ends and with what each manager holds`, opts, async () => {
    await withPair(async (pair) => {
      const { outbound, inbound } = pair
      assert.equal(outbound.direction, 'outbound')
      assert.equal(inbound.direction, 'inbound')
      assert.equal(outbound.peer, pair.listener, "the dialler's end names the listener")
      assert.equal(inbound.peer, pair.dialler, "the listener's end names the dialler")
      for (const c of [outbound, inbound]) {
        assert.equal(typeof c.id, 'string')
        assert.ok(c.id.length > 0, 'a non-empty id')
        assert.equal(c.id, c.id, 'a stable id')
      }
      const [o] = pair.diallerManager.manager.listConnections().filter((c) => c.id === outbound.id)
      const [i] = pair.listenerManager.manager.listConnections().filter((c) => c.id === inbound.id)
      assert.ok(o !== undefined, "the dialler's manager holds the outbound end under its id")
      assert.ok(i !== undefined, "the listener's manager holds the inbound end under its id")
      assert.deepEqual([o.peer, o.direction], [pair.listener, 'outbound'])
      assert.deepEqual([i.peer, i.direction], [pair.dialler, 'inbound'])
    })
  })

  for (const end of ['outbound', 'inbound'] as const) {
    test(`${transport.name}: close(reason) on the ${end} end is idempotent, closes both ends, and each manager hears disconnected() ${transport.disconnectedCalls === undefined || transport.disconnectedCalls === 'once' ? 'once' : 'at least once (see the transport file)'}`, opts, async () => {
      await withPair(async (pair) => {
        const conn = pair[end]
        const first = conn.close('trimmed')
        const second = conn.close('trimmed') // while the first may be in flight
        await within(Promise.all([first, second]), wait, 'the first two close() calls')
        await bothGone(pair)
        await within(Promise.resolve(conn.close('trimmed')), wait, 'a close() after the connection closed')
        await settle()
        for (const [m, c] of [[pair.diallerManager, pair.outbound], [pair.listenerManager, pair.inbound]] as const) {
          const n = m.disconnects(c.id)
          if (transport.disconnectedCalls === undefined || transport.disconnectedCalls === 'once') {
            assert.equal(n, 1, `disconnected() for ${c.direction} end ${c.id}`)
          } else {
            assert.ok(n >= 1, `disconnected() for ${c.direction} end ${c.id} at least once`)
          }
          assert.equal(m.manager.stats().connections, 0, `the ${c.direction} side's manager counts no connection`)
        }
      })
    })

    if (transport.remoteReason !== undefined) {
      const remoteReason = transport.remoteReason
      test(`${transport.name}: close(reason) on the ${end} end carries the reason to the remote`, opts, async () => {
        await withPair(async (pair) => {
          await pair[end].close('trimmed')
          await until(() => remoteReason(pair, end) !== undefined, wait, 'the reason at the remote')
          assert.equal(remoteReason(pair, end), 'trimmed')
        })
      })
    }
  }

  for (const end of ['outbound', 'inbound'] as const) {
    const carries = transport.remoteReason !== undefined
    test(`${transport.name}: a connection its manager closes (a ban of the peer, on the ${end} side) closes on both sides${carries ? ' and carries the reason to the remote' : ''}`, opts, async () => {
      await withPair(async (pair) => {
        const [own, other] = end === 'outbound' ? [pair.diallerManager, pair.listenerManager] : [pair.listenerManager, pair.diallerManager]
        own.manager.setPriority([{ peer: pair[end].peer, priority: 'banned' }])
        await bothGone(pair)
        if (transport.remoteReason !== undefined) {
          const remoteReason = transport.remoteReason
          await until(() => remoteReason(pair, end) !== undefined, wait, 'the reason at the remote')
          assert.equal(remoteReason(pair, end), 'banned')
        }
        const ownEnd = pair[end]
        const otherEnd = end === 'outbound' ? pair.inbound : pair.outbound
        assert.ok(own.disconnects(ownEnd.id) <= 1, 'the transport reports the close at most once to the manager that closed it')
        assert.equal(other.disconnects(otherEnd.id), 1, 'the remote manager hears disconnected() once')
      })
    })
  }

  if (transport.openStream !== undefined) {
    const openStream = transport.openStream
    test(`${transport.name}: streams counts the open channels on both ends`, opts, async () => {
      await withPair(async (pair) => {
        assert.equal(pair.outbound.streams ?? 0, 0, 'idle outbound end')
        assert.equal(pair.inbound.streams ?? 0, 0, 'idle inbound end')
        const closeStream = await within(openStream(pair), wait, 'a channel open on both ends')
        await until(() => pair.outbound.streams === 1 && pair.inbound.streams === 1, wait,
          () => `one channel counted on both ends (outbound ${pair.outbound.streams}, inbound ${pair.inbound.streams})`)
        closeStream()
        await until(() => pair.outbound.streams === 0 && pair.inbound.streams === 0, wait,
          () => `the channel gone from both ends (outbound ${pair.outbound.streams}, inbound ${pair.inbound.streams})`)
      })
    })
  }
}
