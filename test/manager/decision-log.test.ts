import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DecisionLog, reasonCode } from '../../src/manager/decision-log.js'
import { RankedDecision } from '../../src/manager/explain.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import { testConnection } from '../../src/testing/index.js'
import { manager } from '../helpers/manager.js'

/** A record writing to `log`, as the peer book makes them. */
function record (log: DecisionLog, id: string): PeerRecord {
  const r = new PeerRecord(id, id, 0)
  r.journal = log
  return r
}

const reasons = (r: PeerRecord): string[] => (r.decisions ?? []).map((d) => d.reason)

test('explain() shows a trim\'s and an eviction\'s reasons with the same text as before the decision log', async () => {
  const { m, clock } = manager({ lowWater: 1, highWater: 3, gracePeriod: 100 })
  m.start()
  m.connected(testConnection('a'))
  m.connected(testConnection('b', { direction: 'outbound' }))
  m.connected(testConnection('c'))
  m.tagPeer('a', 'v', 5)
  m.tagPeer('c', 'v', -2)
  await clock.advance(200)
  // At highWater 3: 'd' evicts the lowest-ranked peer, c (value -2).
  m.connected(testConnection('d'))
  assert.deepEqual(m.explain('c').at(-1), {
    at: 200,
    action: 'trim',
    reason: 'trimmed: evicted to make room for d at highWater 3: lowest-ranked trimmable peer (priority medium, value -2, idle, inbound)'
  })
  await clock.advance(200)
  await m.trim()
  // Equal values: inbound before outbound.
  assert.deepEqual(m.explain('d').at(-1), {
    at: 400,
    action: 'trim',
    reason: 'trimmed: trim (explicit): 3 trimmable of 3 connections, lowWater 1, highWater 3; #1 of 2 lowest-ranked (priority medium, value 0, idle, inbound)'
  })
  assert.equal(m.explain('b').at(-1)?.reason, 'trimmed: trim (explicit): 3 trimmable of 3 connections, lowWater 1, highWater 3; #2 of 2 lowest-ranked (priority medium, value 0, idle, outbound)')
  assert.deepEqual(m.explain('a').map((d) => d.action), ['accept'], 'the peer kept has no trim decision')
  await m.close()
})

test('a ranked decision keeps the rank it had when it was made, not the peer\'s later one', () => {
  const log = new DecisionLog(16)
  const r = record(log, 'p')
  r.value = 7
  const d = new RankedDecision(5, 'trim', 'trimmed: x; #', 2, 9, r)
  r.value = 100
  r.note(d, 4)
  r.longTerm = true
  assert.deepEqual(r.decisions, [{ at: 5, action: 'trim', reason: 'trimmed: x; #2 of 9 lowest-ranked (priority medium, value 7, idle, outbound)' }])
  assert.equal(d.reason, r.decisions?.[0].reason, 'the object and the log say the same')
})

test('a peer keeps its newest explainDepth decisions, oldest first, and frees the older ones', () => {
  const log = new DecisionLog(64)
  const r = record(log, 'p')
  for (let i = 0; i < 10; i++) r.decide(i, 'dial', `dial ${i}`, 3)
  assert.deepEqual(reasons(r), ['dial 7', 'dial 8', 'dial 9'])
  assert.equal(log.size, 3, 'the older seven went back to the log')
  const { m } = manager({ explainDepth: 2 })
  m.connected(testConnection('x'))
  m.protect('x', 'a')
  m.unprotect('x', 'a')
  assert.deepEqual(m.explain('x').map((d) => d.action), ['protect', 'unprotect'])
})

test('a peer\'s decisions survive any amount of other peers\' churn while the log is within its budget', () => {
  const log = new DecisionLog(100)
  const quiet = record(log, 'quiet')
  quiet.decide(1, 'accept', 'first', 32)
  quiet.decide(2, 'trim', 'second', 32)
  // 10,000 decisions about 1,000 peers that come and go: at most ~40 kept at once.
  let live: PeerRecord[] = []
  for (let i = 0; i < 1000; i++) {
    const r = record(log, `churn-${i}`)
    for (let k = 0; k < 10; k++) r.decide(10 + i, 'dial', `churn ${i}.${k}`, 4)
    live.push(r)
    if (live.length > 9) { live[0].forgotten = true; live = live.slice(1) }
  }
  assert.deepEqual(reasons(quiet), ['first', 'second'])
  assert.equal(log.dropped, 0)
  assert.ok(log.capacity <= 100)
  assert.equal(log.size, 2 + 9 * 4)
  assert.deepEqual(reasons(live.at(-1)!), ['churn 999.6', 'churn 999.7', 'churn 999.8', 'churn 999.9'])
})

