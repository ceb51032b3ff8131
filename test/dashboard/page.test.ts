import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'
import { JSDOM } from 'jsdom'
import { dashboardPage } from '../../src/dashboard/page.js'

// The page's script run in jsdom against a stand-in event stream: what the user sees, and that what
// comes from the network stays text.

interface FakeStream { listeners: Map<string, (e: { data: string }) => void>; emit: (event: string, data: unknown) => void; onopen?: () => void; onerror?: () => void }

// Every page is closed after its test: its timers (the stale check) would keep the process alive.
const opened: Array<{ close: () => void }> = []
afterEach(() => { for (const w of opened.splice(0)) w.close() })

function load (url = 'http://127.0.0.1:7070/'): { window: JSDOM['window']; stream: () => FakeStream; fetched: string[]; streamUrl: () => string } {
  let current: FakeStream | undefined
  let streamUrl = ''
  const fetched: string[] = []
  const dom = new JSDOM(dashboardPage('test node'), {
    url,
    runScripts: 'dangerously',
    beforeParse (window) {
      class EventSource {
        readonly listeners = new Map<string, (e: { data: string }) => void>()
        onopen?: () => void
        onerror?: () => void
        constructor (readonly url: string) {
          streamUrl = url
          current = { listeners: this.listeners, emit: (event, data) => { this.listeners.get(event)?.({ data: JSON.stringify(data) }) }, onopen: () => this.onopen?.(), onerror: () => this.onerror?.() }
        }

        addEventListener (event: string, fn: (e: { data: string }) => void): void { this.listeners.set(event, fn) }
      }
      Object.assign(window, {
        EventSource,
        fetch: async (url: string) => {
          fetched.push(url)
          if (url.startsWith('/api/node')) return { ok: true, json: async () => NODE_DETAIL }
          return { ok: true, json: async () => ({ peer: 'p-big', info: { priority: 'high', longTerm: false, protected: true, value: 50, topics: ['chat'], addresses: ['tcp://127.0.0.1:4001'] }, tags: { tags: { app: 50 } }, decisions: [{ at: 0, action: 'accept', reason: 'accept: under highWater' }] }) }
        }
      })
    }
  })
  opened.push(dom.window)
  return { window: dom.window, stream: () => current!, fetched, streamUrl: () => streamUrl }
}

const NODE_DETAIL = {
  id: 'ab'.repeat(32),
  label: 'abababab',
  bootstrap: false,
  outside: false,
  stats: { connections: 1, inbound: 0, outbound: 1, known: 4, lowWater: 2, highWater: 4 },
  topics: ['cd'.repeat(32), 'ef'.repeat(32)],
  connections: [{ peer: 'cd'.repeat(32), direction: 'outbound', protected: true, last: { at: 1_700_000_000_000, action: 'accept', reason: 'accept: outbound connection accepted' } }],
  about: [{ node: 'cd'.repeat(32), decisions: [{ at: 5_000, action: 'refuse', reason: 'over-limit: at highWater' }] }]
}

