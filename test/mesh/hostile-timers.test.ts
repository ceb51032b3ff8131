import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_DELAY, systemClock } from '../../src/clock.js'
import type { Clock } from '../../src/manager/types.js'
import { HandlerContext } from '../../src/mesh/handler-context.js'
import { splitDirectory } from '../../src/mesh/registry.js'
import { fitting } from '../../src/mesh/registry-status.js'
import { MAX_ADDRESSES, MAX_MESSAGE_BYTES } from '../../src/node/wire.js'
import { createRegistry, defineSchema } from '../../src/mesh/index.js'
import { ManualClock } from '../../src/testing/index.js'
import { within } from '../helpers/wait.js'
import { meshNode, registry } from './hostile-peers.js'

// Sizes a peer (or a long setting) makes larger than the runtime or the wire takes: delays longer
// than a timer can wait (node fires such a timer after 1 ms; each clock here records the delays it
// was asked for, none may be over MAX_DELAY), and a directory larger than one message.

const T = { timeout: 20_000 }
const DAY = 86_400_000

/** `clock`, recording every delay it is asked for. */
function recording (clock: Clock): Clock & { delays: number[] } {
  const delays: number[] = []
  return {
    delays,
    now: () => clock.now(),
    setTimeout: (fn, ms) => { delays.push(ms); return clock.setTimeout(fn, ms) },
    clearTimeout: (h) => { clock.clearTimeout(h) }
  }
}

const over = (delays: number[]): number[] => delays.filter((ms) => !(ms <= MAX_DELAY))

test('a call whose deadline (the caller\'s) is 40 days away: the handler\'s signal arms no timer past MAX_DELAY and is not aborted', () => {
  const clock = recording(new ManualClock())
  const ctx = new HandlerContext({ role: 'Caller', variant: 'c' }, clock.now() + 40 * DAY, () => { throw new Error('no nested call') }, clock)
  assert.equal(ctx.signal.aborted, false)
  assert.deepEqual(over(clock.delays), [])
  // A near deadline still arms its timer.
  const near = new HandlerContext({ role: 'Caller', variant: 'c' }, clock.now() + 1000, () => { throw new Error('no nested call') }, clock)
  assert.equal(near.signal.aborted, false)
  assert.deepEqual(clock.delays, [1000])
  near.dispose()
})

test('certificates of 40 days and drain({ timeout: Infinity }): the node arms no timer past MAX_DELAY', T, async (t) => {
  const schema = defineSchema({ Caller: { _connect: ['Worker'] }, Worker: { _allow: ['Caller'], _commands: { _balanced: { work: () => null } } } })
  const reg = await registry(t, { schema, open: true, certificateTtl: 40 * DAY })
  const clock = recording(systemClock)
  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: reg.addresses[0], clock })
  // The renewal: four fifths of 40 days would be over; it is armed for at most MAX_DELAY.
  assert.deepEqual(over(clock.delays), [])
  await within(worker.drain({ timeout: Infinity }), 5000, 'a drain with nobody to tell')
  assert.deepEqual(over(clock.delays), [])
})

test('certificateTtl must be a finite number of ms > 0 (a NaN expiry would not decode at any node)', async () => {
  const schema = defineSchema({ Worker: {} })
  for (const certificateTtl of [Number.NaN, Infinity, 0, -1, '1000' as unknown as number]) {
    await assert.rejects(createRegistry({ schema, open: true, certificateTtl }), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT' && /certificateTtl/.test(err.message))
  }
})

test('a directory of 4095 members with the longest names and addresses goes in parts: the \'registered\' message fits one message, the rest follows as \'joined\'', () => {
  const entries = Array.from({ length: 4095 }, (_, i) => ({
    peer: i.toString(16).padStart(64, '0'),
    role: 'R'.repeat(128),
    variant: 'v'.repeat(64),
    addresses: Array.from({ length: MAX_ADDRESSES }, (_, j) => `tcp://${'h'.repeat(230)}.example:${4000 + j}`)
  }))
  assert.ok(Buffer.byteLength(JSON.stringify(entries)) > MAX_MESSAGE_BYTES, 'the whole directory is over one message')
  const [head, rest] = splitDirectory(entries)
  assert.deepEqual([...head, ...rest], entries)
  assert.ok(rest.length > 0)
  const registered = { t: 'registered', cert: { role: 'R'.repeat(128), variant: 'v'.repeat(64), peer: '0'.repeat(64), registry: '0'.repeat(64), expires: Date.now(), sig: '0'.repeat(128) }, directory: head }
  assert.ok(Buffer.byteLength(JSON.stringify(registered)) + 16 <= MAX_MESSAGE_BYTES)
  // A small directory stays whole.
  assert.deepEqual(splitDirectory(entries.slice(0, 10)), [entries.slice(0, 10), []])
})

test('a status of 4095 members with the longest addresses lists those that fit in one message', () => {
  const members = Array.from({ length: 4095 }, (_, i) => ({ peer: i.toString(16).padStart(64, '0'), role: 'R'.repeat(128), variant: 'v'.repeat(64), addresses: Array.from({ length: MAX_ADDRESSES }, () => 'a'.repeat(256)), since: Date.now(), expires: Date.now() }))
  const shown = fitting(members, MAX_MESSAGE_BYTES - 4096)
  assert.ok(shown.length > 1000 && shown.length < members.length, `${shown.length} members shown`)
  assert.ok(Buffer.byteLength(JSON.stringify(shown)) <= MAX_MESSAGE_BYTES - 4096)
  assert.deepEqual(fitting(members.slice(0, 3), MAX_MESSAGE_BYTES), members.slice(0, 3))
})
