import assert from 'node:assert/strict'
import test from 'node:test'
import type { SecureStream } from '../../src/node/secure-stream.js'
import { budgetWrites, WRITE_STALL_MS } from '../../src/node/write-budget.js'

/** A stream whose socket queues every write until `read(n)` takes n bytes of it. */
function fakeStream (): { stream: SecureStream; read: (n: number) => void } {
  const socket = { writableLength: 0, bytesWritten: 0 }
  const stream = {
    socket,
    write (data: Uint8Array): boolean {
      socket.writableLength += data.length
      socket.bytesWritten += data.length
      return socket.writableLength < 256 * 1024
    }
  } as unknown as SecureStream
  return { stream, read: (n) => { socket.writableLength -= Math.min(n, socket.writableLength) } }
}

const MiB = 1024 * 1024

test('write budget: a slow reader may hold the queue above the budget; one that reads nothing for WRITE_STALL_MS is over; 4x the budget is over at once', () => {
  let now = 0
  const trips: number[] = []
  // A slow reader: 3 MiB queued against a 1 MiB budget, but it takes some every second.
  const slow = fakeStream()
  budgetWrites(slow.stream, MiB, (q) => { trips.push(q) }, () => now)
  for (let s = 0; s < 10; s++) {
    slow.stream.write(new Uint8Array(512 * 1024))
    slow.read(256 * 1024)
    now += 1000
  }
  assert.equal(trips.length, 0, 'a remote that keeps reading is never closed')

  // A remote that reads nothing: above the budget, then stalled for WRITE_STALL_MS.
  now = 0
  const dead = fakeStream()
  budgetWrites(dead.stream, MiB, (q) => { trips.push(q) }, () => now)
  dead.stream.write(new Uint8Array(MiB + 1))
  now += WRITE_STALL_MS - 1
  dead.stream.write(new Uint8Array(1024))
  assert.equal(trips.length, 0, 'not before WRITE_STALL_MS')
  now += 1
  dead.stream.write(new Uint8Array(1024))
  assert.equal(trips.length, 1)
  dead.stream.write(new Uint8Array(1024))
  assert.equal(trips.length, 1, 'once')

  // Past 4x the budget: at once, read or not.
  now = 0
  trips.length = 0
  const burst = fakeStream()
  budgetWrites(burst.stream, MiB, (q) => { trips.push(q) }, () => now)
  for (let i = 0; i < 5; i++) burst.stream.write(new Uint8Array(MiB))
  assert.equal(trips.length, 1)
  assert.ok(trips[0]! > 4 * MiB)
})
