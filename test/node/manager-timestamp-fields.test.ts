import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'

// Regression: fields that held timestamps started undefined (a bare `firstSeen: number`, emitted as
// `firstSeen;`, or `waitAt: number | undefined = undefined`), so V8 stored them tagged and boxed
// every timestamp written to them into a new heap number. A child process with V8's
// --trace-generalization prints `->t{` when a field becomes tagged (--no-sparkplug: the trace fails
// a check of V8's when it prints a baseline frame).

const run = promisify(execFile)

const CHILD = `
const { PeerRecord } = await import(process.argv[1])
const { DialIndex } = await import(process.argv[2])
const { ManualClock } = await import(process.argv[3])
const T = 1_780_000_000_000.5
const index = new DialIndex(() => true)
const records = []
for (let i = 0; i < 50; i++) {
  const r = new PeerRecord('k' + i, undefined, T + i)
  r.nextDialAt = T + 1000.5 + i
  index.update(r, T)
  records.push(r)
}
index.promote(T + 2000)
const clock = new ManualClock(T)
for (let i = 0; i < 5; i++) await clock.advance(1.5)
console.log('done', records[7].firstSeen === T + 7, !(records[7].waitAt > 0), clock.now() === T + 7.5)
`

test('timestamps are stored in place: firstSeen, waitAt and the manual clock\'s time stay double fields, never tagged (V8 boxes every store of a tagged one)', { timeout: 30_000 }, async () => {
  const url = (p: string): string => new URL(p, import.meta.url).href
  const { stdout } = await run(process.execPath, [
    '--trace-generalization', '--no-sparkplug', '--input-type=module', '-e', CHILD,
    url('../../src/manager/peer-record.js'), url('../../src/manager/dial-index.js'), url('../../src/testing/manual-clock.js')
  ], { timeout: 25_000, maxBuffer: 64 * 1024 * 1024 })
  assert.match(stdout, /done true true true/, 'the workload ran')
  const lines = stdout.split('\n').filter((l) => /^\[generalizing\](firstSeen|waitAt|current):/.test(l) && /(peer-record|dial-index|manual-clock)\.js/.test(l))
  for (const l of lines) assert.doesNotMatch(l, /->t\{/, `stored tagged (a heap number per store): ${l}`)
  for (const field of ['firstSeen', 'current']) {
    assert.ok(lines.some((l) => l.startsWith(`[generalizing]${field}:`) && /->d\{/.test(l)), `${field} is a double field: ${lines.join(' | ')}`)
  }
})

const RANKED = `
const { RankedDecision } = await import(process.argv[1])
const T = 1_780_000_000_000.5
const rank = { priority: 'medium', longTerm: false, value: 1.5, idle: true, inbound: false, openedAt: 0 }
const d = new RankedDecision(T, 'close', 'trim (', 1, 10, rank)
for (let i = 0; i < 10; i++) { d.start(T + i, 'trim (', 10); d.next(i, { ...rank, value: i + 0.5 }) }
console.log('done', d.at === T + 9)
`

test('a trim\'s reused decision stores its time and the victim\'s fractional tag value in place, never tagged', { timeout: 30_000 }, async () => {
  const { stdout } = await run(process.execPath, [
    '--trace-generalization', '--no-sparkplug', '--input-type=module', '-e', RANKED, new URL('../../src/manager/explain.js', import.meta.url).href
  ], { timeout: 25_000, maxBuffer: 64 * 1024 * 1024 })
  assert.match(stdout, /done true/, 'the decisions were written')
  const lines = stdout.split('\n').filter((l) => /^\[generalizing\](at|value|bits):/.test(l) && /explain\.js/.test(l))
  for (const l of lines) assert.doesNotMatch(l, /->t\{/, `stored tagged (a heap number per store): ${l}`)
  for (const field of ['at', 'value']) {
    assert.ok(lines.some((l) => l.startsWith(`[generalizing]${field}:`) && /->d\{/.test(l)), `${field} is a double field: ${lines.join(' | ')}`)
  }
})

const HISTORY = `
const { createConnectionManager } = await import(process.argv[1])
const { ManualClock, testConnection } = await import(process.argv[2])
const T = 1_780_000_000_000.5
const clock = new ManualClock(T)
let dials = 0
const m = createConnectionManager({ clock, lowWater: 4, highWater: 8, dial: async () => { dials++; throw new Error('refused') } })
const conns = Array.from({ length: 40 }, (_, i) => testConnection('p' + i, { address: 'mem://p' + i }))
for (let round = 0; round < 3; round++) {
  for (const c of conns) { m.connected(c); await clock.advance(0.5); m.disconnected(c) }
}
m.addPeers(Array.from({ length: 20 }, (_, i) => ({ id: 'q' + i, address: 'mem://q' + i })))
m.start()
for (let i = 0; i < 40; i++) await clock.advance(1_000.5)
m.resetBackoff('q1')
const p = m.getPeer('p7')
console.log('done', p.lastConnected > T, dials > 0, m.getPeer('q2').nextDialAt > T, m.getPeer('q1').nextDialAt === undefined || m.getPeer('q1').nextDialAt > T)
await m.close()
`

test('a peer\'s last connection and the end of its backoff are stored in place: lastConnected and nextDialAt are never tagged through connections, closes, failed dials and a reset', { timeout: 30_000 }, async () => {
  const url = (p: string): string => new URL(p, import.meta.url).href
  const { stdout } = await run(process.execPath, [
    '--trace-generalization', '--no-sparkplug', '--input-type=module', '-e', HISTORY,
    url('../../src/index.js'), url('../../src/testing/index.js')
  ], { timeout: 25_000, maxBuffer: 64 * 1024 * 1024 })
  assert.match(stdout, /done true true true true/, 'the workload ran: connections, failed dials, backoffs')
  // The record's fields, not the PeerInfo object `info()` makes per call (where undefined is written)
  // nor the store's row schema.
  const lines = stdout.split('\n').filter((l) => /^\[generalizing\](lastConnected|nextDialAt):/.test(l) && !/\[~info\+/.test(l) && !/stored-row\.js/.test(l))
  for (const l of lines) assert.doesNotMatch(l, /->t\{/, `stored tagged (a heap number per store): ${l}`)
  for (const field of ['lastConnected', 'nextDialAt']) {
    assert.ok(lines.some((l) => l.startsWith(`[generalizing]${field}:`) && /connections\.js/.test(l) && /->d\{/.test(l)), `${field} written as a double field on a connection or close: ${lines.join(' | ')}`)
  }
})
