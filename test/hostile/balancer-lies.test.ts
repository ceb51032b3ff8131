import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, PeerwardenError } from '../../src/mesh/index.js'
import { instancesOf, meshOn } from '../helpers/mesh.js'

// A certified worker that lies in its answers to draw balanced calls: the balancer sends each call to
// the instance with the fewest calls outstanding, and one that answers at once always has none.
// (A handler throwing a PeerwardenError with a given code is, on the wire, the answer a hostile
// worker would write by hand.) Real sockets on 127.0.0.1.

const T = { timeout: 30_000 }

const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: { _allow: ['Api'], _commands: { _balanced: { work: () => null } } }
})

/** An honest worker's handler: a little work, then its name. */
function honest (name: string): { work: () => Promise<string> } {
  return { work: async () => { await new Promise((resolve) => { setTimeout(resolve, 2) }); return name } }
}

/** A lying worker's handler: refuses every call at once with `code`, and counts them. */
function liar (code: string, seen: { calls: number }): { work: () => never } {
  return { work: () => { seen.calls++; throw new PeerwardenError(code as 'ERR_DRAINING', 'not me') } }
}

test('a worker that answers every call ERR_DRAINING without ever draining is sent one call, not a third of them: the others go to the honest workers from then on', T, async (t) => {
  const start = await meshOn(t, schema)
  const seen = { calls: 0 }
  await start({ role: 'Worker', variant: 'w1', handlers: honest('w1') })
  await start({ role: 'Worker', variant: 'w2', handlers: honest('w2') })
  await start({ role: 'Worker', variant: 'liar', handlers: liar('ERR_DRAINING', seen) })
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 3)
  const by: Record<string, number> = {}
  for (let i = 0; i < 60; i++) {
    const who = String(await api.call.Worker.work())
    by[who] = (by[who] ?? 0) + 1
  }
  console.log(`the liar was sent ${seen.calls} of 60 calls; answered by ${JSON.stringify(by)}`)
  assert.equal((by.w1 ?? 0) + (by.w2 ?? 0), 60, 'every call answered by an honest worker (refused calls fail over)')
  assert.equal(seen.calls, 1, 'the liar is sent no call after its first ERR_DRAINING')
})

test('a worker that answers every call ERR_NOT_ALLOWED or ERR_UNKNOWN_COMMAND (which our own schema allowed) opens its circuit breaker like any failing instance, instead of failing a third of the calls for good', T, async (t) => {
  for (const code of ['ERR_NOT_ALLOWED', 'ERR_UNKNOWN_COMMAND']) {
    const start = await meshOn(t, schema)
    const seen = { calls: 0 }
    await start({ role: 'Worker', variant: 'w1', handlers: honest('w1') })
    await start({ role: 'Worker', variant: 'w2', handlers: honest('w2') })
    await start({ role: 'Worker', variant: 'liar', handlers: liar(code, seen) })
    const api = await start({ role: 'Api', breaker: { minRequestCount: 5, threshold: 0.5 } })
    await instancesOf(api, 'Worker', 3)
    let failed = 0
    for (let i = 0; i < 60; i++) {
      try { await api.call.Worker.work() } catch { failed++ }
    }
    const breaker = api.stats().breakers.find((b) => b.instance === 'liar')
    console.log(`${code}: the liar was sent ${seen.calls} of 60 calls, ${failed} failed; its breaker ${breaker?.state ?? 'none'}`)
    assert.equal(breaker?.state, 'open', `${code}: the liar's breaker opened`)
    assert.equal(seen.calls, 5, `${code}: no call reaches the liar once its breaker is open`)
    assert.equal(failed, 5)
  }
})
