import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, PeerwardenError, registerMeshMetrics } from '../../src/mesh/index.js'
import { instancesOf, meshOn } from '../helpers/mesh.js'

// A certified worker answering every balanced call ERR_INVALID_ARGUMENT at once while the other
// workers serve the same calls. Before: that code is the caller's fault (a handler refusing bad input,
// Moleculer's 4xx), so no breaker ever counted it; answering at once, never holding a call
// outstanding, the worker kept drawing its share of the calls and failed a third of them for good.
// Now a worker that refuses as invalid call after call of a command while the others serve that
// command's calls (and refuse none) is an outlier: its refusals count on its breaker.

const T = { timeout: 30_000 }

const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: { _allow: ['Api'], _commands: { _balanced: { work: (_: { n: number }) => null as unknown } } }
})

/** An honest worker: a little work, then its name; a negative `n` is refused as invalid, as every honest worker does. */
function honest (name: string): { work: (args: { n: number }) => Promise<string> } {
  return {
    work: async ({ n }) => {
      await new Promise((resolve) => { setTimeout(resolve, 2) })
      if (n < 0) throw new PeerwardenError('ERR_INVALID_ARGUMENT', 'n must be >= 0')
      return name
    }
  }
}

test('a worker that answers ERR_INVALID_ARGUMENT to calls the other workers serve is counted an outlier: its breaker opens and the calls go to the honest workers', T, async (t) => {
  const start = await meshOn(t, schema)
  const seen = { calls: 0 }
  await start({ role: 'Worker', variant: 'w1', handlers: honest('w1') })
  await start({ role: 'Worker', variant: 'w2', handlers: honest('w2') })
  await start({ role: 'Worker', variant: 'liar', handlers: { work: () => { seen.calls++; throw new PeerwardenError('ERR_INVALID_ARGUMENT', 'n is wrong') } } })
  const api = await start({ role: 'Api', breaker: { minRequestCount: 5, threshold: 0.5 } })
  await instancesOf(api, 'Worker', 3)
  let failed = 0
  for (let i = 0; i < 60; i++) {
    try { await api.call.Worker.work({ n: i }) } catch { failed++ }
  }
  const breaker = api.stats().breakers.find((b) => b.instance === 'liar')
  console.log(`the liar was sent ${seen.calls} of 60 calls, ${failed} failed; its breaker ${breaker?.state ?? 'none'}; outliers ${api.stats().invalidArgumentOutliers}`)
  assert.equal(breaker?.state, 'open', 'the liar\'s breaker opened')
  assert.ok(failed <= 6, `${failed} of 60 calls failed`)
  assert.equal(failed, seen.calls)
  assert.ok(api.stats().invalidArgumentOutliers >= 1)
  assert.match(await registerMeshMetrics(api).metrics(), new RegExp(`peerwarden_mesh_invalid_argument_outliers_total ${api.stats().invalidArgumentOutliers}\\b`))
})

test('workers that all refuse the invalid calls of a mix are not outliers: no breaker counts those refusals, and the valid calls are spread over every worker', T, async (t) => {
  const start = await meshOn(t, schema)
  const served: Record<string, number> = {}
  for (const name of ['w1', 'w2', 'w3']) await start({ role: 'Worker', variant: name, handlers: honest(name) })
  const api = await start({ role: 'Api', breaker: { minRequestCount: 5, threshold: 0.5 } })
  await instancesOf(api, 'Worker', 3)
  let refused = 0
  // Runs of invalid calls, longer than the outlier's streak, between runs of valid ones.
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 10; i++) {
      const n = i < 7 ? -1 : i
      try {
        const who = String(await api.call.Worker.work({ n }))
        served[who] = (served[who] ?? 0) + 1
      } catch (err) {
        assert.equal((err as PeerwardenError & { cause?: { code?: string } }).cause?.code, 'ERR_INVALID_ARGUMENT')
        refused++
      }
    }
  }
  const breakers = api.stats().breakers
  console.log(`refused ${refused}; served ${JSON.stringify(served)}; breakers ${JSON.stringify(breakers.map((b) => [b.instance, b.state, b.failures]))}`)
  assert.equal(refused, 42)
  assert.deepEqual(breakers.map((b) => [b.state, b.failures]), [['closed', 0], ['closed', 0], ['closed', 0]])
  assert.deepEqual(Object.keys(served).sort(), ['w1', 'w2', 'w3'])
  assert.equal(api.stats().invalidArgumentOutliers, 0)
})
