/**
 * `hintLimits` and `failedDialLimits` (budget-options.ts): checked (ERR_INVALID_ARGUMENT naming the
 * field), defaults kept, configured figures honoured by the hint and dial budgets, 0 and Infinity as
 * documented; and the bounded tables forget without resetting a host counted at its limit
 * (windowed-counts.ts). Virtual time, no sockets.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FAILED_DIAL_LIMITS_DEFAULTS, HINT_LIMITS_DEFAULTS, resolveFailedDialLimits, resolveHintLimits } from '../../src/node/budget-options.js'
import { DialBudget } from '../../src/node/dial-budget.js'
import { HintBudget, MAX_HINT_KEYS } from '../../src/node/hint-budget.js'
import { WindowedCounts } from '../../src/node/windowed-counts.js'
import { ManualClock } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'

const id = (n: number): string => n.toString(16).padStart(64, '0')
const ports = (host: string, from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `tcp://${host}:${from + i}`)

test('the hint and failed-dial limits keep their documented defaults', () => {
  assert.deepEqual(resolveHintLimits(undefined), { portsPerHost: 16, portsPerHostPerConnection: 8, peersPerRange: 64, peersPerRangePerConnection: 32, window: 600_000 })
  assert.deepEqual(resolveFailedDialLimits(undefined), { perHost: 16, perRange: 64, window: 60_000 })
  assert.deepEqual(resolveHintLimits({ portsPerHost: 4 }), { ...HINT_LIMITS_DEFAULTS, portsPerHost: 4 })
  assert.deepEqual(resolveFailedDialLimits({ window: Infinity }), { ...FAILED_DIAL_LIMITS_DEFAULTS, window: Infinity })
})

test('bad hint and failed-dial limits fail with ERR_INVALID_ARGUMENT naming the field', () => {
  const bad: Array<[() => unknown, RegExp]> = [
    [() => resolveHintLimits({ portsPerHost: -1 }), /hintLimits\.portsPerHost must be an integer >= 0 or Infinity, got -1/],
    [() => resolveHintLimits({ peersPerRange: 1.5 }), /hintLimits\.peersPerRange must be an integer >= 0 or Infinity/],
    [() => resolveHintLimits({ window: 0 }), /hintLimits\.window must be an integer >= 1 or Infinity, got 0/],
    [() => resolveHintLimits({ portsPerHostPerConnection: NaN }), /hintLimits\.portsPerHostPerConnection must be an integer/],
    [() => resolveHintLimits({ portPerHost: 3 } as never), /hintLimits.*portPerHost.*portsPerHost/],
    [() => resolveHintLimits(5 as never), /hintLimits must be an object, got 5/],
    [() => resolveFailedDialLimits({ perHost: 0 }), /failedDialLimits\.perHost must be an integer >= 1 or Infinity, got 0/],
    [() => resolveFailedDialLimits({ perRange: '64' as never }), /failedDialLimits\.perRange must be an integer >= 1 or Infinity/],
    [() => resolveFailedDialLimits({ window: -Infinity }), /failedDialLimits\.window/]
  ]
  for (const [fn, message] of bad) assert.throws(fn, hasCode('ERR_INVALID_ARGUMENT', message))
  assert.throws(() => new HintBudget(new ManualClock(), { window: 0 }), hasCode('ERR_INVALID_ARGUMENT', /hintLimits\.window/))
  assert.throws(() => new DialBudget(new ManualClock(), { perHost: 0 }), hasCode('ERR_INVALID_ARGUMENT', /failedDialLimits\.perHost/))
})

test('the hint budget honours configured ports per host, peers per range and window', async () => {
  const clock = new ManualClock()
  const b = new HintBudget<object>(clock, { portsPerHost: 5, portsPerHostPerConnection: 3, peersPerRange: 6, peersPerRangePerConnection: 4, window: 1_000 })
  const one = {}
  const two = {}
  assert.equal(b.admit(one, id(1), ports('10.0.0.7', 1000, 10)).length, 3, '3 ports of a host per connection')
  assert.equal(b.admit(two, id(2), ports('10.0.0.7', 2000, 10)).length, 2, '5 node-wide')
  let taken = 0
  for (let i = 0; i < 10; i++) taken += b.admit(one, id(100 + i), [`tcp://8.8.8.${i + 1}:4001`]).length
  assert.equal(taken, 4, '4 peers of a range per connection')
  taken = 0
  for (let i = 10; i < 20; i++) taken += b.admit(two, id(100 + i), [`tcp://8.8.8.${i + 1}:4001`]).length
  assert.equal(taken, 2, '6 node-wide')
  await clock.advance(1_000)
  assert.equal(b.admit(two, id(3), ports('10.0.0.7', 3000, 10)).length, 3, 'a new window after 1 s')
})

test('a hint limit of 0 learns no hinted address of that kind, Infinity switches it off, loopback stays exempt', () => {
  const clock = new ManualClock()
  const none = new HintBudget<object>(clock, { portsPerHost: 0 })
  assert.deepEqual(none.admit({}, id(1), ['tcp://10.0.0.7:1', 'tcp://127.0.0.1:2']), ['tcp://127.0.0.1:2'])
  const off = new HintBudget<object>(clock, { portsPerHost: Infinity, portsPerHostPerConnection: Infinity })
  assert.equal(off.admit({}, id(1), ports('10.0.0.7', 1, 500)).length, 500)
  assert.equal(off.size, 0, 'a budget switched off keeps nothing')
})

test('the dial budget honours configured failures per host, per range and window; Infinity switches one off', async () => {
  const clock = new ManualClock()
  const b = new DialBudget(clock, { perHost: 2, perRange: 3, window: 5_000 })
  const host = b.keysOf('tcp://8.8.8.8:4001')!
  for (let i = 0; i < 2; i++) { assert.ok(b.allows(host)); b.failed(host) }
  assert.equal(b.allows(host), false, '2 failures per host')
  b.failed(b.keysOf('tcp://8.8.8.9:1')!)
  assert.equal(b.allows(b.keysOf('tcp://8.8.8.10:1')!), false, '3 failures per range')
  await clock.advance(5_000)
  assert.ok(b.allows(host), 'a new window after 5 s')
  const off = new DialBudget(clock, { perHost: Infinity, perRange: Infinity })
  const k = off.keysOf('tcp://8.8.8.8:4001')!
  for (let i = 0; i < 1000; i++) off.failed(k)
  assert.ok(off.allows(k))
})

test('a full hint table forgets the least counted host, so a flood of new hosts does not reset a host counted at its limit (regression: forgetting the oldest key gave it a new budget)', () => {
  const clock = new ManualClock()
  const b = new HintBudget<object>(clock)
  // Node-wide only (no connection): the victim host at its 16 ports.
  assert.equal(b.admit(undefined, id(1), ports('10.0.0.1', 1, 16)).length, 16)
  // More new hosts than the table holds, one port each (private addresses: hosts only, no ranges).
  for (let i = 0; i < MAX_HINT_KEYS + 100; i++) b.admit(undefined, id(2), [`tcp://10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:1`])
  assert.equal(b.size, MAX_HINT_KEYS)
  assert.equal(b.admit(undefined, id(3), ports('10.0.0.1', 100, 16)).length, 0, 'the victim host is still at its budget')
})

test('the bounded table forgets an ended window first, then the lowest count, the longest counted first', () => {
  const t = new WindowedCounts<undefined>(3, 100, () => undefined)
  const bump = (key: string, now: number, times: number): void => { t.open(key, now); for (let i = 0; i < times; i++) t.add(key) }
  bump('a', 0, 5)
  bump('b', 50, 1)
  bump('c', 60, 1)
  bump('d', 70, 2) // full: 'b' (count 1, counted before 'c') goes
  assert.equal(t.live('b', 70), undefined)
  assert.deepEqual(['a', 'c', 'd'].map((k) => t.live(k, 70)?.count), [5, 1, 2])
  bump('e', 120, 1) // 'a''s window ended (began at 0): it goes, though counted most
  assert.equal(t.live('a', 120), undefined)
  assert.deepEqual(['c', 'd', 'e'].map((k) => t.live(k, 120)?.count), [1, 2, 1])
  assert.equal(t.size, 3)
})
