import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import { createConnectionManager } from '../../src/index.js'
import { serveDashboard, type Dashboard } from '../../src/dashboard/index.js'
import { loopbackHost } from '../../src/dashboard/access.js'
import { ManualClock } from '../../src/testing/index.js'
import { within } from '../helpers/wait.js'

// Hostile pages: DNS rebinding (a page on evil.example whose name now resolves to
// 127.0.0.1 reads the loopback dashboard, which needs no token there) and MIME sniffing.

const T = { timeout: 10_000 }

async function dashboard (t: TestContext, options: Parameters<typeof serveDashboard>[1] = {}): Promise<{ d: Dashboard; port: number }> {
  const manager = createConnectionManager({ dial: async () => { throw new Error('no dial') }, clock: new ManualClock() })
  const d = await serveDashboard(manager, options)
  t.after(async () => { await d.close(); await manager.close() })
  return { d, port: Number(new URL(d.url).port) }
}

/** One request to 127.0.0.1:port with this Host header; the body of an event stream is not awaited. */
async function request (port: number, path: string, host: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return await within(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host, ...headers } }, (res) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) { res.destroy(); resolve({ status: res.statusCode!, headers: res.headers, body: '' }); return }
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode!, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  }), 5_000, `${method} ${path} (Host ${host})`)
}

const PATHS = ['/', '/events', '/api/stats', '/api/connections', '/api/peers', '/api/explain?peer=x', '/metrics']

test('on loopback, a request whose Host names another site (DNS rebinding) is refused with 403 on every route', T, async (t) => {
  const { port } = await dashboard(t)
  for (const host of [`evil.example:${port}`, 'evil.example', `10.0.0.1:${port}`, `localhost.evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `[::2]:${port}`]) {
    for (const path of PATHS) {
      const res = await request(port, path, host)
      assert.equal(res.status, 403, `${path} with Host ${host}`)
      assert.match(res.body, /Host/)
    }
  }
})

test('on loopback, Host values that name loopback (localhost, 127.x, [::1], with a port or without) are served', T, async (t) => {
  const { port } = await dashboard(t)
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `127.3.2.1:${port}`, `[::1]:${port}`, 'localhost', 'LOCALHOST:' + String(port)]) {
    const res = await request(port, '/api/stats', host)
    assert.equal(res.status, 200, `Host ${host}`)
  }
})

test('on loopback, a request without a Host header (HTTP/1.0) is refused', T, async (t) => {
  const { port } = await dashboard(t)
  const reply = await within(new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => { s.write('GET /api/stats HTTP/1.0\r\n\r\n') })
    let data = ''
    s.setEncoding('utf8').on('data', (c: string) => { data += c }).on('end', () => { resolve(data) }).on('error', reject)
  }), 5_000, 'the HTTP/1.0 request')
  assert.match(reply, /^HTTP\/1\.1 403 /)
})

test('every response carries X-Content-Type-Options: nosniff, errors and refusals included', T, async (t) => {
  const { port } = await dashboard(t)
  const cases: Array<[string, string, string, number]> = [
    ['/', `127.0.0.1:${port}`, 'GET', 200],
    ['/events', `127.0.0.1:${port}`, 'GET', 200],
    ['/api/peers', `127.0.0.1:${port}`, 'GET', 200],
    ['/api/explain', `127.0.0.1:${port}`, 'GET', 400],
    ['/metrics', `127.0.0.1:${port}`, 'GET', 200],
    ['/nothing', `127.0.0.1:${port}`, 'GET', 404],
    ['/api/peers', `127.0.0.1:${port}`, 'POST', 405],
    ['/api/peers', 'evil.example', 'GET', 403]
  ]
  for (const [path, host, method, status] of cases) {
    const res = await request(port, path, host, {}, method)
    assert.equal(res.status, status, `${method} ${path}`)
    assert.equal(res.headers['x-content-type-options'], 'nosniff', `${method} ${path} (${status})`)
  }
  // A dashboard with a token: the 401 carries it too.
  const { port: guarded } = await dashboard(t, { token: 'a-long-secret' })
  const refused = await request(guarded, '/api/peers', `127.0.0.1:${guarded}`)
  assert.equal(refused.status, 401)
  assert.equal(refused.headers['x-content-type-options'], 'nosniff')
})

test('loopbackHost accepts loopback names and addresses with an optional port, and nothing else', () => {
  for (const ok of ['localhost', 'localhost:80', 'LocalHost:7070', '127.0.0.1', '127.0.0.1:7070', '127.255.0.9:1', '[::1]', '[::1]:7070']) assert.equal(loopbackHost(ok), true, ok)
  for (const bad of [undefined, '', 'evil.example', 'evil.example:7070', 'localhost.', 'localhost:', 'localhost:abc', '127.0.0.1:7070:1', '127.0.0', '127.0.0.256', '[::1', '::1', '[::2]:80', 'localhost.evil.example', '127.0.0.1.nip.io:80', '0.0.0.0:80']) assert.equal(loopbackHost(bad), false, String(bad))
})
