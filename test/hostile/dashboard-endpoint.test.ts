import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { test } from 'node:test'
import { HTTP_HEADERS_TIMEOUT, MAX_HTTP_SOCKETS, MAX_HTTP_SOCKETS_PER_IP } from '../../src/dashboard/http-limits.js'
import { serveDashboard } from '../../src/dashboard/index.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// The dashboard is the one endpoint of `peerwarden node` that takes requests from the network (with
// `--dashboard host:port`). What it must hold against a stranger: nothing without the token, nothing
// but reads with it, and a client's bytes never echoed whole.

const T = { timeout: 20_000 }

test('the dashboard with a token: every route refuses a request without it (401), writes are refused (405), a huge query is not echoed whole', T, async (t) => {
  const node = await testNode(t)
  const token = 'k'.repeat(24)
  const dash = await serveDashboard(node.manager, { token })
  t.after(async () => { await dash.close() })
  const base = new URL(dash.url)
  base.search = ''
  for (const path of ['/', '/events', '/api/stats', '/api/peers', '/api/explain?peer=x', '/metrics', '/nope']) {
    const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 401, path)
    await res.body?.cancel()
  }
  const wrong = await fetch(new URL('/api/stats', base), { headers: { authorization: `Bearer ${'j'.repeat(24)}` }, signal: AbortSignal.timeout(5000) })
  assert.equal(wrong.status, 401)
  const auth = { authorization: `Bearer ${token}` }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const res = await fetch(new URL('/api/peers', base), { method, headers: auth, body: method === 'DELETE' ? undefined : '{}', signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 405, method)
  }
  const huge = await fetch(new URL(`/api/explain?peer=${'z'.repeat(8 * 1024)}`, base), { headers: auth, signal: AbortSignal.timeout(5000) })
  const body = await huge.text()
  assert.equal(huge.status, 404)
  assert.ok(body.length < 1024, `an error of ${body.length} characters`)
})

/** Opens `n` sockets to `port` from `localAddress` that send `first` (if any) and nothing more; counts those the server closes. */
async function idleSockets (port: number, n: number, localAddress: string, first?: string): Promise<{ sockets: net.Socket[]; closed: () => number }> {
  const sockets: net.Socket[] = []
  let closed = 0
  for (let i = 0; i < n; i++) {
    const s = net.connect({ port, host: '127.0.0.1', localAddress })
    s.on('error', () => {})
    s.once('close', () => { closed++ })
    if (first !== undefined) s.write(first)
    sockets.push(s)
    await once(s, 'connect').catch(() => {})
  }
  return { sockets, closed: () => closed }
}

test('idle and trickling sockets on the dashboard are budgeted (32 per IP, 256 in all, headers within 10 s): they are the node\'s file descriptors too, and honest requests still pass', { timeout: 60_000 }, async (t) => {
  const node = await testNode(t)
  const dash = await serveDashboard(node.manager)
  const port = Number(new URL(dash.url).port)
  const opened: net.Socket[] = []
  t.after(async () => { for (const s of opened) s.destroy(); await dash.close() })
  // A client trickling its headers, a line a second: closed once HTTP_HEADERS_TIMEOUT passed.
  const trickler = net.connect({ port, host: '127.0.0.1' })
  opened.push(trickler)
  trickler.on('error', () => {})
  trickler.write('GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  const trickle = setInterval(() => { if (!trickler.destroyed) trickler.write('X-Slow: 1\r\n') }, 1000)
  // Refused with a 408 (the socket then ends), or closed.
  const trickled = new Promise<void>((resolve) => {
    trickler.on('data', (d: Buffer) => { if (d.toString().startsWith('HTTP/1.1 408')) resolve() })
    trickler.once('close', () => { resolve() })
  })
  const started = Date.now()

  const stranger = await idleSockets(port, 100, '127.0.0.2', 'GET / HTTP/1.1\r\n')
  opened.push(...stranger.sockets)
  await until(() => stranger.closed() >= 100 - MAX_HTTP_SOCKETS_PER_IP, 10_000, () => `the dashboard to close all but ${MAX_HTTP_SOCKETS_PER_IP} of one IP's sockets (closed ${stranger.closed()})`)
  const stats = await fetch(new URL('/api/stats', dash.url), { signal: AbortSignal.timeout(5000) })
  assert.equal(stats.status, 200, 'an honest request from another IP passes')
  await stats.body?.cancel()
  assert.equal(stranger.closed(), 100 - MAX_HTTP_SOCKETS_PER_IP)

  // Loopback (127.0.0.1) is exempt per IP, not from the cap on all sockets.
  const local = await idleSockets(port, MAX_HTTP_SOCKETS + 20, '127.0.0.1')
  opened.push(...local.sockets)
  await until(() => local.closed() >= 20 + MAX_HTTP_SOCKETS_PER_IP, 10_000, () => `the dashboard to keep at most ${MAX_HTTP_SOCKETS} sockets (closed ${local.closed()})`)

  await trickled
  clearInterval(trickle)
  const held = Date.now() - started
  assert.ok(held < HTTP_HEADERS_TIMEOUT + 10_000, `the trickling client held its socket ${held} ms`)
  console.log(`a client trickling its headers was closed after ${held} ms`)
})
