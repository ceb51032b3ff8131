import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Cells, PLAIN_CELLS } from '../../src/manager/cells.js'
import { xorshift } from '../../src/testing/simulation.js'

test('cells: arrays come zeroed, of the length asked for, aligned, and never overlap while held — through 20,000 random takes and releases checked against plain arrays', () => {
  const cells = new Cells()
  const random = xorshift(11)
  const held: Array<{ a: Int32Array | Float64Array; ref: number[] }> = []
  for (let step = 0; step < 20_000; step++) {
    if (held.length > 0 && random() < 0.45) {
      const i = Math.floor(random() * held.length)
      const { a, ref } = held[i]
      assert.deepEqual([...a], ref, 'what was written is still there: no other array shares its cells')
      cells.release(a)
      held.splice(i, 1)
      continue
    }
    const n = 1 + Math.floor(random() ** 3 * 5000)
    const a = random() < 0.5 ? cells.int32(n) : cells.float64(n)
    assert.equal(a.length, n)
    assert.equal(a.byteOffset % 8, 0)
    assert.ok(a.every((x) => x === 0), 'a taken array is zeroed, even when it was released dirty')
    const ref: number[] = []
    for (let j = 0; j < n; j++) { a[j] = step + j; ref.push(a[j]) }
    held.push({ a, ref })
  }
  for (const { a, ref } of held) assert.deepEqual([...a], ref)
})

test('cells: a released array is reused for the next of its size class, of either type; large ones have their own buffer', () => {
  const cells = new Cells()
  const a = cells.int32(100) // 400 bytes: the 512-byte class
  const first = { buffer: a.buffer, byteOffset: a.byteOffset }
  cells.release(a)
  const b = cells.float64(60) // 480 bytes: the same class
  assert.equal(b.buffer, first.buffer)
  assert.equal(b.byteOffset, first.byteOffset)
  const big = cells.int32(1 << 20)
  assert.equal(big.buffer.byteLength, 4 << 20, 'an array beyond an eighth of a slab is a buffer of its own')
  const slabs = cells.slabBytes
  cells.release(big)
  cells.int32(1 << 20)
  assert.equal(cells.slabBytes, slabs)
  assert.equal(PLAIN_CELLS.int32(5).buffer.byteLength, 20)
})
