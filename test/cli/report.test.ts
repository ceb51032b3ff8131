import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { JSDOM } from 'jsdom'
import { axis, escapeXml, lineChart } from '../../src/cli/report-svg.js'
import { percentile } from '../../src/cli/report.js'
import { runSimulation, SAMPLE_MS, type SimulateOptions } from '../../src/cli/simulate.js'

// `peerwarden simulate --report`: the page is read back as a browser would parse it.

const SMALL: SimulateOptions = { nodes: 60, bootstrap: 2, minutes: 2, lowWater: 4, highWater: 8, latency: 20, exchange: 8, referrals: 8, seed: 7, restart: 0.25, json: false }

test('the report: one self-contained page with the four charts, the watermarks, the samples and the minutes\' numbers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-report-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'out.html')
  const lines: string[] = []
  const r = await runSimulation({ ...SMALL, report: file }, (l) => { lines.push(l) })
  assert.equal(lines.at(-1), `report written to ${file}`)
  const html = readFileSync(file, 'utf8')
  assert.doesNotMatch(html, /<script|<link|src=|url\(/i, 'no script and nothing fetched: one file')
  const doc = new JSDOM(html).window.document
  const svgs = [...doc.querySelectorAll('svg')]
  assert.equal(svgs.length, 4)
  const titles = svgs.map((s) => s.querySelector('title')!.textContent!)
  assert.match(titles[0], /Connections per node/)
  assert.match(titles[1], /Bootstrap load/)
  assert.match(titles[2], /Dials, failures and trims/)
  assert.match(titles[3], /The network at the end: 60 nodes, \d+ connections/)

  // Virtual time: the minutes asked for and the one after the restart, a sample every SAMPLE_MS.
  const samples = r.samples!
  assert.equal(samples.length, (SMALL.minutes + 1) * 60_000 / SAMPLE_MS)
  const series = (svg: Element, name: string): Array<[number, number]> => {
    const line = [...svg.querySelectorAll('polyline')].find((p) => p.getAttribute('data-series') === name)
    assert.ok(line !== undefined, `series ${name}`)
    return line.getAttribute('points')!.split(' ').map((p) => p.split(',').map(Number) as [number, number])
  }
  for (const name of ['p5', 'p50 (median)', 'p95']) assert.equal(series(svgs[0], name).length, samples.length + 1, `${name}: the start and every sample`)
  assert.match(svgs[0].textContent!, /lowWater 4/)
  assert.match(svgs[0].textContent!, /highWater 8/)
  assert.equal(series(svgs[1], 'dials to bootstrap nodes').length, samples.length + 1)
  for (const name of ['dials', 'failed dials', 'trimmed connections']) assert.equal(series(svgs[2], name).length, samples.length + 1)

  // The samples add up to the minutes, and the percentiles stay within the bound.
  const sum = (k: 'dials' | 'failed' | 'trimmed' | 'bootstrapDials', from: number, to: number): number => samples.slice(from, to).reduce((a, s) => a + s[k], 0)
  r.minutes.forEach((m, i) => {
    const [a, b] = [i * 6, i * 6 + 6]
    assert.deepEqual([sum('dials', a, b), sum('failed', a, b), sum('trimmed', a, b), sum('bootstrapDials', a, b)], [m.dials, m.failed, m.trimmed, m.bootstrapDials], `minute ${m.minute}`)
  })
  for (const s of samples) assert.ok(s.p5 <= s.p50 && s.p50 <= s.p95 && s.p95 <= SMALL.highWater, JSON.stringify(s))
  assert.ok(samples.at(-1)!.p5 >= SMALL.lowWater)

  // The graph: every node drawn, bootstrap ones apart; the table carries each minute's figures.
  assert.equal(svgs[3].querySelectorAll('circle').length, 60)
  assert.equal(svgs[3].querySelectorAll('circle.bootstrap').length, 2)
  assert.ok(svgs[3].querySelectorAll('line.edge').length > 0)
  const rows = [...doc.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))
  assert.deepEqual(rows.map((row) => row.map(Number).filter((x) => !Number.isNaN(x))), r.minutes.map((m) => [m.minute, m.min, m.avg, m.max, m.peak, m.dials, m.failed, m.trimmed, m.bootstrapDials]))
  assert.match(doc.querySelector('.restart')!.textContent!, new RegExp(`Restarted ${r.restart!.nodes} nodes`))
})

test('a big network draws the bootstrap nodes and an even sample, and says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-report-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'big.html')
  await runSimulation({ ...SMALL, nodes: 400, minutes: 1, restart: 0, report: file }, () => {})
  const doc = new JSDOM(readFileSync(file, 'utf8')).window.document
  const graph = doc.querySelectorAll('svg')[3]
  assert.equal(graph.querySelectorAll('circle').length, 300)
  assert.equal(graph.querySelectorAll('circle.bootstrap').length, 2)
  assert.match(graph.querySelector('title')!.textContent!, /300 of 400 nodes, \d+ of \d+ connections/)
  assert.match(doc.querySelector('figcaption')!.textContent!, /an even sample/)
})

test('charts: nice axes, escaped text, percentiles by nearest rank', () => {
  assert.deepEqual(axis(16), { step: 5, end: 20 })
  assert.deepEqual(axis(4), { step: 1, end: 4 })
  assert.deepEqual(axis(0), { step: 1, end: 1 })
  assert.deepEqual(axis(28_700), { step: 10_000, end: 30_000 })
  assert.equal(escapeXml('<a href="x">&\'</a>'), '&#60;a href=&#34;x&#34;&#62;&#38;&#39;&#60;/a&#62;')
  const svg = lineChart({ title: 'a <b>', xLabel: 'x', yLabel: 'y', series: [{ name: 's<1>', color: '#000', points: [[0, 0], [2, 10]] }] })
  assert.doesNotMatch(svg, /<b>|s<1>/)
  assert.deepEqual([5, 50, 95, 100].map((p) => percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p)), [1, 5, 10, 10])
  assert.equal(percentile([], 50), 0)
})