test('past its budget the log gives the oldest kept decisions\' places to new ones, and each peer shows its decisions newer than those lost', () => {
  const log = new DecisionLog(8)
  const a = record(log, 'a')
  for (let i = 0; i < 4; i++) a.decide(i, 'dial', `a${i}`, 32)
  const b = record(log, 'b')
  for (let i = 0; i < 4; i++) b.decide(10 + i, 'dial', `b${i}`, 32)
  assert.equal(log.dropped, 0)
  // Full: the next two take the places of a's two oldest.
  const c = record(log, 'c')
  c.decide(20, 'accept', 'c0', 32)
  c.decide(21, 'trim', 'c1', 32)
  assert.equal(log.dropped, 2)
  assert.equal(log.size, 8)
  assert.deepEqual(reasons(a), ['a2', 'a3'])
  assert.deepEqual(reasons(b), ['b0', 'b1', 'b2', 'b3'])
  assert.deepEqual(reasons(c), ['c0', 'c1'])
  // A peer whose own oldest place is taken by its own newest decision still reads in order, once each.
  for (let i = 4; i < 20; i++) a.decide(i, 'dial', `a${i}`, 32)
  assert.ok(log.size <= 8)
  const mine = reasons(a)
  assert.deepEqual(mine, mine.slice().sort((x, y) => +x.slice(1) - +y.slice(1)))
  assert.equal(mine.at(-1), 'a19')
  assert.equal(new Set(mine).size, mine.length)
})

test('a coded reason keeps its numbers and text, and is written by its format when read', () => {
  const backoff = reasonCode((n, delay) => `dial attempt failed (${n} in a row): next try in ${delay} ms`)
  const refused = reasonCode((high, _b, _c, text) => `over-limit: at highWater ${high}; ${text ?? ''}`)
  const log = new DecisionLog(16)
  const r = record(log, 'p')
  r.decideCode(3, 'backoff', 32, backoff, 2, 4000)
  r.decideCode(4, 'refuse', 32, refused, 96, 0, 0, 'nothing trimmable')
  assert.deepEqual(r.decisions, [
    { at: 3, action: 'backoff', reason: 'dial attempt failed (2 in a row): next try in 4000 ms' },
    { at: 4, action: 'refuse', reason: 'over-limit: at highWater 96; nothing trimmable' }
  ])
})

test('a trim\'s shared text is kept while a victim\'s decision names it, and a forgotten peer\'s decisions are freed', () => {
  const log = new DecisionLog(16)
  const victims = ['v1', 'v2', 'v3'].map((id) => record(log, id))
  const d = new RankedDecision(1, 'trim', 'trimmed: trim (explicit): rule; #', 1, 3, victims[0])
  victims.forEach((v, i) => { v.note(d.next(i + 1, v), 8) })
  victims[0].forgotten = true
  victims[1].forgotten = true
  assert.equal(victims[0].decisions, undefined)
  assert.equal(victims[2].decisions?.[0].reason, 'trimmed: trim (explicit): rule; #3 of 3 lowest-ranked (priority medium, value 0, idle, outbound)')
  victims[2].forgotten = true
  assert.equal(log.size, 0)
  // The next trim's text takes a place of its own.
  const w = record(log, 'w')
  w.note(new RankedDecision(2, 'trim', 'next; #', 1, 1, w), 8)
  assert.match(w.decisions?.[0].reason ?? '', /^next; #1 of 1/)
})

test('stats() counts the decisions kept, and a forgotten peer\'s go with it', async () => {
  const { m } = manager()
  m.connected(testConnection('y'))
  m.addPeers([{ id: 'x' }])
  m.protect('x', 'a')
  m.unprotect('x', 'a')
  assert.equal(m.stats().decisions, 3)
  m.forgetPeer('x')
  assert.equal(m.stats().decisions, 1, 'y\'s accept')
  await m.close()
})

test('merging two records keeps both peers\' decisions, in time order', () => {
  const log = new DecisionLog(16)
  const a = record(log, 'a')
  a.decide(1, 'dial', 'a1', 8)
  a.decide(5, 'dial', 'a5', 8)
  const b = record(log, 'b')
  b.decide(3, 'accept', 'b3', 8)
  b.decisions = [...(a.decisions ?? []), ...(b.decisions ?? [])].sort((x, y) => x.at - y.at)
  assert.deepEqual(reasons(b), ['a1', 'b3', 'a5'])
  assert.equal(log.size, 5)
})
