import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ANSWER_BYTES_PER_MINUTE, ANSWERS_PER_MINUTE, AnswerBudget, answerSource, MAX_ANSWER_ASKERS } from '../../src/node/topic-answers.js'
import { MAX_PEX_SOURCES, PEX_SOURCE_FACTOR, PexBudget } from '../../src/node/pex-budget.js'
import { FLIP_BURST, FLIP_INTERVAL, FLIP_SOURCE_FACTOR, FLIPS_IGNORED_TO_CLOSE, MAX_FLIP_HOLDERS, MAX_FLIP_TOPICS, TopicFlips } from '../../src/node/topic-flips.js'

// The per-connection budgets of the topic directory, on a hand-driven clock.

function flips (): { f: TopicFlips; clock: { t: number } } {
  const clock = { t: 0 }
  return { f: new TopicFlips(() => clock.t), clock }
}

/** Flips `topic` on `conn` (of `peer`, from `source`) toward the state it does not hold (what a flipping peer sends): the verdict. */
function flipper (f: TopicFlips, conn: object, topic: string, peer = 'p', source?: string): () => string {
  let announced = false
  return () => {
    const v = f.take(conn, topic, !announced, peer, source)
    if (v === 'ok') announced = !announced
    return v
  }
}

test('a connection flipping a topic gets a burst of 8 flips, then one per 4 s; past it flips are ignored and 64 ignored close it', () => {
  const { f, clock } = flips()
  const flip = flipper(f, {}, 'k')
  assert.equal(flip(), 'ok', 'the first join is free')
  assert.equal(flip(), 'ok', 'the first leave is free')
  assert.deepEqual(Array.from({ length: FLIP_BURST + 1 }, flip), [...Array<string>(FLIP_BURST).fill('ok'), 'ignore'])
  clock.t += FLIP_INTERVAL
  assert.equal(flip(), 'ok', 'one more after 4 s')
  assert.equal(flip(), 'ignore')
  let last = ''
  for (let i = 3; i <= FLIPS_IGNORED_TO_CLOSE; i++) last = flip()
  assert.equal(last, 'close', `the ${FLIPS_IGNORED_TO_CLOSE}th ignored flip closes the connection`)
  assert.equal(f.ignored, FLIPS_IGNORED_TO_CLOSE)
})

test('an honest node joining, refreshing and leaving 64 topics at once spends no flip; another identity has its own budget', () => {
  const { f } = flips()
  const conn = {}
  for (let i = 0; i < 64; i++) assert.equal(f.take(conn, `t${i}`, true, 'p'), 'ok')
  for (let i = 0; i < 64; i++) assert.equal(f.take(conn, `t${i}`, true, 'p'), 'ok', 'a refresh')
  for (let i = 0; i < 64; i++) assert.equal(f.take(conn, `t${i}`, false, 'p'), 'ok')
  const flip = flipper(f, conn, 'x')
  assert.deepEqual(Array.from({ length: FLIP_BURST + 3 }, flip), [...Array<string>(FLIP_BURST + 2).fill('ok'), 'ignore'])
  const other = flipper(f, {}, 'x', 'q')
  assert.deepEqual([other(), other(), other()], ['ok', 'ok', 'ok'])
})

test('a connection cycling through more topics than remembered gets no free changes back', () => {
  const { f } = flips()
  const conn = {}
  for (let i = 0; i <= MAX_FLIP_TOPICS; i++) f.take(conn, `t${i}`, true, 'p')
  const verdicts = Array.from({ length: FLIP_BURST + 1 }, (_, i) => f.take(conn, `fresh${i}`, true, 'p'))
  assert.equal(verdicts.filter((v) => v === 'ok').length, FLIP_BURST, 'each fresh topic costs a flip once one was forgotten')
})

test('an identity reconnecting gets no new flip budget: its connections share one burst (regression: a burst per connection)', () => {
  const { f } = flips()
  const first = flipper(f, {}, 'k', 'p', '127.0.0.2')
  assert.deepEqual(Array.from({ length: FLIP_BURST + 3 }, first), [...Array<string>(FLIP_BURST + 2).fill('ok'), 'ignore'])
  const again = flipper(f, {}, 'k', 'p', '127.0.0.2')
  assert.deepEqual([again(), again(), again()], ['ok', 'ok', 'ignore'], 'a new connection: its first join and leave are free, its flips are spent')
})

test('fresh identities of one source share twice an identity\'s burst; another source, and an exempt one, have their own', () => {
  const { f } = flips()
  let taken = 0
  for (let n = 0; n < 8; n++) {
    const flip = flipper(f, {}, 'k', `p${n}`, '127.0.0.2')
    flip(); flip() // the free first join and leave
    for (let i = 0; i < FLIP_BURST; i++) if (flip() === 'ok') taken++
  }
  assert.equal(taken, FLIP_SOURCE_FACTOR * FLIP_BURST)
  const other = flipper(f, {}, 'k', 'q', '127.0.0.3')
  assert.deepEqual([other(), other(), other()], ['ok', 'ok', 'ok'])
  const local = flipper(f, {}, 'k', 'r', undefined)
  assert.deepEqual([local(), local(), local()], ['ok', 'ok', 'ok'], '127.0.0.1 and ::1 are exempt from the source budget')
})

