import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConnectionManager, type Connection } from '../../src/index.js'
import { ConnectionTable } from '../../src/manager/connection-table.js'
import { PeerRecord, type ConnEntry } from '../../src/manager/peer-record.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

function entryOf (peer: string, id: string): ConnEntry {
  return { conn: new TestConnection({ peer, id }), record: new PeerRecord(peer, peer, 0), openedAt: 0, slot: -1 }
}

test('the connection table keeps opening order through removals and the compaction that squeezes them out', () => {
  const byPeer = new Map<string, ConnEntry>()
  const table = new ConnectionTable((peer) => byPeer.get(peer))
  const entries = Array.from({ length: 200 }, (_, i) => entryOf(`p${i}`, `c${i}`))
  for (const e of entries) table.add(e)
  // Remove two thirds (more than half: the next add compacts), keeping every third.
  for (let i = 0; i < entries.length; i++) if (i % 3 !== 0) table.remove(entries[i])
  table.remove(entries[1]) // twice: nothing more happens
  assert.equal(table.size, 67)
  const late = entryOf('late', 'c-late')
  table.add(late)
  const expected = [...entries.filter((_, i) => i % 3 === 0), late]
  assert.deepEqual([...table.values()], expected)
  assert.deepEqual(expected.map((e) => e.slot), expected.map((_, i) => i), 'each survivor knows its new slot')
  assert.equal(entries[1].slot, -1)
  for (const e of entries) assert.equal(table.find(e.conn), entries.indexOf(e) % 3 === 0 ? e : undefined)
})

test('the connection table finds a live connection by its own object, by another object of its id and peer, or by its id alone', () => {
  const byPeer = new Map<string, ConnEntry>()
  const table = new ConnectionTable((peer) => byPeer.get(peer))
  const a = entryOf('pa', 'ca')
  const b = entryOf('pb', 'cb')
  for (const e of [a, b]) { table.add(e); byPeer.set(e.conn.peer, e) }
  assert.equal(table.find(a.conn), a)
  assert.equal(table.find(new TestConnection({ peer: 'pa', id: 'ca' })), a, 'another object, same id and peer')
  assert.equal(table.find(new TestConnection({ peer: 'pa', id: 'other' })), undefined, 'the peer is connected, but not by that id')
  assert.equal(table.find({ id: 'cb' } as unknown as Connection), b, 'an id alone')
  table.remove(b)
  assert.equal(table.find(b.conn), undefined, 'a removed connection answers nothing, by its object')
  assert.equal(table.find({ id: 'cb' } as unknown as Connection), undefined, 'nor by its id')
  assert.equal(table.find(new TestConnection({ peer: 'pb', id: 'cb' })), undefined, 'nor by its peer')
})

test('a trimmed connection reported disconnected later changes nothing, and the same object may connect again', async () => {
  const clock = new ManualClock()
  const m = createConnectionManager({ dial: async () => await new Promise<never>(() => {}), lowWater: 2, highWater: 4, gracePeriod: 0, clock })
  const conns = Array.from({ length: 6 }, (_, i) => new TestConnection({ peer: `p${i}`, id: `c${i}` }))
  for (const c of conns) m.connected(c)
  await m.trim()
  assert.equal(m.stats().connections, 2)
  const trimmed = conns.filter((c) => c.closed)
  assert.equal(trimmed.length, 4)
  for (const c of trimmed) m.disconnected(c)
  assert.equal(m.stats().connections, 2)
  // The transport may hand the same object again (a test transport reconnecting): it is a new connection.
  const again = trimmed[0]
  again.closed = false
  assert.equal(m.connected(again), true)
  assert.equal(m.stats().connections, 3)
  // Another object with the id of an accounted connection is the same connection (a repeated notification).
  assert.equal(m.connected(new TestConnection({ peer: again.peer, id: again.id })), true)
  assert.equal(m.stats().connections, 3)
  m.disconnected({ id: again.id } as unknown as Connection)
  assert.equal(m.stats().connections, 2)
  await m.close()
})

test('the connection table refills the room its squeeze left, and gives it back once it uses less than a quarter', () => {
  const byPeer = new Map<string, ConnEntry>()
  const table = new ConnectionTable((peer) => byPeer.get(peer))
  const room = (): number => (table as unknown as { slots: unknown[] }).slots.length
  const steady = Array.from({ length: 100 }, (_, i) => entryOf(`s${i}`, `s${i}`))
  for (const e of steady) table.add(e)
  // A churn at a steady count: each round adds one and removes it, squeezing every so often.
  let last: ConnEntry | undefined
  for (let i = 0; i < 1000; i++) {
    last = entryOf(`c${i}`, `c${i}`)
    table.add(last)
    table.remove(last)
  }
  assert.equal(table.size, 100)
  assert.ok(room() <= 300, `the array does not grow with the churn (${room()} slots)`)
  assert.deepEqual([...table.values()], steady, 'the order survives the squeezes')
  assert.deepEqual(steady.map((e) => e.slot), steady.map((_, i) => i))
  assert.equal(table.find(last!.conn), undefined)
  assert.equal(table.find({ id: 'c999' } as unknown as Connection), undefined, 'a removed id is not found in the room past the end')
  // Down to 10 of 100: the next squeeze gives most of the array back, and the table still works.
  for (const e of steady.slice(10)) table.remove(e)
  const late = entryOf('late', 'late')
  table.add(late)
  assert.ok(room() < 100, `the room shrinks once it is mostly unused (${room()} slots)`)
  assert.deepEqual([...table.values()], [...steady.slice(0, 10), late])
  assert.equal(table.find({ id: 'late' } as unknown as Connection), late)
  assert.equal(late.slot, 10)
})

test('the read-ahead of a trim\'s victims changes nothing: the table, the entries and the records stay as they were, and a victim without a connection is passed over', () => {
  const byPeer = new Map<string, ConnEntry>()
  const table = new ConnectionTable((peer) => byPeer.get(peer))
  const entries = Array.from({ length: 10 }, (_, i) => entryOf(`p${i}`, `c${i}`))
  for (const e of entries) { e.record.conn = e; table.add(e) }
  const gone = new PeerRecord('gone', 'gone', 0) // closed meanwhile: no entry
  const victims = [entries[3].record, gone, entries[7].record]
  table.readAhead(victims)
  assert.equal(table.size, 10)
  assert.deepEqual([...table.values()], entries)
  assert.deepEqual(entries.map((e) => e.slot), entries.map((_, i) => i))
  assert.equal(gone.conn, undefined)
  for (const e of entries) assert.equal(e.record.conn, e)
})
