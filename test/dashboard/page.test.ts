import assert from 'node:assert/strict'
import { test } from 'node:test'
import { JSDOM } from 'jsdom'
import { dashboardPage } from '../../src/dashboard/page.js'

// The page's script run in jsdom against a stand-in event stream: what the user sees, and that what
// comes from the network stays text.

interface FakeStream { listeners: Map<string, (e: { data: string }) => void>; emit: (event: string, data: unknown) => void; onopen?: () => void }

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
          current = { listeners: this.listeners, emit: (event, data) => { this.listeners.get(event)?.({ data: JSON.stringify(data) }) }, onopen: () => this.onopen?.() }
        }

        addEventListener (event: string, fn: (e: { data: string }) => void): void { this.listeners.set(event, fn) }
      }
      Object.assign(window, {
        EventSource,
        fetch: async (url: string) => {
          fetched.push(url)
          return { ok: true, json: async () => ({ peer: 'p-big', info: { priority: 'high', longTerm: false, protected: true, value: 50, topics: ['chat'], addresses: ['tcp://127.0.0.1:4001'] }, tags: { tags: { app: 50 } }, decisions: [{ at: 0, action: 'accept', reason: 'accept: under highWater' }] }) }
        }
      })
    }
  })
  return { window: dom.window, stream: () => current!, fetched, streamUrl: () => streamUrl }
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
})

test('a page opened without a token asks without one', () => {
  const { streamUrl } = load()
  assert.equal(streamUrl(), '/events')
})
