import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_DELAY, systemClock } from '../../src/clock.js'
import type { Clock } from '../../src/manager/types.js'
import { HandlerContext } from '../../src/mesh/handler-context.js'
import { createRegistry, defineSchema } from '../../src/mesh/index.js'
import { ManualClock } from '../../src/testing/index.js'
import { within } from '../helpers/wait.js'
import { meshNode, registry } from './hostile-peers.js'

// Delays a peer (or a long setting) makes longer than a timer can wait: node fires such a timer
// after 1 ms. Each clock here records the delays it was asked for; none may be over MAX_DELAY.

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
