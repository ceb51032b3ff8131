import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerRecord } from '../../src/manager/peer-record.js'

const FLAGS = ['longTerm', 'permanent', 'bootstrap', 'hint', 'allowed', 'idle', 'inbound', 'dialing', 'forgotten'] as const

test('a peer record\'s packed flags are independent fields: setting one leaves every other as it was', () => {
  for (const flag of FLAGS) {
    const r = new PeerRecord('p', 'p', 0)
    const before = FLAGS.map((f) => r[f])
    r[flag] = !r[flag]
    assert.equal(r[flag], !before[FLAGS.indexOf(flag)], `${flag} flips`)
    FLAGS.forEach((f, i) => { if (f !== flag) assert.equal(r[f], before[i], `${f} unchanged when ${flag} is set`) })
    r[flag] = !r[flag]
    assert.deepEqual(FLAGS.map((f) => r[f]), before, `${flag} flips back`)
  }
  const fresh = new PeerRecord('q', 'q', 0)
  assert.deepEqual(FLAGS.map((f) => fresh[f]), [false, false, false, false, false, true, false, false, false], 'the defaults: only idle is set')
})

test('a peer record\'s rare collections are its own, and clearing them on a record without any allocates nothing shared', () => {
  const a = new PeerRecord('a', 'a', 0)
  const b = new PeerRecord('b', 'b', 0)
  a.tags = undefined
  a.protections = undefined
  assert.equal(b.tags, undefined)
  a.tags = new Map([['x', 1]])
  a.protections = new Set(['p'])
  assert.equal(b.tags, undefined, 'another record has no tags')
  assert.equal(b.protections, undefined)
  assert.equal(a.isProtected, true)
  b.hinted = new Set(['mem://b'])
  assert.equal(a.hinted, undefined)
  a.tags = a.decaying = a.protections = undefined
  assert.equal(a.isProtected, false)
  assert.equal(a.tags, undefined)
})

test('a view of a record (Object.create, as admits() previews a merge) takes flag writes itself, leaving the record as it was', () => {
  const own = new PeerRecord('own', 'own', 0)
  own.longTerm = true
  const view = Object.create(own) as PeerRecord
  view.permanent = true
  view.longTerm = false
  assert.equal(view.permanent, true)
  assert.equal(view.longTerm, false)
  assert.equal(own.permanent, false, 'the record is not made permanent by its view')
  assert.equal(own.longTerm, true)
})

test('a peer never connected and without backoff holds NaN in its time fields, shown and stored as undefined; a stored row\'s times that are no numbers are ignored', async () => {
  const { toStored, mergeStored } = await import('../../src/manager/persistence.js')
  const r = new PeerRecord('p', 'p', 5)
  assert.ok(Number.isNaN(r.lastConnected) && Number.isNaN(r.nextDialAt), 'NaN inside: a double field from the start')
  assert.equal(r.info().lastConnected, undefined)
  assert.equal(r.info().nextDialAt, undefined)
  assert.equal(toStored(r).lastConnected, undefined)
  assert.equal(toStored(r).nextDialAt, undefined)
  const row = { ...toStored(r), lastConnected: '7' as unknown as number, nextDialAt: null as unknown as number }
  mergeStored(r, row)
  assert.ok(Number.isNaN(r.lastConnected) && Number.isNaN(r.nextDialAt), 'a string or null is no time')
  mergeStored(r, { ...row, lastConnected: 7, nextDialAt: 9 })
  assert.equal(r.info().lastConnected, 7)
  assert.equal(r.info().nextDialAt, 9)
  mergeStored(r, { ...row, lastConnected: 3, nextDialAt: 20 })
  assert.equal(r.lastConnected, 7, 'the later connection is kept')
  assert.equal(r.nextDialAt, 9, 'a backoff in force is kept')
})
