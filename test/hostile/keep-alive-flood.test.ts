import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeConnection } from '../../src/node/connection.js'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { sleep, until } from '../helpers/wait.js'

// Keep-alives are empty authenticated frames. A peer sending them as fast as it can costs the
// receiver one decryption each (as much as the sender's encryption) and must cost nothing more: no
// answer per frame (a dialer answers at most once per keepAlive / 2 without writing), no timer
// re-armed per frame (the liveness sweep only reads lastRead).

const FLOOD = 20_000

/** Sends `FLOOD` keep-alives on `send`, 500 a turn of the event loop. */
async function flood (send: () => void): Promise<void> {
  for (let sent = 0; sent < FLOOD; sent += 500) {
    for (let i = 0; i < 500; i++) send()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

test('a listener flooding the node (its dialer) with 20,000 keep-alives gets at most one answer per keepAlive / 2 without writing, and the node still serves', { timeout: 60_000 }, async (t) => {
  // keepAlive 1 s: the victim, as the dialer, answers a keep-alive when it wrote nothing for 500 ms.
  const victim = await testNode(t, { keepAlive: 1000, deadTimeout: 10_000 })
  const rogue = await testNode(t)
  let conn: NodeConnection | undefined
  rogue.protocol('keep-alive-flood', (c) => { conn ??= c })
  await victim.manager.connectNow(`${rogue.addresses[0]!}#${rogue.id}`)
  await until(() => conn !== undefined, 10_000, 'the rogue to see the connection')
  const stream = conn!.stream
  let answers = 0
  const listener = stream.keepAliveListener
  stream.keepAliveListener = { heard: () => { answers++; listener?.heard() } }
  // Idle for 600 ms: the first keep-alive of the flood is answered (the path works).
  await sleep(600)
  const started = Date.now()
  await flood(() => { stream.keepAlive() })
  await until(() => answers >= 1, 10_000, 'the victim to answer the first keep-alive')
  await sleep(500)
  const seconds = (Date.now() - started) / 1000
  console.log(`${FLOOD} keep-alives in ${seconds.toFixed(1)} s: ${answers} answered`)
  // One answer per 500 ms without writing at most (the victim's own keep-alives come after 5.5 s).
  assert.ok(answers <= Math.ceil(seconds / 0.5) + 1, `${answers} answers in ${seconds} s`)
  assert.equal(victim.manager.getPeer(rogue.id)?.connected, true, 'keep-alives are no reason to close')
  const honest = await testNode(t)
  assert.equal((await honest.manager.connectNow(victim.addresses[0]!)).peer, victim.id)
})

test('a dialer flooding the node (its listener) with 20,000 keep-alives gets no answer, and the node still serves', { timeout: 60_000 }, async (t) => {
  const victim = await testNode(t)
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  await until(() => victim.manager.getPeer(a.id)?.connected === true, 10_000, 'the victim to accept the attacker')
  let answers = 0
  a.stream.keepAliveListener = { heard: () => { answers++ } }
  const started = Date.now()
  await flood(() => { a.stream.keepAlive() })
  assert.ok(await a.ping('00'.repeat(32), 20_000), 'the victim read the flood and answers a lookup')
  const seconds = (Date.now() - started) / 1000
  console.log(`${FLOOD} keep-alives in ${seconds.toFixed(1)} s: ${answers} keep-alives from the victim`)
  // The listener sends its own keep-alive only after keepAlive (9 s) without writing.
  assert.ok(answers <= Math.floor(seconds / 9), `${answers} keep-alives from the victim in ${seconds} s`)
  const honest = await testNode(t)
  assert.equal((await honest.manager.connectNow(victim.addresses[0]!)).peer, victim.id)
})

test('a dialer that goes silent after its handshake (it answers no keep-alive, sends nothing) is closed by the node after deadTimeout', { timeout: 60_000 }, async (t) => {
  const victim = await testNode(t, { keepAlive: 500, deadTimeout: 2000 })
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  await until(() => victim.manager.getPeer(a.id)?.connected === true, 10_000, 'the victim to accept the attacker')
  let heard = 0
  a.stream.keepAliveListener = { heard: () => { heard++ } }
  const started = Date.now()
  await until(() => a.closed, 30_000, 'the victim to close the silent attacker')
  console.log(`closed after ${Date.now() - started} ms (deadTimeout 2000), ${heard} keep-alives sent to it meanwhile`)
  assert.ok(heard >= 1, 'the victim sent keep-alives while it waited')
  await until(() => victim.manager.getPeer(a.id)?.connected !== true, 10_000, 'the victim to forget the connection')
})
