import assert from 'node:assert/strict'
import http from 'node:http'
import { test, type TestContext } from 'node:test'
import { createConnectionManager, type ConnectionManager } from '../../src/index.js'
import { serveDashboard, type Dashboard } from '../../src/dashboard/index.js'
import { dashboardToken, isLoopback } from '../../src/dashboard/access.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'
import { within } from '../helpers/wait.js'

// The dashboard over real HTTP on 127.0.0.1, in front of a manager fed with test connections.

const T = { timeout: 10_000 }
const noDial = async (): Promise<never> => { throw new Error('no dial') }

function managerWith (peers: number): { manager: ConnectionManager; conns: TestConnection[] } {
  const manager = createConnectionManager({ dial: noDial, lowWater: 2, highWater: 4, clock: new ManualClock() })
  const conns: TestConnection[] = []
  for (let i = 0; i < peers; i++) {
    const c = new TestConnection({ peer: `peer-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound', address: `tcp://127.0.0.${i + 1}:4001` })
    manager.connected(c)
    conns.push(c)
  }
  return { manager, conns }
}

async function dashboard (t: TestContext, manager: ConnectionManager, title?: string): Promise<Dashboard> {
  const d = await serveDashboard(manager, { title })
  t.after(async () => { await d.close(); await manager.close() })
  return d
}

async function get (url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** An open /events stream: its messages as { event, data } in order, and a way to wait for one. */
function events (url: string): { messages: Array<{ event: string; data: any }>; next: (match: (m: { event: string; data: any }) => boolean) => Promise<{ event: string; data: any }>; close: () => void } {
  const messages: Array<{ event: string; data: any }> = []
  const waiters: Array<{ match: (m: { event: string; data: any }) => boolean; resolve: (m: { event: string; data: any }) => void }> = []
  let buf = ''
  const req = http.get(url + 'events', (res) => {
    res.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk
      let i
      while ((i = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event === undefined || data === undefined) continue
        const m = { event, data: JSON.parse(data) }
        messages.push(m)
        for (const w of [...waiters]) if (w.match(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m) }
      }
    })
  })
  req.on('error', () => {})
  return {
    messages,
    next: async (match) => {
      const seen = messages.find(match)
      if (seen !== undefined) return seen
      return await new Promise((resolve) => { waiters.push({ match, resolve }) })
    },
    close: () => { req.destroy() }
  }
}

test('the page is served whole, with the title escaped', T, async (t) => {
  const { manager } = managerWith(1)
  const d = await dashboard(t, manager, '<b>node</b>')
  assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  const r = await get(d.url)
  assert.equal(r.status, 200)
  assert.match(r.type, /text\/html/)
  assert.match(r.body, /<title>&#60;b&#62;node&#60;\/b&#62; · peerwarden<\/title>/)
  assert.ok(!r.body.includes('<b>node</b>'), 'the title is never HTML')
  assert.match(r.body, /new EventSource\(withToken\('\/events'\)\)/)
  assert.equal((await get(d.url, 'POST')).status, 405)
  const head = await get(d.url + 'events', 'HEAD')
  assert.equal(head.status, 200, 'a HEAD of the stream answers and ends')
  assert.equal((manager.events as unknown as { listens: (type: string) => boolean }).listens('peer:connected'), false, 'a HEAD opens no stream')
  assert.equal((await get(d.url + 'nope')).status, 404)
})

test('the JSON API: stats, connections, peers and explain', T, async (t) => {
  const { manager } = managerWith(3)
  const d = await dashboard(t, manager)
  assert.deepEqual(JSON.parse((await get(d.url + 'api/stats')).body), manager.stats())
  const conns = JSON.parse((await get(d.url + 'api/connections')).body) as Array<{ peer: string }>
  assert.deepEqual(conns.map((c) => c.peer).sort(), ['peer-0', 'peer-1', 'peer-2'])
  assert.equal((JSON.parse((await get(d.url + 'api/peers')).body) as unknown[]).length, 3)
  const x = JSON.parse((await get(d.url + 'api/explain?peer=peer-1')).body) as { info: { connected: boolean }; decisions: Array<{ action: string }> }
  assert.equal(x.info.connected, true)
  assert.deepEqual(x.decisions.map((dd) => dd.action), ['accept'])
  assert.equal((await get(d.url + 'api/explain?peer=nobody')).status, 404)
  assert.equal((await get(d.url + 'api/explain')).status, 400)
})

test('the event stream: a snapshot at once, then the manager\'s events as they happen; listeners only while a page is open', T, async (t) => {
  const { manager } = managerWith(2)
  const d = await dashboard(t, manager)
  const listening = (): boolean => (manager.events as unknown as { listens: (type: string) => boolean }).listens('peer:connected')
  assert.equal(listening(), false, 'no page open: the dashboard costs the manager nothing')
  const stream = events(d.url)
  const first = await within(stream.next((m) => m.event === 'snapshot'), 5000, 'the first snapshot')
  assert.equal(first.data.stats.connections, 2)
  assert.equal(first.data.connections.length, 2)
  assert.equal(listening(), true)
  manager.connected(new TestConnection({ peer: 'newcomer', direction: 'inbound' }))
  const seen = await within(stream.next((m) => m.event === 'manager' && m.data.type === 'peer:connected'), 5000, 'the connection event')
  assert.equal(seen.data.peer, 'newcomer')
  manager.setPriority([{ peer: 'peer-0', priority: 'banned' }])
  const closed = await within(stream.next((m) => m.event === 'manager' && m.data.type === 'connection:closed'), 5000, 'the ban closing a connection')
  assert.equal(closed.data.peer, 'peer-0')
  assert.equal(closed.data.reason, 'banned')
  stream.close()
  await within((async () => { while (listening()) await new Promise((resolve) => setImmediate(resolve)) })(), 5000, 'the listeners to go with the last page')
})

test('/metrics: gauges from stats() and counters of the manager\'s events, in Prometheus\' format', T, async (t) => {
  const { manager, conns } = managerWith(4)
  const d = await dashboard(t, manager)
  manager.connected(new TestConnection({ peer: 'banned-one', direction: 'inbound' }))
  manager.setPriority([{ peer: conns[0].peer, priority: 'banned' }])
  const r = await get(d.url + 'metrics')
  assert.equal(r.status, 200)
  assert.match(r.type, /text\/plain/)
  const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}"]/g, (ch) => `\\${ch}`)} (\\S+)$`, 'm').exec(r.body)?.[1])
  assert.equal(value('peerwarden_connections{direction="inbound"}') + value('peerwarden_connections{direction="outbound"}'), manager.stats().connections)
  assert.equal(value('peerwarden_high_water'), 4)
  assert.equal(value('peerwarden_banned_peers'), 1)
  assert.equal(value('peerwarden_connections_closed_total{reason="banned"}'), 1)
  assert.match(r.body, /# TYPE peerwarden_dials_total counter/)
})

test('bad options are refused with the option named; a port in use is ERR_LISTEN', T, async (t) => {
  const { manager } = managerWith(0)
  t.after(async () => { await manager.close() })
  await assert.rejects(serveDashboard(manager, { listen: 'nowhere' }), hasCode('ERR_INVALID_ARGUMENT', /listen/))
  await assert.rejects(serveDashboard(manager, { listen: 70000 }), hasCode('ERR_INVALID_ARGUMENT', /listen/))
  await assert.rejects(serveDashboard(manager, { interval: 1 }), hasCode('ERR_INVALID_ARGUMENT', /interval/))
  await assert.rejects(serveDashboard(manager, { token: 'short' }), hasCode('ERR_INVALID_ARGUMENT', /token/))
  await assert.rejects(serveDashboard(manager, { token: 'has a space' }), hasCode('ERR_INVALID_ARGUMENT', /token/))
  const first = await serveDashboard(manager)
  t.after(async () => { await first.close() })
  const port = Number(new URL(first.url).port)
  await assert.rejects(serveDashboard(manager, { listen: `127.0.0.1:${port}` }), hasCode('ERR_LISTEN', /dashboard/))
  const v6 = await serveDashboard(manager, { listen: '[::1]:0' }).catch(() => undefined) // where ::1 exists
  if (v6 !== undefined) { assert.match(v6.url, /^http:\/\/\[::1\]:\d+\/$/); await v6.close() }
})

test('with a token, every route asks for it: 401 without it or with another, 200 with ?token= or Authorization: Bearer', T, async (t) => {
  const { manager } = managerWith(2)
  const d = await serveDashboard(manager, { token: 's3cret-token' })
  t.after(async () => { await d.close(); await manager.close() })
  assert.equal(d.token, 's3cret-token')
  assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=s3cret-token$/)
  const base = d.url.split('?')[0]
  for (const path of ['', 'events', 'api/stats', 'api/explain?peer=peer-0', 'metrics']) {
    const r = await get(base + path, path === 'events' ? 'HEAD' : 'GET')
    assert.equal(r.status, 401, `/${path} without the token`)
  }
  assert.equal((await get(base + 'api/stats?token=s3cret-tokeX')).status, 401, 'another token')
  assert.equal((await get(base + 'api/stats', 'GET', { authorization: 'Bearer s3cret-token-and-more' })).status, 401, 'a longer token')
  const byQuery = await get(base + 'api/stats?token=s3cret-token')
  assert.equal(byQuery.status, 200)
  assert.equal(JSON.parse(byQuery.body).connections, 2)
  assert.equal((await get(base + 'api/explain?peer=peer-0&token=s3cret-token')).status, 200)
  const byHeader = await get(base + 'metrics', 'GET', { authorization: 'Bearer s3cret-token' })
  assert.equal(byHeader.status, 200)
  assert.match(byHeader.body, /peerwarden_connections\{direction="outbound"\} 1/)
  assert.equal((await get(d.url)).status, 200, 'the url as shown opens the page')
})

test('no token is needed on loopback unless given; beyond loopback the dashboard makes one of its own', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) {
    assert.equal(isLoopback(host), true, host)
    assert.equal(dashboardToken(host, undefined), undefined, host)
  }
  for (const host of ['0.0.0.0', '::', '192.168.1.5', 'example.org', '::ffff:127.0.0.1', '127.0.0.1.example.org']) {
    assert.equal(isLoopback(host), false, host)
    const made = dashboardToken(host, undefined, (n) => Buffer.alloc(n, 7))
    assert.equal(made, Buffer.alloc(24, 7).toString('base64url'), host)
  }
  assert.notEqual(dashboardToken('0.0.0.0', undefined), dashboardToken('0.0.0.0', undefined), 'random by default')
  assert.equal(dashboardToken('0.0.0.0', 'given-token'), 'given-token')
  assert.equal(dashboardToken('127.0.0.1', 'given-token'), 'given-token')
})
