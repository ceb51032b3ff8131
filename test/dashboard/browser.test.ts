import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { chromiumPath, chromiumSkip } from '../helpers/browser.js'
import { within } from '../helpers/wait.js'

// The dashboard in a real headless Chromium, in front of a child process (demo-network.ts: a
// simulation of 40 nodes and a small real mesh): the page loads without console errors, shows the
// network and the history, updates live, shows a node's detail and a peer's explain(), the mesh, fits
// a phone, and says the data is stale once the child is killed. Screenshots go to
// test-results/dashboard/ (CI artifacts); with PEERWARDEN_SCREENSHOTS=<dir> the README's ones
// (network.png, peer.png, mesh.png) are written there too.

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..')
const report = join(root, 'test-results', 'dashboard')
const skip = chromiumSkip()

async function startChild (): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(here, 'demo-network.js')], { env: { ...process.env, PEERWARDEN_NODES: '40' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const lines = createInterface({ input: child.stdout! })
  const url = await within(new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => { resolve((JSON.parse(line) as { url: string }).url) })
    child.once('exit', (code) => { reject(new Error(`the demo network exited (${String(code)}): ${stderr}`)) })
  }), 30_000, 'the demo network\'s URL')
  return { child, url }
}

async function shot (page: Page, name: string): Promise<void> {
  mkdirSync(report, { recursive: true })
  const file = join(report, name + '.png')
  await page.screenshot({ path: file })
  const docs = process.env.PEERWARDEN_SCREENSHOTS
  if (docs !== undefined && docs !== '' && ['network', 'peer', 'mesh'].includes(name)) {
    mkdirSync(join(root, docs), { recursive: true })
    copyFileSync(file, join(root, docs, name + '.png'))
  }
}

