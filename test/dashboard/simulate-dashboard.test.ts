import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runSimulation } from '../../src/cli/simulate.js'
import { within } from '../helpers/wait.js'

// `peerwarden simulate --dashboard`: the simulation, paced, on a dashboard of every node; the
// dashboard closes with the simulation off a terminal.

test('simulate --dashboard shows every simulated node while it runs, then closes', { timeout: 60_000 }, async () => {
  const lines: string[] = []
  let announced: (url: string) => void = () => {}
  const address = new Promise<string>((resolve) => { announced = resolve })
  const done = runSimulation({ nodes: 30, bootstrap: 2, minutes: 1, lowWater: 3, highWater: 6, latency: 20, exchange: 4, referrals: 2, seed: 1, restart: 0, json: false, dashboard: '127.0.0.1:0' }, (line) => {
    lines.push(line)
    const m = /^dashboard at (http:\/\/127\.0\.0\.1:\d+\/)#network/.exec(line)
    if (m !== null) announced(m[1])
  })
  const url = await within(address, 10_000, 'the dashboard\'s address')
  let sample: { netNodes?: number; netEdges?: number } = {}
  await within((async () => {
    while ((sample.netNodes ?? 0) < 30 || (sample.netEdges ?? 0) < 30) {
      sample = ((await (await fetch(new URL('/api/history', url))).json()) as { samples: Array<typeof sample> }).samples.at(-1) ?? {}
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })(), 20_000, 'the 30 nodes connected on the dashboard')
  const mid = lines.length
  assert.ok(!lines.some((l) => /^ +1 /.test(l)), 'paced: the first virtual minute is not over yet')
  const result = await within(done, 30_000, 'the simulation')
  assert.equal(result.minutes.length, 1)
  assert.ok(lines.length > mid)
  await assert.rejects(fetch(new URL('/api/history', url)), 'the dashboard closed with the simulation')
})
