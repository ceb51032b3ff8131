/**
 * The rules of shared bans (src/adapters/hyperswarm/bans.ts) on a manager and PeerInfo stand-ins:
 * which Hyperswarm bans become manager bans and when, and which lifts lift what. No swarm, no sockets.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { SharedBans } from '../../src/adapters/hyperswarm/bans.js'
import { createConnectionManager } from '../../src/manager/manager.js'
import type { ConnectionManager } from '../../src/manager/types.js'
import { ManualClock } from '../../src/testing/index.js'
import { sharedBans, type Info } from '../helpers/swarm-bans.js'

function setup (): { manager: ConnectionManager; bans: SharedBans; held: Set<string>; info: (n: number) => { info: Info; id: string }; close: () => Promise<void> } {
  const manager = createConnectionManager({ dial: async () => { throw new Error('no dials here') }, clock: new ManualClock(), lowWater: 0, highWater: 8 })
  const held = new Set<string>()
  let closed = false
  const { bans, info } = sharedBans(manager, { closed: () => closed, holds: (peer) => held.has(peer) })
  return { manager, bans, held, info, close: async () => { closed = true; await manager.close() } }
}

test('peerInfo.ban(true) is a manager ban at once when not connected; ban(false) gives back the priority the peer had', async () => {
  const { manager, info, close } = setup()
  try {
    const { info: a, id } = info(1)
    manager.setPriority([{ peer: id, priority: 'high' }])
    a.ban(true)
    assert.equal(a.banned, true, 'Hyperswarm\'s own ban still runs')
    assert.equal(manager.getPeer(id)?.priority, 'banned')
    a.ban(false)
    assert.equal(a.banned, false)
    assert.equal(manager.getPeer(id)?.priority, 'high')
  } finally {
    await close()
  }
})

test('a ban of a connected peer lands when its connection closes, and not at all if lifted before', async () => {
  const { manager, bans, held, info, close } = setup()
  try {
    const { info: a, id: ida } = info(1)
    const { info: b, id: idb } = info(2)
    held.add(ida).add(idb)
    a.ban(true)
    b.ban(true)
    assert.notEqual(manager.getPeer(ida)?.priority, 'banned', 'the open connection stays, as in Hyperswarm')
    b.ban(false)
    held.clear()
    bans.closed(ida)
    bans.closed(idb)
    assert.equal(manager.getPeer(ida)?.priority, 'banned')
    assert.notEqual(manager.getPeer(idb)?.priority, 'banned')
  } finally {
    await close()
  }
})

test('the ban following an over-the-bound refusal is no manager ban; a manager ban is not lifted by peerInfo.ban(false)', async () => {
  const { manager, bans, info, close } = setup()
  try {
    const { info: a, id: ida } = info(1)
    bans.refusedOnce(ida)
    a.ban(true) // what Hyperswarm does right after the firewall said yes
    bans.settledOnce(ida)
    assert.equal(manager.getPeer(ida)?.priority ?? 'medium', 'medium')
    const { info: b, id: idb } = info(2)
    manager.setPriority([{ peer: idb, priority: 'banned' }])
    b.ban(true) // the firewall refused it for the manager: Hyperswarm bans it
    b.ban(false)
    assert.equal(manager.getPeer(idb)?.priority, 'banned')
  } finally {
    await close()
  }
})

test('a shared ban lifted in the manager is lifted in Hyperswarm at the next manager dial, not before; a refused peer\'s is not', async () => {
  const { manager, bans, info, close } = setup()
  try {
    const { info: a, id } = info(1)
    a.ban(true)
    bans.liftForDial(id, a)
    assert.equal(a.banned, true, 'still banned in the manager: kept')
    manager.setPriority([{ peer: id, priority: 'medium' }])
    assert.equal(a.banned, true)
    bans.liftForDial(id, a)
    assert.equal(a.banned, false)
    assert.equal(bans.shares(id), false)
  } finally {
    await close()
  }
})

test('unwrapAll gives each PeerInfo Hyperswarm\'s own ban back, and a closed adapter mirrors nothing', async () => {
  const { manager, bans, info, close } = setup()
  const { info: a, id } = info(1)
  assert.ok(Object.prototype.hasOwnProperty.call(a, 'ban'))
  bans.unwrapAll([a])
  assert.equal(Object.prototype.hasOwnProperty.call(a, 'ban'), false)
  a.ban(true)
  assert.notEqual(manager.getPeer(id)?.priority, 'banned')
  const { info: b } = info(2)
  await close()
  b.ban(true)
  assert.equal(b.banned, true)
})
