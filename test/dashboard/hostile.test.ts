import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import { createConnectionManager, type ConnectionManager } from '../../src/index.js'
import { serveDashboard, type Dashboard } from '../../src/dashboard/index.js'
import { MAX_STREAMS } from '../../src/dashboard/event-stream.js'
import { ManualClock } from '../../src/testing/index.js'
import { within } from '../helpers/wait.js'

// The dashboard's routes as a hostile client uses them: request targets and query parameters are user input.

const T = { timeout: 10_000 }
const noDial = async (): Promise<never> => { throw new Error('no dial') }

async function dashboard (t: TestContext): Promise<{ d: Dashboard; manager: ConnectionManager }> {
  const manager = createConnectionManager({ dial: noDial, lowWater: 1, highWater: 2, clock: new ManualClock() })
  const d = await serveDashboard(manager, { network: { nodes: () => [{ id: 'me', manager }] } })
  t.after(async () => { await d.close(); await manager.close() })
  return { d, manager }
}

/** Sends `raw` on a socket to the dashboard and resolves with everything it answered. */
async function rawRequest (url: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return await within(new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => { socket.write(raw) })
    let out = ''
    socket.setEncoding('utf8').on('data', (c: string) => { out += c }).on('end', () => { resolve(out) }).on('error', reject)
  }), 5_000, 'the raw request')
}

async function get (url: string): Promise<{ status: number; body: string }> {
  return await within(new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode!, body }) })
    }).on('error', reject)
  }), 5_000, `GET ${url}`)
}

test('a request target that is not a URL is answered 400, and the dashboard keeps serving', T, async (t) => {
  const { d } = await dashboard(t)
  const answer = await rawRequest(d.url, 'GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
  assert.match(answer, /^HTTP\/1\.1 400 /)
  assert.match(answer, /"error"/)
  assert.equal((await get(d.url + 'api/stats')).status, 200)
})

test('oversized and unknown ids: 404 with the id cut short in the answer, never echoed whole', T, async (t) => {
  const { d } = await dashboard(t)
  const long = 'x'.repeat(8000)
  for (const path of [`api/node?id=${long}`, `api/explain?peer=p&node=${long}`, `api/explain?peer=${long}`]) {
    const r = await get(d.url + path)
    assert.equal(r.status, 404, path.slice(0, 30))
    assert.ok(r.body.length < 1024, `the answer to ${path.slice(0, 30)}… is ${r.body.length} bytes`)
    assert.match(JSON.parse(r.body).error, /…/)
  }
  // Missing or empty: 400; history takes no parameter and ignores them.
  assert.equal((await get(d.url + 'api/node')).status, 400)
  assert.equal((await get(d.url + 'api/node?id=')).status, 400)
  assert.equal((await get(d.url + 'api/explain?node=me')).status, 400)
  assert.equal((await get(d.url + `api/history?x=${long}`)).status, 200)
})

test('event streams are bounded: past MAX_STREAMS open pages one more is answered 503; once one closes, a new one opens', T, async (t) => {
  const { d } = await dashboard(t)
  const open = async (): Promise<{ status: number; req: http.ClientRequest }> => await within(new Promise((resolve, reject) => {
    const req = http.get(d.url + 'events', (res) => { resolve({ status: res.statusCode!, req }); res.resume() })
    req.on('error', reject)
  }), 5000, 'an event stream')
  const pages: http.ClientRequest[] = []
  t.after(() => { for (const p of pages) p.destroy() })
  for (let i = 0; i < MAX_STREAMS; i++) {
    const { status, req } = await open()
    assert.equal(status, 200)
    pages.push(req)
  }
  const refused = await open()
  assert.equal(refused.status, 503)
  pages.pop()!.destroy()
  // The server hears the close on its own time: a new page opens once it did.
  let status = 0
  await within((async () => { while (status !== 200) { const r = await open(); pages.push(r.req); status = r.status } })(), 5000, 'a page to open again')
})
