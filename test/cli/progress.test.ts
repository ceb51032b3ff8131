import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Progress, progressText } from '../../src/cli/progress.js'

// The simulation's progress, on a fake wall clock.

test('the progress line: bar, virtual minutes (seconds within the first), share, events per second and the time left at that pace', () => {
  assert.equal(progressText({ done: 150_000, total: 600_000, events: 20_000, elapsed: 10_000 }, 8), '[##......] 2.5/10 virtual min (25%) · 2,000 events/s · ETA 0:30')
  assert.equal(progressText({ done: 0, total: 600_000, events: 0, elapsed: 0 }, 0), '0.000 s/10 virtual min (0%) · 0 events/s · ETA ?')
  // 100,000 nodes spend their first minutes of wall time within the first 0.1 virtual s: milliseconds show it moving.
  assert.equal(progressText({ done: 43, total: 180_000, events: 10, elapsed: 40_000 }, 0), '0.043 s/3 virtual min (0%) · 0 events/s · ETA ?')
  assert.equal(progressText({ done: 120_000, total: 6_000_000, events: 10, elapsed: 40_000 }, 0), '2.0/100 virtual min (2%) · 0 events/s · ETA 32:40')
  // Bug: 100,000 nodes printed 'ETA 172:41:02' in their first virtual second (bootstrap is the slow part).
  assert.equal(progressText({ done: 1_000, total: 180_000, events: 10, elapsed: 40_000 }, 0), '1.0 s/3 virtual min (0%) · 0 events/s · ETA ?')
})

test('on a terminal the bar is redrawn in place at most every 100 ms and cleared at the end; elsewhere a plain line every 5 s', () => {
  let now = 0
  const tty: string[] = []
  const bar = new Progress({ write: (t) => tty.push(t), tty: true, now: () => now, width: 4 })
  bar.update(60_000, 120_000, 100)
  now = 50
  bar.update(70_000, 120_000, 200)
  assert.equal(tty.length, 1, 'one redraw within 100 ms')
  assert.match(tty[0], /^\r\[##\.\.\] 1\.0\/2 virtual min \(50%\)/)
  now = 150
  bar.update(120_000, 120_000, 300)
  assert.equal(tty.length, 2)
  bar.done()
  assert.match(tty[2], /^\r +\r$/, 'cleared')

  now = 0
  const plain: string[] = []
  const lines = new Progress({ write: (t) => plain.push(t), tty: false, now: () => now })
  for (let ms = 0; ms <= 12_000; ms += 500) { now = ms; lines.update(ms * 10, 600_000, ms) }
  assert.equal(plain.length, 3, 'at 0, 5 and 10 s')
  for (const l of plain) assert.match(l, /^[\d.]+( s)?\/10 virtual min .* ETA .*\n$/)
  lines.done()
  assert.equal(plain.length, 3, 'nothing to clear')
})
