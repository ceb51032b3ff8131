import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, PeerwardenError } from '../../src/mesh/index.js'
import { instancesOf, meshOn } from '../helpers/mesh.js'

// A certified worker that refuses only some of the balanced calls it gets (every third) as
// ERR_INVALID_ARGUMENT, while the other workers serve the same calls. Before: the outlier rule
// wanted 5 refusals in a row, and the worker's own successes in between cleared the evidence: it was
// never found, and kept failing a third of its share of the calls for good. Now the evidence is
// "refused here, served elsewhere", counted per instance over its latest calls.

const T = { timeout: 30_000 }

const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: { _allow: ['Api'], _commands: { _balanced: { work: (_: { n: number }) => null as unknown } } }
})

/** An honest worker: its name; a negative `n` is refused as invalid, as every honest worker does. */
function honest (name: string): { work: (args: { n: number }) => string } {
  return {
    work: ({ n }) => {
      if (n < 0) throw new PeerwardenError('ERR_INVALID_ARGUMENT', 'n must be >= 0')
      return name
    }
  }
}

test('a worker that refuses every third call as ERR_INVALID_ARGUMENT while the others serve the same calls is found an outlier, and the calls go to the honest workers', T, async (t) => {
  const start = await meshOn(t, schema)
  const seen = { calls: 0, refused: 0 }
  await start({ role: 'Worker', variant: 'w1', handlers: honest('w1') })
  await start({ role: 'Worker', variant: 'w2', handlers: honest('w2') })
  await start({
    role: 'Worker',
    variant: 'liar',
    handlers: {
      work: () => {
        if (++seen.calls % 3 !== 0) return 'liar'
        seen.refused++
        throw new PeerwardenError('ERR_INVALID_ARGUMENT', 'n is wrong')
      }
    }
  })
  const api = await start({ role: 'Api', breaker: { minRequestCount: 5, threshold: 0.5 } })
  await instancesOf(api, 'Worker', 3)
  let failed = 0
  for (let i = 0; i < 150; i++) {
    try { await api.call.Worker.work({ n: i }) } catch { failed++ }
  }
  const breaker = api.stats().breakers.find((b) => b.instance === 'liar')
  console.log(`the liar was sent ${seen.calls} of 150 calls and refused ${seen.refused}; its breaker ${JSON.stringify(breaker)}; outliers ${api.stats().invalidArgumentOutliers}`)
  assert.equal(failed, seen.refused)
  assert.ok(api.stats().invalidArgumentOutliers >= 1, 'the liar was found')
  assert.ok(failed <= 8, `${failed} of 150 calls failed (a third of the liar's share would be ~17)`)
  assert.ok((breaker?.failures ?? 0) >= 5, 'its refusals counted on its breaker')
})

test('workers that all refuse the same share of invalid calls, in any order, are never outliers', T, async (t) => {
  const start = await meshOn(t, schema)
  for (const name of ['w1', 'w2', 'w3']) await start({ role: 'Worker', variant: name, handlers: honest(name) })
  const api = await start({ role: 'Api', breaker: { minRequestCount: 5, threshold: 0.2 } })
  await instancesOf(api, 'Worker', 3)
  // A seeded mix: about 40% invalid calls, in no pattern.
  let seed = 7
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
  let refused = 0
  for (let i = 0; i < 300; i++) {
    try { await api.call.Worker.work({ n: random() < 0.4 ? -1 : i }) } catch { refused++ }
  }
  const breakers = api.stats().breakers
  console.log(`refused ${refused} of 300; breakers ${JSON.stringify(breakers.map((b) => [b.instance, b.state, b.failures]))}`)
  assert.ok(refused > 60)
  assert.deepEqual(breakers.map((b) => [b.state, b.failures]), [['closed', 0], ['closed', 0], ['closed', 0]])
  assert.equal(api.stats().invalidArgumentOutliers, 0)
})

test('a role with a single instance is never judged: with nobody else serving the calls, its refusals are the caller\'s', T, async (t) => {
  const start = await meshOn(t, schema)
  let calls = 0
  await start({ role: 'Worker', variant: 'only', handlers: { work: () => { if (++calls % 2 === 0) throw new PeerwardenError('ERR_INVALID_ARGUMENT', 'n is wrong'); return 'only' } } })
  const api = await start({ role: 'Api', breaker: { minRequestCount: 5, threshold: 0.2 } })
  await instancesOf(api, 'Worker', 1)
  for (let i = 0; i < 60; i++) await api.call.Worker.work({ n: i }).catch(() => {})
  assert.equal(api.stats().invalidArgumentOutliers, 0)
  assert.deepEqual(api.stats().breakers.map((b) => [b.state, b.failures]), [['closed', 0]])
})
