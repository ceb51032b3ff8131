import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NOTICE_INTERVAL, RegistryNotices, type MemberNotice } from '../../src/mesh/registry-notices.js'
import { ManualClock } from '../../src/testing/manual-clock.js'

// The registry's joined/left notices, coalesced per member, on a manual clock.

const entry = (peer: string, addresses = ['tcp://127.0.0.1:1']): Extract<MemberNotice, { t: 'joined' }> => ({ t: 'joined', entry: { peer, role: 'Worker', variant: 'v', addresses } })
const left = (peer: string): MemberNotice => ({ t: 'left', peer, role: 'Worker' })

function setup (max?: number): { clock: ManualClock; out: MemberNotice[]; notices: RegistryNotices } {
  const clock = new ManualClock()
  const out: MemberNotice[] = []
  return { clock, out, notices: new RegistryNotices(clock, (n) => { out.push(n) }, max) }
}

test('a member flapping its registration 100 times in 1 s costs its watchers at most one notice per 500 ms, the latest state winning', async () => {
  const { clock, out, notices } = setup()
  for (let i = 0; i < 100; i++) {
    notices.notify(i % 2 === 0 ? entry('a', [`tcp://127.0.0.1:${i}`]) : left('a'))
    await clock.advance(10)
  }
  await clock.advance(NOTICE_INTERVAL)
  assert.ok(out.length <= 1 + Math.ceil(1000 / NOTICE_INTERVAL) + 1, `${out.length} notices`)
  assert.deepEqual(out[out.length - 1], left('a'), 'the last state went out')
  const s = notices.stats()
  assert.equal(s.sent, out.length)
  assert.ok(s.coalesced >= 90, `${s.coalesced} coalesced`)
  assert.equal(s.waiting, 0)
})

test('a member\'s first notice, and one after a quiet interval, go out at once; other members are not held back', async () => {
  const { clock, out, notices } = setup()
  notices.notify(entry('a'))
  notices.notify(entry('b'))
  assert.equal(out.length, 2)
  await clock.advance(NOTICE_INTERVAL)
  notices.notify(left('a'))
  assert.deepEqual(out[2], left('a'))
})

test('a flap back to what the watchers last heard within the interval is not broadcast at all', async () => {
  const { clock, out, notices } = setup()
  notices.notify(entry('a'))
  notices.notify(left('a'))
  notices.notify(entry('a'))
  await clock.advance(NOTICE_INTERVAL)
  assert.equal(out.length, 1)
  assert.equal(notices.stats().unchanged, 1)
  notices.notify(entry('a', ['tcp://127.0.0.1:2']))
  assert.equal(out.length, 2, 'a new entry after the interval goes out')
})

test('the member table is budgeted: past it the oldest member\'s waiting notice goes out early, and nothing is lost', async () => {
  const { clock, out, notices } = setup(4)
  for (const p of ['a', 'b', 'c', 'd']) notices.notify(entry(p))
  notices.notify(left('a'))
  assert.equal(notices.stats().waiting, 1)
  notices.notify(entry('e'))
  assert.equal(notices.stats().overBudget, 1)
  assert.deepEqual(out.map((n) => n.t === 'joined' ? `+${n.entry.peer}` : `-${n.peer}`), ['+a', '+b', '+c', '+d', '-a', '+e'])
  await clock.advance(NOTICE_INTERVAL)
  assert.equal(out.length, 6, 'its timer does not send it twice')
})

test('close drops waiting notices and their timers', async () => {
  const { clock, out, notices } = setup()
  notices.notify(entry('a'))
  notices.notify(left('a'))
  notices.close()
  await clock.advance(NOTICE_INTERVAL)
  notices.notify(entry('b'))
  assert.equal(out.length, 1)
})
