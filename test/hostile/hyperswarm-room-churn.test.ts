/**
 * Strangers churning a full Hyperswarm room: src/adapters/hyperswarm/room.ts.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from '@hyperswarm/testnet'
import { manageSwarm, type HyperswarmLike, type ManagedSwarm } from '../../src/adapters/hyperswarm.js'
import { sleep, until, within } from '../helpers/wait.js'

const noop = (): void => {}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

// A full managed swarm makes room for a peer the bound refuses: its oldest unprotected connection
// gives way, once a second, and it dials the refused peer back. Keypairs are free: strangers with
// fresh keys dialling it a little over a second apart would replace its honest connections one by
// one, oldest first. Strangers (keys the manager did not find or know) share one release per 30 s.

test('strangers with fresh keypairs dialling a full managed swarm once a second get one place in all; its honest connections stay', { timeout: 120_000 }, async () => {
  let testnet: Testnet | undefined
  const swarms: Hyperswarm[] = []
  let managed: ManagedSwarm | undefined
  const swarm = (): Hyperswarm => {
    const s = new Hyperswarm({ dht: testnet!.createNode() })
    s.on('connection', (conn) => { conn.on('error', noop) })
    swarms.push(s)
    return s
  }
  try {
    testnet = await createTestnet(3, { host: '127.0.0.1' })
    const topic = randomBytes(32)
    const a = swarm()
    // A long grace: only the room may release a connection during the test.
    managed = manageSwarm(a as unknown as HyperswarmLike, { lowWater: 2, highWater: 3, gracePeriod: 120_000 })
    const m = managed.manager
    const aKey = (a as unknown as HyperswarmLike).keyPair.publicKey
    await a.join(topic, { server: true, client: true }).flushed()
    const honest = [swarm(), swarm(), swarm()]
    for (const s of honest) await s.join(topic, { server: true, client: true }).flushed()
    const key = (s: Hyperswarm): string => hex((s as unknown as HyperswarmLike).keyPair.publicKey)
    const honestKeys = honest.map(key)
    const held = (): string[] => m.listConnections().map((c) => c.peer)
    await until(() => honestKeys.every((k) => held().includes(k)), 20_000, () => `the managed swarm holds the 3 honest peers (${held().length})`, 50)
    const strangers = [swarm(), swarm(), swarm(), swarm()]
    for (const stranger of strangers) {
      const s = stranger as unknown as HyperswarmLike
      // More than the room's interval (1 s) apart: each would have had a release.
      await sleep(1300)
      s.joinPeer(aKey)
    }
    // Time for the last stranger's dial and the room's dial back.
    await sleep(3000)
    const strangerKeys = strangers.map(key)
    const strangersIn = strangerKeys.filter((k) => held().includes(k)).length
    const honestIn = honestKeys.filter((k) => held().includes(k)).length
    console.log(`strangers in ${strangersIn} of 4, honest peers kept ${honestIn} of 3 (connections ${m.stats().connections})`)
    assert.ok(strangersIn <= 1, `${strangersIn} strangers got a place`)
    assert.ok(honestIn >= 2, `${honestIn} honest connections left`)
    assert.ok(m.stats().connections <= 3)
    const room = managed.roomStats()
    console.log(`room: releases ${room.releases} (for strangers ${room.strangerReleases}), strangers refused ${room.strangersRefused}, remembered ${room.strangersRemembered}`)
    assert.ok(room.strangerReleases <= 1 && room.strangersRemembered === room.strangerReleases)
  } finally {
    if (managed !== undefined) await within(managed.close(), 5_000, 'close').catch(noop)
    await within(Promise.allSettled(swarms.map(async (s) => { await s.destroy() })), 8_000, 'destroy').catch(async () => {
      await Promise.allSettled(swarms.map(async (s) => { await s.destroy({ force: true }) }))
    })
    if (testnet !== undefined) await within(testnet.destroy(), 5_000, 'testnet').catch(noop)
  }
})
