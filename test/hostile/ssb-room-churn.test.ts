import assert from 'node:assert/strict'
import { test } from 'node:test'
import { rpcPeers, startServer, startServers, type Server } from '../adapters/ssb-servers.js'
import { sleep, until, within } from '../helpers/wait.js'

// A full SSB server makes room for a newcomer the bound alone refuses: the oldest unprotected
// connection gives way, once a second. Identities are free: strangers with fresh keys, one a little
// over a second apart, replaced every honest connection of a full server, oldest first. Strangers
// (feed ids the manager does not know) now share one release per 30 s.

test('strangers with fresh keys knocking once a second on a full SSB server get one place in all; its honest connections stay', { timeout: 90_000 }, async (t) => {
  const a = await startServer({ config: { lowWater: 2, highWater: 3 } })
  const honest = await startServers(3)
  const strangers = await startServers(4, { bare: true })
  const all: Server[] = [a, ...honest, ...strangers]
  t.after(async () => { await within(Promise.allSettled(all.map(async (s) => { await s.close() })), 20_000, 'closing the servers').catch(() => {}) })
  const connect = async (from: Server): Promise<unknown> => await within(new Promise((resolve) => { from.sbot.connect(a.address, (err: unknown) => { resolve(err) }) }), 20_000, 'a dial to the full server')
  for (const p of honest) assert.equal(await connect(p), null)
  await until(() => a.api.manager.stats().connections === 3, 10_000, 'the server at its bound')
  const answers: unknown[] = []
  for (const s of strangers) {
    // More than the room's interval (1 s) apart: each would have had a release.
    await sleep(1300)
    answers.push(await connect(s))
  }
  const held = rpcPeers(a.sbot)
  const strangersIn = strangers.filter((s) => held.includes(s.id)).length
  const honestIn = honest.filter((p) => held.includes(p.id)).length
  console.log(`strangers in ${strangersIn} of 4, honest peers kept ${honestIn} of 3; refused handshakes ${answers.filter((e) => e instanceof Error).length}`)
  assert.ok(strangersIn <= 1, `${strangersIn} strangers got a place`)
  assert.ok(honestIn >= 2, `${honestIn} honest connections left`)
  assert.ok(a.api.manager.stats().connections <= 3)
  const room = a.api.roomStats?.()
  assert.ok(room !== undefined, 'the plugin gives its room\'s figures')
  assert.ok(room.strangerReleases <= 1 && room.strangersRefused >= 3, JSON.stringify(room))
})
