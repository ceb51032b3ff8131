import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { createNode } from '../../src/node/index.js'
import { ManualClock } from '../../src/testing/index.js'
import { until } from '../helpers/wait.js'

// A node's dial to a listener that takes each socket and closes it at once, as a node over its
// per-IP budgets does (127.0.0.1 is exempt from those, so a plain server plays the refusing node).

test('a node dialling a listener that refuses early tries the same dial again before it reports a failure', { timeout: 20_000 }, async () => {
  let accepted = 0
  const server = net.createServer((s) => { accepted++; s.destroy() })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  const id = 'ab'.repeat(32)
  const node = await createNode({ listen: ['tcp://127.0.0.1:0'], bootstrap: [`tcp://127.0.0.1:${port}#${id}`] })
  try {
    const failure = await new Promise<{ error?: Error }>((resolve) => {
      node.manager.events.addEventListener('dial:failed', (e) => { resolve((e as CustomEvent<{ error?: Error }>).detail) }, { once: true })
    })
    assert.equal(accepted, 3, 'one dial and two retries reached the listener before the manager saw the failure')
    assert.equal((failure.error as { code?: string } | undefined)?.code, 'ERR_DIAL_FAILED')
    assert.equal(node.stats().dials, 1)
  } finally {
    await node.close()
    server.close()
  }
})

/** A ManualClock that remembers the delay of every timer set on it. */
class RecordingClock extends ManualClock {
  readonly delays: number[] = []
  override setTimeout (fn: () => void, ms: number): unknown {
    this.delays.push(ms)
    return super.setTimeout(fn, ms)
  }
}

// Bug: the node's dialer timed its waits on the system clock and Math.random while the rest of the
// node took the manager's clock, so a node in virtual time retried its dials in wall time.
test('a node given a clock and a random times its dial retries on them (virtual time)', { timeout: 20_000 }, async () => {
  let accepted = 0
  const server = net.createServer((s) => { accepted++; s.destroy() })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  const clock = new RecordingClock(0)
  // random() = 0.123: the retry waits 1000 × (0.5 + 0.123) = 623 ms, a delay no other timer of the node uses.
  const node = await createNode({ listen: ['tcp://127.0.0.1:0'], bootstrap: [`tcp://127.0.0.1:${port}#${'ab'.repeat(32)}`], manager: { clock, random: () => 0.123 } })
  try {
    await until(() => clock.delays.includes(623), 10_000, 'the early retry to wait 623 ms on the node\'s clock')
    assert.equal(accepted, 1, 'the retry waits for the clock')
    await clock.advance(623)
    await until(() => accepted === 2, 10_000, 'the retry once the clock moved')
  } finally {
    await node.close()
    server.close()
  }
})
