import assert from 'node:assert/strict'
import test from 'node:test'
import { StrangerLog } from '../../src/manager/stranger-log.js'

const refused = (at: number) => ({ at, action: 'refuse' as const, reason: `denied: #${at}` })

test('the stranger log keeps the newest decisions of each peer, at most depth of them', () => {
  const log = new StrangerLog(10)
  for (let i = 1; i <= 5; i++) log.add('p', refused(i), 3)
  assert.deepEqual(log.get('p')?.map((d) => d.at), [3, 4, 5])
  assert.equal(log.get('q'), undefined)
})

test('the stranger log forgets the peer refused least recently once over capacity, not the one refused again', () => {
  const log = new StrangerLog(3)
  log.add('a', refused(1), 5)
  log.add('b', refused(2), 5)
  log.add('c', refused(3), 5)
  log.add('a', refused(4), 5) // a is the most recent now
  log.add('d', refused(5), 5) // over capacity: b goes
  assert.equal(log.get('b'), undefined)
  assert.deepEqual(log.get('a')?.map((d) => d.at), [1, 4])
  assert.ok(log.get('c') !== undefined && log.get('d') !== undefined)
})