test('the dashboard in Chromium: network, history, live updates, a node and a peer explained, the mesh, a phone, and the stale banner once the node is killed', { skip, timeout: 120_000 }, async (t) => {
  const { child, url } = await startChild()
  let browser: Browser | undefined
  t.after(async () => { await browser?.close(); child.kill('SIGKILL') })

  // A page opened late shows the last minutes: wait until the server holds a few samples.
  let samples = 0
  await within((async () => {
    while (samples < 6) samples = ((await (await fetch(new URL('/api/history', url))).json()) as { samples: unknown[] }).samples.length
  })(), 20_000, 'six samples in the history')

  browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'] })
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
  page.on('pageerror', (e) => { errors.push(String(e)) })
  await page.setViewport({ width: 1280, height: 900 })
  await page.goto(url + '#network', { waitUntil: 'domcontentloaded' })

  // The network: every simulated node drawn, with its connections; the history charted at once.
  await page.waitForFunction(() => document.querySelectorAll('#graph circle').length >= 40 && document.querySelectorAll('#graph line').length >= 20, { timeout: 20_000 })
  const points = await page.$eval('#chart-net polyline[data-key="netAvg"]', (p) => (p.getAttribute('points') ?? '').split(' ').length)
  assert.ok(points >= samples, `the chart shows the history from before the page opened (${points} points, ${samples} samples)`)
  assert.match(await page.$eval('#chart-net svg', (s) => s.textContent ?? ''), /connections per node/, 'the chart names its unit')
  assert.match(await page.$eval('#chart-net svg', (s) => s.textContent ?? ''), /\d\d:\d\d:\d\d/, 'the chart has a time axis')

  // Live: the time shown moves on and the charts grow.
  const first = await page.$eval('#when', (e) => e.textContent)
  await page.waitForFunction((was) => document.getElementById('when')!.textContent !== was, { timeout: 10_000 }, first)
  await page.waitForFunction((n) => (document.querySelector('#chart-net polyline[data-key="netAvg"]')?.getAttribute('points') ?? '').split(' ').length > n, { timeout: 10_000 }, points)

  // A node's detail on click: its watermarks, its connections and why.
  // Clicked inside the page in one step: the live view re-renders, and an element found by one
  // protocol call may be replaced before the next one clicks it ("Node is detached from document").
  await clickIn(page, '#graph circle[data-id="n5"]')
  await page.waitForFunction(() => /watermarks/.test(document.getElementById('nodeinfo')!.textContent ?? ''), { timeout: 10_000 })
  assert.match(await page.$eval('#nodeinfo', (e) => e.textContent ?? ''), /lowWater 3, highWater 6/)
  assert.ok(await page.$$eval('#graph line.sel-out, #graph line.sel-in', (l) => l.length) > 0, 'the selected node\'s connections are coloured by direction')
  await shot(page, 'network')

  // The node view: the peers, one explained.
  await page.goto(url + '#node', { waitUntil: 'domcontentloaded' })
  await page.waitForSelector('#peers tr', { timeout: 10_000 })
  await clickIn(page, '#peers tr')
  await page.waitForSelector('#explain ol li', { timeout: 10_000 })
  assert.match(await page.$eval('#explain', (e) => e.textContent ?? ''), /accept/)
  assert.equal(await page.$eval('#explain h2 .id', (e) => getComputedStyle(e).textTransform), 'none', 'the id is shown as written, not in the heading\'s capitals')
  await page.type('#event-filter', 'no such event anywhere')
  assert.match(await page.$eval('#events', (e) => e.textContent ?? ''), /nothing matches/)
  await page.$eval('#event-filter', (e) => { (e as HTMLInputElement).value = ''; e.dispatchEvent(new Event('input')) })
  await page.$eval('#explain', (e) => { e.scrollIntoView({ block: 'end' }) })
  await shot(page, 'peer')

  // The mesh: its roles, instances and calls per second.
  await page.goto(url + '#mesh', { waitUntil: 'domcontentloaded' })
  await page.waitForFunction(() => document.querySelectorAll('#mesh tr').length === 4 && [...document.querySelectorAll('#mesh tr td:nth-child(7)')].some((td) => Number(td.textContent) > 0), { timeout: 15_000 })
  const roles = await page.$$eval('#mesh tr td:first-child', (tds) => tds.map((td) => td.textContent))
  assert.deepEqual(roles, ['Gateway', 'Worker', 'Worker', 'Worker'])
  await shot(page, 'mesh')

  // A phone: no view wider than the screen.
  await page.setViewport({ width: 420, height: 900 })
  for (const view of ['mesh', 'node', 'network']) {
    await page.goto(url + '#' + view, { waitUntil: 'domcontentloaded' })
    await page.waitForFunction(() => document.querySelectorAll('#graph circle').length >= 40 && document.querySelectorAll('#peers tr').length > 0, { timeout: 10_000 })
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 420, `the ${view} view fits 420 px`)
  }
  await shot(page, 'phone')
  assert.deepEqual(errors, [], 'no console errors while the node runs')

  // The node dies: the page says its figures are stale instead of freezing them.
  child.kill('SIGKILL')
  await page.setViewport({ width: 1280, height: 900 })
  await page.waitForFunction(() => document.body.classList.contains('stale'), { timeout: 15_000 })
  assert.match(await page.$eval('#stale', (e) => e.textContent ?? ''), /No data since \d\d:\d\d:\d\d/)
  assert.ok(await page.$eval('#stale', (e) => (e as HTMLElement).offsetHeight > 0), 'the banner is visible')
  await shot(page, 'stale')
})

/** Clicks the first element matching `selector` from inside the page, atomically (see above). */
async function clickIn (page: { evaluate: (fn: (selector: string) => void, selector: string) => Promise<unknown> }, selector: string): Promise<void> {
  await page.evaluate((sel) => {
    const el = document.querySelector(sel)
    if (el === null) throw new Error(`nothing matches ${sel}`)
    el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }))
  }, selector)
}
