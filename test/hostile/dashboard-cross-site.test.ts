/**
 * Requests another web site makes the operator's browser send to a loopback dashboard:
 * src/dashboard/access.ts (`crossSite`) and src/dashboard/routes.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { serveDashboard } from '../../src/dashboard/index.js'
import { MAX_STREAMS } from '../../src/dashboard/event-stream.js'

// A loopback dashboard needs no token, and its Host rule stops DNS rebinding; but any page the
// operator opens may still make the browser send requests to http://127.0.0.1:<port>/ (an <img>, a
// no-cors fetch, an EventSource): it cannot read the answers, but the node does the work — every
// /api/peers of a manager with 20,000 peers is megabytes of JSON built on the node's event loop, and
// 64 event streams took every place the operator's own page needed. Browsers mark such requests
// `Sec-Fetch-Site: cross-site` (or `same-site`); now they are refused 403 before any work. Requests
// without the header (curl, Prometheus, the page's own `same-origin` ones, a typed URL's `none`)
// are served as before.

const T = { timeout: 30_000 }

test('a loopback dashboard refuses what a browser marks cross-site or same-site (403, no work done, no event stream taken); same-origin, none and no header are served', T, async (t) => {
  const m = createConnectionManager({ dial: async () => { throw new Error('no dials here') } })
  m.addPeers(Array.from({ length: 20_000 }, (_, i) => ({ id: `p${i}`, address: `tcp://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:4001` })))
  const dash = await serveDashboard(m, {})
  t.after(async () => { await dash.close(); await m.close() })
  const get = async (path: string, site?: string): Promise<{ status: number; bytes: number; ms: number }> => {
    const started = performance.now()
    const res = await fetch(new URL(path, dash.url), { headers: site === undefined ? {} : { 'sec-fetch-site': site }, signal: AbortSignal.timeout(10_000) })
    const bytes = path === '/events' ? 0 : (await res.arrayBuffer()).byteLength
    if (path === '/events') await res.body?.cancel()
    return { status: res.status, bytes, ms: performance.now() - started }
  }
  const cross = await get('/api/peers', 'cross-site')
  console.log(`a cross-site /api/peers: ${cross.status}, ${cross.bytes} bytes, ${cross.ms.toFixed(0)} ms`)
  assert.equal(cross.status, 403)
  assert.ok(cross.bytes < 1024, `${cross.bytes} bytes answered`)
  assert.equal((await get('/api/stats', 'same-site')).status, 403, 'same-site: another port of this host is another origin')
  assert.equal((await get('/metrics', 'cross-site')).status, 403)
  for (const site of [undefined, 'same-origin', 'none']) assert.equal((await get('/api/stats', site)).status, 200, String(site))
  // A page's EventSources, cross-site, take none of the 64 places.
  const streams = await Promise.all(Array.from({ length: MAX_STREAMS + 4 }, async () => await get('/events', 'cross-site')))
  assert.ok(streams.every((s) => s.status === 403))
  const own = await fetch(new URL('/events', dash.url), { headers: { 'sec-fetch-site': 'same-origin' }, signal: AbortSignal.timeout(10_000) })
  assert.equal(own.status, 200, 'the operator\'s own page still gets its stream')
  await own.body?.cancel()
})
