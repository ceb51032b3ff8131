import assert from 'node:assert/strict'
import net from 'node:net'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { test } from 'node:test'
import { loadIdentity } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { NoiseHandshake, staticKeys } from '../../src/node/noise.js'
import { handshakeFrame } from '../../src/node/secure-handshake.js'
import { testNode } from '../helpers/nodes.js'
import { sleep } from '../helpers/wait.js'

// The listener answers a dialer's first handshake message with its own: an ephemeral key pair and
// two X25519 operations (~300–600 µs here). The dialer's first message costs nothing to replay: the
// same 80 bytes on every socket. Per IP (10 sockets a second) and per public /24 (40) the cost is
// small, but nothing bounded it across sources: 100 addresses made the listener do the work 1,000
// times a second, as many as their sockets. Handshakes begun are now budgeted in all too.

const IPS = 100
const SECONDS = 3

/** One socket from `localAddress` that sends `frame` and counts the listener's answer (its first handshake message). */
function knock (port: number, localAddress: string, frame: Buffer, answered: () => void): void {
  const s = net.connect({ host: '127.0.0.1', port, localAddress })
  s.on('error', () => {})
  s.setTimeout(1000, () => { s.destroy() })
  s.once('connect', () => { s.write(frame) })
  s.once('data', () => { answered(); s.destroy() })
}

test('100 addresses replaying a first handshake message at their per-IP rate get at most 8 x maxPendingHandshakes answers a second in all, and a local peer still connects', { timeout: 60_000 }, async (t) => {
  // maxPendingHandshakes 4: 32 handshakes begun a second in all (the test's own sockets cannot make
  // a loaded 2-core machine answer more than a few hundred a second).
  const victim = await testNode(t, { maxPendingHandshakes: 4 })
  const port = Number(victim.addresses[0]!.split(':').at(-1)!.split('#')[0])
  const frame = handshakeFrame(new NoiseHandshake(true, staticKeys(loadIdentity({ seed: 'f'.repeat(64) })), new NetworkKey(undefined).psk).send())
  let answers = 0
  let sockets = 0
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const started = performance.now()
  // Each address opens its 10 sockets of every second, spread over the second.
  for (let tick = 0; tick < SECONDS * 10; tick++) {
    for (let ip = 0; ip < IPS; ip++) {
      sockets++
      knock(port, `127.0.0.${2 + ip}`, frame, () => { answers++ })
    }
    await sleep(100)
  }
  await sleep(1000)
  delay.disable()
  const seconds = (performance.now() - started) / 1000
  const s = victim.stats()
  console.log(`${sockets} sockets from ${IPS} addresses in ${seconds.toFixed(1)} s: ${answers} answered with a handshake message (${(answers / seconds).toFixed(0)}/s); refused for rates ${s.refusedRate}, in all ${s.refusedHandshakeRate}; event loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms, max ${(delay.max / 1e6).toFixed(0)} ms`)
  // 8 x maxPendingHandshakes a second in all, one window's worth at most besides.
  assert.ok(answers <= 32 * (Math.ceil(seconds) + 1), `${answers} handshake answers in ${seconds.toFixed(1)} s`)
  assert.ok(s.refusedHandshakeRate > 0, 'the refusals are counted')
  const honest = await testNode(t)
  assert.equal((await honest.manager.connectNow(victim.addresses[0]!)).peer, victim.id, 'a local peer (127.0.0.1) still connects')
})