test('the flip budget remembers at most 4096 identities and as many sources', () => {
  const { f } = flips()
  for (let n = 0; n < MAX_FLIP_HOLDERS + 10; n++) {
    const flip = flipper(f, {}, 'k', `p${n}`, `10.0.${n >> 8}.${n & 255}`)
    flip(); flip(); flip()
  }
  assert.equal(f.holders, 2 * MAX_FLIP_HOLDERS)
})

test('an asker gets 512 full lookup answers a minute, then empty ones; the budget refills over a minute and is bounded', () => {
  const clock = { t: 0 }
  const b = new AnswerBudget(() => clock.t)
  let full = 0
  for (let i = 0; i < ANSWERS_PER_MINUTE + 100; i++) if (b.take('p')) full++
  assert.equal(full, ANSWERS_PER_MINUTE)
  assert.equal(b.refused, 100)
  assert.equal(b.take('q'), true, 'another asker has its own budget')
  clock.t += 30_000
  full = 0
  for (let i = 0; i < ANSWERS_PER_MINUTE; i++) if (b.take('p')) full++
  assert.equal(full, ANSWERS_PER_MINUTE / 2, 'half a minute refilled half')
  for (let i = 0; i < MAX_ANSWER_ASKERS + 10; i++) b.take(`a${i}`)
  assert.equal(b.size, MAX_ANSWER_ASKERS)
})

test('the identities of one source share its answer bytes (16 MiB a minute), refilled over a minute; an answer alone fits a full bucket; a refusal spends nothing', () => {
  const clock = { t: 0 }
  const b = new AnswerBudget(() => clock.t)
  const size = 1024 * 1024
  let full = 0
  for (let i = 0; i < 64; i++) if (b.takeBytes('range:1.2.3', size)) full++
  assert.equal(full, ANSWER_BYTES_PER_MINUTE / size, 'the source\'s bytes, whoever asks')
  assert.equal(b.refused, 64 - full)
  assert.equal(b.takeBytes('range:1.2.4', size), true, 'another source has its own budget')
  assert.equal(b.takeBytes(undefined, ANSWER_BYTES_PER_MINUTE * 4), true, 'an exempt source (127.0.0.1) has only the per-asker budget')
  clock.t += 30_000
  full = 0
  for (let i = 0; i < 64; i++) if (b.takeBytes('range:1.2.3', size)) full++
  assert.equal(full, ANSWER_BYTES_PER_MINUTE / size / 2, 'half a minute refilled half')
  assert.equal(b.takeBytes('range:9.9.9', ANSWER_BYTES_PER_MINUTE * 2), true, 'an answer larger than the budget fits a full bucket')
  assert.equal(b.takeBytes('range:9.9.9', 1), false, 'and empties it')
  assert.equal(b.takeBytes('range:1.2.4', ANSWER_BYTES_PER_MINUTE - size), true, 'a refusal spent nothing')
  for (let i = 0; i < MAX_ANSWER_ASKERS + 10; i++) b.takeBytes(`s${i}`, 1)
  assert.equal(b.sourceCount, MAX_ANSWER_ASKERS)
})

test('answers are counted per public range, per IP otherwise (a relayed peer apart); 127.0.0.1 and ::1 are exempt', () => {
  assert.equal(answerSource('tcp://8.8.8.8:4001'), answerSource('tcp://8.8.8.200:4002'))
  assert.notEqual(answerSource('tcp://8.8.8.8:4001'), answerSource('tcp://8.8.9.8:4001'))
  assert.notEqual(answerSource('tcp://8.8.8.8:4001'), answerSource(`tcp://8.8.8.8:4001/relay/${'a'.repeat(64)}`))
  assert.equal(answerSource('tcp://[::ffff:8.8.8.9]:4001'), answerSource('tcp://8.8.8.8:4001'))
  assert.notEqual(answerSource('tcp://127.0.0.2:4001'), answerSource('tcp://127.0.0.3:4001'))
  assert.equal(answerSource('tcp://127.0.0.2:4001'), answerSource('tcp://127.0.0.2:5001'))
  assert.equal(answerSource('tcp://10.0.0.1:4001') === answerSource('tcp://10.0.0.2:4001'), false, 'private addresses count per IP')
  assert.equal(answerSource('tcp://127.0.0.1:4001'), undefined)
  assert.equal(answerSource('tcp://[::1]:4001'), undefined)
})

test('peer exchange: the connections of one source share twice pexPerMinute a minute; a connection keeps its own pexPerMinute; an exempt source has only that', () => {
  const clock = { t: 0, now () { return this.t }, setTimeout: () => 0, clearTimeout: () => {} }
  const b = new PexBudget<object>(clock, 10)
  let taken = 0
  for (let c = 0; c < 5; c++) {
    const conn = {}
    for (let m = 0; m < 10; m++) if (b.take(conn, '127.0.0.2')) taken++
  }
  assert.equal(taken, PEX_SOURCE_FACTOR * 10)
  const other = {}
  assert.equal(b.take(other, '127.0.0.3'), true, 'another source has its own')
  const local = {}
  let mine = 0
  for (let m = 0; m < 20; m++) if (b.take(local, undefined)) mine++
  assert.equal(mine, 10, 'an exempt source: the connection\'s budget only')
  clock.t += 60_000
  assert.equal(b.take({}, '127.0.0.2'), true, 'a new minute')
  for (let i = 0; i < MAX_PEX_SOURCES + 5; i++) b.take({}, `s${i}`)
  assert.equal(b.sourceCount, MAX_PEX_SOURCES)
})
