import assert from 'node:assert/strict'
import { test } from 'node:test'
import { limitLines } from '../../src/cli/log-limit.js'
import { createLogger } from '../../src/logger.js'
import { ManualClock } from '../../src/testing/index.js'

// The command line's rate limit, in virtual time.

function setup (perSecond = 3): { clock: ManualClock; lines: string[]; log: ReturnType<typeof limitLines> } {
  const clock = new ManualClock()
  const lines: string[] = []
  const inner = createLogger({ level: 'debug', write: (l) => lines.push(l), now: () => clock.now(), time: (ms) => `t=${ms}` })
  return { clock, lines, log: limitLines(inner, { clock, perSecond }) }
}

test('a flood of one failure writes perSecond lines, then one line per second saying how many more there were', async () => {
  const { clock, lines, log } = setup(3)
  for (let i = 0; i < 1000; i++) log.info({ address: `tcp://10.0.0.1:${i}` }, 'handshake failed')
  assert.equal(lines.length, 3, 'three written, the rest held back')
  assert.match(lines[2], /^t=0 INFO {2}handshake failed address=tcp:\/\/10\.0\.0\.1:2$/)
  await clock.advance(999)
  assert.equal(lines.length, 3, 'nothing before the second is over')
  await clock.advance(1)
  assert.deepEqual(lines.slice(3), ['t=1000 INFO  997 more "handshake failed" in the last second'])
  assert.equal(clock.pending, 0, 'no timer left once said')
  // The next second starts afresh.
  for (let i = 0; i < 5; i++) log.info('handshake failed')
  assert.equal(lines.length, 7)
  await clock.advance(1000)
  assert.equal(lines.at(-1), 't=2000 INFO  2 more "handshake failed" in the last second')
})

test('each message has its own budget; a quiet second writes no summary and arms no timer', async () => {
  const { clock, lines, log } = setup(2)
  log.info({ peer: 'a' }, 'connected')
  log.info({ peer: 'b' }, 'connected')
  log.warn({ peer: 'x' }, 'protocol error')
  assert.equal(lines.length, 3)
  assert.equal(clock.pending, 0, 'nothing held back, no timer')
  await clock.advance(5000)
  assert.equal(lines.length, 3)
  log.info({ peer: 'c' }, 'connected')
  log.info({ peer: 'd' }, 'connected')
  log.info({ peer: 'e' }, 'connected')
  log.info('dial failed')
  log.warn('dial failed')
  log.warn('dial failed')
  await clock.advance(1000)
  assert.deepEqual(lines.slice(-2), ['t=6000 INFO  1 more "connected" in the last second', 't=6000 WARN  1 more "dial failed" in the last second'], 'the summary at the highest level held back')
})

test('close() says what is held back at once and leaves no timer', async () => {
  const { clock, lines, log } = setup(1)
  log.info('dial failed')
  log.info('dial failed')
  assert.equal(clock.pending, 1)
  log.close()
  assert.equal(clock.pending, 0)
  assert.equal(lines.at(-1), 't=0 INFO  1 more "dial failed" in the last second')
})

test('the messages counted at once are bounded: beyond maxMessages they share one count', async () => {
  const clock = new ManualClock()
  const lines: string[] = []
  const log = limitLines(createLogger({ level: 'info', write: (l) => lines.push(l), now: () => clock.now(), time: () => '' }), { clock, perSecond: 1, maxMessages: 2 })
  for (let i = 0; i < 50; i++) log.info(`message ${i}`)
  assert.equal(lines.length, 3, 'two messages and the shared "other lines" once')
  await clock.advance(1000)
  assert.equal(lines.at(-1), ' INFO  47 more "other lines" in the last second')
})
