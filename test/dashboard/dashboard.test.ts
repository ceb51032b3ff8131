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
  assert.equal(head.body, '', 'a HEAD opens no stream')
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

test('the event stream: hello with what happened before the page opened, a snapshot at once, then the manager\'s events as they happen', T, async (t) => {
  const { manager } = managerWith(2)
  const d = await dashboard(t, manager)
  // Before any page: the dashboard remembers it.
  manager.connected(new TestConnection({ peer: 'early', direction: 'inbound' }))
  const stream = events(d.url)
  const hello = await within(stream.next((m) => m.event === 'hello'), 5000, 'hello')
  assert.deepEqual(hello.data.events.map((e: { type: string; peer: string }) => `${e.type} ${e.peer}`), ['peer:connected early'])
  assert.ok(hello.data.samples.length >= 1, 'the samples taken so far')
  assert.equal(hello.data.interval, 1000)
  assert.deepEqual(hello.data.views, { network: true, mesh: false })
  const first = await within(stream.next((m) => m.event === 'snapshot'), 5000, 'the first snapshot')
  assert.equal(first.data.stats.connections, 3)
  assert.equal(first.data.connections.length, 3)
  manager.connected(new TestConnection({ peer: 'newcomer', direction: 'inbound' }))
  const seen = await within(stream.next((m) => m.event === 'manager' && m.data.type === 'peer:connected'), 5000, 'the connection event')
  assert.equal(seen.data.peer, 'newcomer')
  manager.setPriority([{ peer: 'peer-0', priority: 'banned' }])
  const closed = await within(stream.next((m) => m.event === 'manager' && m.data.type === 'connection:closed'), 5000, 'the ban closing a connection')
  assert.equal(closed.data.peer, 'peer-0')
  assert.equal(closed.data.reason, 'banned')
  stream.close()
})

test('closing the dashboard stops every listener it added to the manager', T, async () => {
  const { manager } = managerWith(1)
  const listening = (): boolean => (manager.events as unknown as { listens: (type: string) => boolean }).listens('peer:connected')
  assert.equal(listening(), false)
  const d = await serveDashboard(manager, { network: { nodes: () => [{ id: 'me', manager }] } })
  assert.equal(listening(), true, 'the history listens from the start')
  await d.close()
  assert.equal(listening(), false)
  await manager.close()
})

test('a network dashboard: the graph of every node on the stream, a node\'s detail and another node\'s explain() over HTTP', T, async (t) => {
  const clock = new ManualClock()
  const make = (): ConnectionManager => createConnectionManager({ dial: noDial, lowWater: 1, highWater: 2, clock })
  const [a, b, c] = [make(), make(), make()]
  // a dialled b; c dialled a (a's side of it is not told: the edge comes from c's); a also holds a peer outside the view.
  a.connected(new TestConnection({ peer: 'b', direction: 'outbound' }))
  b.connected(new TestConnection({ peer: 'a', direction: 'inbound' }))
  c.connected(new TestConnection({ peer: 'a', direction: 'outbound' }))
  a.connected(new TestConnection({ peer: 'far', direction: 'inbound' }))
  const nodes = [{ id: 'a', manager: a, bootstrap: true }, { id: 'b', manager: b }, { id: 'c', manager: c }]
  const d = await serveDashboard(a, { interval: 50, network: { nodes: () => nodes, topicNames: () => ({ ['ab'.repeat(32)]: 'chat' }) } })
  t.after(async () => { await d.close(); for (const m of [a, b, c]) await m.close() })
  const stream = events(d.url)
  t.after(() => { stream.close() })
  const hello = await within(stream.next((m) => m.event === 'hello'), 5000, 'hello')
  assert.deepEqual(hello.data.topicNames, { ['ab'.repeat(32)]: 'chat' })
  const net = await within(stream.next((m) => m.event === 'network'), 5000, 'a network view')
  assert.deepEqual(net.data.nodes.map((n: { id: string; outside: boolean; connections: number }) => `${n.id}${n.outside ? ' outside' : ''} ${n.connections}`).sort(), ['a 2', 'b 1', 'c 1', 'far outside 1'])
  assert.deepEqual(net.data.edges.map((e: { from: string; to: string }) => `${e.from}>${e.to}`).sort(), ['a>b', 'c>a', 'far>a'])
  // c is full (highWater 2 after this one): its refusal reaches the page as activity.
  c.connected(new TestConnection({ peer: 'x1', direction: 'inbound' }))
  c.connected(new TestConnection({ peer: 'x2', direction: 'inbound' }))
  const busy = await within(stream.next((m) => m.event === 'network' && m.data.activity.some((e: { type: string; node: string }) => e.node === 'c' && e.type === 'connection:refused')), 5000, 'c\'s refusal as activity')
  assert.ok(busy.data.activity.length > 0)
  const sample = await within(stream.next((m) => m.event === 'sample' && m.data.netNodes === 3), 5000, 'a sample with the network figures')
  assert.equal(sample.data.netMax, 2)
  const detail = JSON.parse((await get(d.url + 'api/node?id=b')).body) as { stats: { highWater: number }; connections: Array<{ peer: string; last: { action: string } }>; about: Array<{ node: string }> }
  assert.equal(detail.stats.highWater, 2)
  assert.deepEqual(detail.connections.map((x) => `${x.peer} ${x.last.action}`), ['a accept'])
  assert.deepEqual(detail.about.map((x) => x.node), ['a'])
  const outside = JSON.parse((await get(d.url + 'api/node?id=far')).body) as { outside: boolean }
  assert.equal(outside.outside, true)
  assert.equal((await get(d.url + 'api/node?id=nobody')).status, 404)
  assert.equal((await get(d.url + 'api/node')).status, 400)
  const why = JSON.parse((await get(d.url + 'api/explain?node=c&peer=a')).body) as { decisions: Array<{ action: string }> }
  assert.deepEqual(why.decisions.map((x) => x.action), ['accept'])
  assert.equal((await get(d.url + 'api/explain?node=zz&peer=a')).status, 404)
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
  await assert.rejects(serveDashboard(manager, { network: [] as never }), hasCode('ERR_INVALID_ARGUMENT', /network/))
  await assert.rejects(serveDashboard(manager, { mesh: {} as never }), hasCode('ERR_INVALID_ARGUMENT', /mesh/))
  await assert.rejects(serveDashboard(manager, { history: { samples: 0 } }), hasCode('ERR_INVALID_ARGUMENT', /history\.samples/))
  await assert.rejects(serveDashboard(manager, { history: { events: 1.5 } }), hasCode('ERR_INVALID_ARGUMENT', /history\.events/))
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