const rows = (w: JSDOM['window'], id: string): string[][] => [...w.document.getElementById(id)!.querySelectorAll('tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''))

test('a snapshot fills the cards, the bar and the peer table (highest value first)', () => {
  const { window, stream } = load()
  stream().onopen?.()
  assert.equal(window.document.getElementById('live')!.className, 'on')
  const at = 1_700_000_000_000
  stream().emit('snapshot', {
    at,
    stats: { connections: 2, inbound: 1, outbound: 1, known: 5, dialing: 0, protected: 1, banned: 0, lowWater: 2, highWater: 4 },
    connections: [
      { id: 'c1', peer: 'p-small', direction: 'inbound', openedAt: at - 5000, value: 1, protected: false },
      { id: 'c2', peer: 'p-big', direction: 'outbound', openedAt: at - 120_000, value: 50, protected: true }
    ]
  })
  const cards = [...window.document.querySelectorAll('#cards .card')].map((c) => `${c.querySelector('.k')!.textContent}=${c.querySelector('.v')!.textContent}`)
  assert.ok(cards.includes('connections=2') && cards.includes('lowWater / highWater=2 / 4') && cards.includes('known peers=5'), cards.join(' '))
  assert.equal((window.document.getElementById('fill') as HTMLElement).style.width, '50%')
  assert.deepEqual(rows(window, 'peers'), [['p-big', 'out', '50', 'yes', '2 min'], ['p-small', 'in', '1', '', '5 s']])
  assert.equal(window.document.getElementById('npeers')!.textContent, '(2)')
})

test('manager events go into the log as text, newest first; a peer id or reason that looks like HTML stays text', () => {
  const { window, stream } = load()
  const evil = '<img src=x onerror="window.pwned=1">'
  stream().emit('manager', { at: 0, type: 'peer:connected', peer: 'p1' })
  stream().emit('manager', { at: 1, type: 'connection:refused', peer: evil, reason: evil })
  stream().emit('manager', { at: 2, type: 'trim', closed: 3, reason: 'watermark' })
  const log = rows(window, 'events').map((r) => r[1])
  assert.deepEqual(log, ['trim: 3 closed (watermark)', `refused (${evil})`, 'connected'])
  assert.equal(window.document.querySelectorAll('#events img').length, 0)
  assert.equal((window as unknown as { pwned?: number }).pwned, undefined)
})

test('clicking a peer asks the server why, and shows the decisions', async () => {
  const { window, stream, fetched } = load()
  stream().emit('snapshot', { at: 10_000, stats: { connections: 1, inbound: 0, outbound: 1, known: 1, dialing: 0, protected: 1, banned: 0, lowWater: 2, highWater: 4 }, connections: [{ id: 'c2', peer: 'p-big', direction: 'outbound', openedAt: 0, value: 50, protected: true }] })
  ;(window.document.querySelector('#peers tr') as HTMLElement).click()
  // The click handler awaits the (stand-in) fetch: let its promises settle.
  for (let i = 0; i < 10 && window.document.querySelector('#explain ol') === null; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(fetched, ['/api/explain?peer=p-big'])
  const text = window.document.getElementById('explain')!.textContent!
  assert.match(text, /Why \(explain\): p-big/)
  assert.match(text, /priority high, protected, value 50, topics chat/)
  assert.match(text, /accept · accept: under highWater/)
})

test('a page opened with ?token= passes the token on to its event stream and its explain requests', async () => {
  const { window, stream, fetched, streamUrl } = load('http://127.0.0.1:7070/?token=a%2Bb%20c')
  assert.equal(streamUrl(), '/events?token=a%2Bb%20c')
  stream().emit('snapshot', { at: 10_000, stats: { connections: 1, inbound: 0, outbound: 1, known: 1, dialing: 0, protected: 1, banned: 0, lowWater: 2, highWater: 4 }, connections: [{ id: 'c2', peer: 'p-big', direction: 'outbound', openedAt: 0, value: 50, protected: true }] })
  ;(window.document.querySelector('#peers tr') as HTMLElement).click()
  for (let i = 0; i < 10 && fetched.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(fetched, ['/api/explain?peer=p-big&token=a%2Bb%20c'])
  for (let i = 0; i < 10 && window.document.querySelector('#explain ol') === null; i++) await new Promise((resolve) => setImmediate(resolve))
})

test('a page opened without a token asks without one', () => {
  const { streamUrl } = load()
  assert.equal(streamUrl(), '/events')
})

const STATS = { connections: 1, inbound: 0, outbound: 1, known: 1, dialing: 0, protected: 0, banned: 0, lowWater: 2, highWater: 4 }
const T0 = 1_700_000_000_000

test('hello draws the history a page opened late missed: charts with axes, units and time, and the event log', () => {
  const { window, stream } = load()
  const samples = [0, 1, 2, 3].map((i) => ({ at: T0 + i * 1000, connections: i, lowWater: 2, highWater: 4, connected: 1, closed: 0, refused: 0, failed: 0 }))
  stream().emit('hello', { interval: 1000, views: { network: true, mesh: false }, topicNames: {}, samples, events: [{ at: T0, type: 'connection:refused', peer: 'late', reason: 'over-limit' }], activity: [], network: null, mesh: null })
  const line = window.document.querySelector('#chart-conn polyline[data-key="connections"]')!
  assert.equal(line.getAttribute('points')!.split(' ').length, 4)
  const axis = window.document.querySelector('#chart-conn svg')!.textContent!
  assert.match(axis, /connections/, 'the unit')
  assert.match(axis, /\d\d:\d\d:\d\d/, 'the time axis')
  assert.match(axis, /^0|[^\d]0[^\d]/, 'the y axis from 0')
  assert.deepEqual([...window.document.querySelectorAll('#chart-conn .legend span')].map((x) => x.textContent), ['connections', 'highWater', 'lowWater'])
  assert.deepEqual(rows(window, 'events').map((r) => r[1]), ['refused (over-limit)'])
  assert.equal((window.document.getElementById('tab-mesh') as HTMLElement).hidden, true, 'no mesh: no mesh tab')
})

test('the event log and the peer table filter as one types', () => {
  const { window, stream } = load()
  stream().emit('snapshot', { at: T0, stats: STATS, connections: [{ id: 'c1', peer: 'aa11', direction: 'inbound', openedAt: T0, value: 1, protected: false }, { id: 'c2', peer: 'bb22', direction: 'outbound', openedAt: T0, value: 2, protected: true, address: 'tcp://10.0.0.9:4001' }] })
  stream().emit('manager', { at: T0, type: 'peer:connected', peer: 'aa11' })
  stream().emit('manager', { at: T0, type: 'connection:closed', peer: 'bb22', reason: 'trimmed' })
  const type = (id: string, value: string): void => {
    const input = window.document.getElementById(id) as HTMLInputElement
    input.value = value
    input.dispatchEvent(new window.Event('input'))
  }
  type('peer-filter', '10.0.0.9')
  assert.deepEqual(rows(window, 'peers').map((r) => r[0]), ['bb22'])
  assert.equal(window.document.getElementById('npeers')!.textContent, '(1 of 2)')
  type('event-filter', 'trimmed')
  assert.deepEqual(rows(window, 'events').map((r) => r[1]), ['closed (trimmed)'])
  type('event-filter', '')
  type('event-kind', 'connected')
  assert.deepEqual(rows(window, 'events').map((r) => r[2]), ['aa11'])
})

test('the stale banner shows when the event stream drops, and goes when data comes again', () => {
  const { window, stream } = load()
  stream().emit('snapshot', { at: T0, stats: STATS, connections: [] })
  assert.equal(window.document.body.classList.contains('stale'), false)
  stream().onerror?.()
  assert.equal(window.document.body.classList.contains('stale'), true)
  assert.match(window.document.getElementById('stale')!.textContent!, /No data since \d\d:\d\d:\d\d/)
  assert.equal(window.document.getElementById('live')!.className, '')
  stream().emit('snapshot', { at: T0 + 1000, stats: STATS, connections: [] })
  assert.equal(window.document.body.classList.contains('stale'), false)
})

test('the network view draws every node and connection, flashes a refusal, and a click shows the node with topics by name', async () => {
  const { window, stream, fetched } = load('http://127.0.0.1:7070/#network')
  const id = 'ab'.repeat(32)
  stream().emit('hello', { interval: 1000, views: { network: true, mesh: false }, topicNames: { ['cd'.repeat(32)]: 'chat' }, samples: [], events: [], activity: [], network: null, mesh: null })
  const node = (nid: string, extra = {}): object => ({ id: nid, label: nid.slice(0, 8), bootstrap: false, outside: false, connections: 1, inbound: 0, outbound: 1, lowWater: 2, highWater: 4, ...extra })
  stream().emit('network', { at: T0, nodes: [node(id), node('cd'.repeat(32), { connections: 5 }), node('ef'.repeat(32), { outside: true })], edges: [{ from: id, to: 'cd'.repeat(32), protected: true }], dropped: 0, activity: [{ at: T0, type: 'connection:refused', node: 'cd'.repeat(32), peer: 'x' }], activityDropped: 0 })
  const circles = [...window.document.querySelectorAll('#graph circle')]
  assert.equal(circles.length, 3)
  assert.deepEqual(circles.map((c) => c.getAttribute('class')!.split(' ')[0]), ['below', 'above', 'outside'], 'coloured by watermarks')
  assert.ok(circles[1].classList.contains('flash-refused'), 'the refusing node flashes')
  assert.equal(window.document.querySelector('#graph line')!.getAttribute('class'), 'prot')
  assert.match(window.document.getElementById('netsum')!.textContent!, /2 nodes \+ 1 outside, 1 connections/)
  circles[0].dispatchEvent(new window.MouseEvent('click'))
  for (let i = 0; i < 10 && !/topics/.test(window.document.getElementById('nodeinfo')!.textContent!); i++) await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(fetched, ['/api/node?id=' + id])
  const text = window.document.getElementById('nodeinfo')!.textContent!
  assert.match(text, /chat, efefefef…efef/, 'a topic the node knows by name, another as short lowercase hex')
  assert.match(text, /lowWater 2, highWater 4/)
  assert.match(text, /refuse · over-limit: at highWater/)
  assert.match(text, /t\+5\.0 s/, 'a virtual clock\'s time as time since its start')
  assert.equal(window.document.querySelector('#graph line')!.getAttribute('class'), 'prot sel-out')
  // Churn: the connection goes, another comes; the first fades out, the new one lights up.
  stream().emit('network', { at: T0 + 1000, nodes: [node(id), node('cd'.repeat(32)), node('ef'.repeat(32), { outside: true })], edges: [{ from: 'ef'.repeat(32), to: 'cd'.repeat(32), protected: false }], dropped: 0, activity: [], activityDropped: 0 })
  assert.deepEqual([...window.document.querySelectorAll('#graph line')].map((l) => l.getAttribute('class')), ['gone', 'fresh faded'])
})

test('the mesh view lists instances by role with rates and breakers, and filters', () => {
  const { window, stream } = load('http://127.0.0.1:7070/#mesh')
  stream().emit('hello', { interval: 1000, views: { network: true, mesh: true }, topicNames: {}, samples: [], events: [], activity: [], network: null, mesh: null })
  stream().emit('mesh', { at: T0, instances: [
    { id: 'ff'.repeat(32), role: 'Worker', variant: 'w2', figures: { calls: 0, running: 2, queued: 1 }, rates: { calls: 12.5, errors: 0.5 }, commands: {}, breakers: { open: 1, closed: 2 } },
    { id: 'ee'.repeat(32), role: 'Gateway', variant: 'g1', figures: { calls: 3 }, rates: {}, commands: {}, breakers: {} }
  ] })
  assert.equal((window.document.getElementById('view-mesh') as HTMLElement).hidden, false)
  assert.deepEqual(rows(window, 'mesh'), [
    ['Gateway', 'g1', 'eeeeeeee…eeee', '3', '—', '—', '—', '—', '—'],
    ['Worker', 'w2', 'ffffffff…ffff', '0', '2', '1', '12.5', '0.5', '1 open2 closed']
  ])
  assert.match(window.document.getElementById('nmesh')!.textContent!, /2 roles, 2 instances/)
  const input = window.document.getElementById('mesh-filter') as HTMLInputElement
  input.value = 'open'
  input.dispatchEvent(new window.Event('input'))
  assert.deepEqual(rows(window, 'mesh').map((r) => r[1]), ['w2'])
})
