import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import c from 'compact-encoding'
import { defineSchema } from '../../src/mesh/index.js'
import { STATUS_PROTOCOL } from '../../src/mesh/registry-status.js'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { decodeControl, fitControl, type ControlMessage } from '../../src/node/control-wire.js'
import { discoveryKey, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { RELAY_PROTOCOL } from '../../src/node/relay-wire.js'
import { SMALL_JSON_BYTES } from '../../src/node/wire.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'
import { addressOf, disconnections, handMade, meshNode, protocolErrors, registry, REGISTRY_PROTOCOL, RPC_PROTOCOL, tempDir } from '../mesh/hostile-peers.js'

// Messages cheap to send and dear to parse. JSON.parse of 8 MiB of nested arrays ('[[[…]]]') held
// the victim's event loop for 3.5 s (measured here on a loaded 2-core machine), against a few
// milliseconds for the attacker to send, and every channel a stranger reaches parsed whatever
// arrived, up to the transport's 16 MiB frame: one IP opening its 10 connections a second kept a
// node frozen. Now every channel whose honest messages are small refuses a message over
// SMALL_JSON_BYTES by its length prefix, before parsing it. Each test checks, by watching
// JSON.parse in this process (the victim runs here), that no text over the budget was parsed.

const T = { timeout: 60_000 }
const BIG = 8 * 1024 * 1024
const cenc = c as unknown as { encode (codec: unknown, v: unknown): Uint8Array }

/** `bytes` of nested arrays, as a length-prefixed JSON text (what every JSON codec here reads). */
function nested (bytes: number): Uint8Array {
  const half = Math.floor(bytes / 2)
  return cenc.encode(c.string, '['.repeat(half) + ']'.repeat(half))
}

/**
 * Runs `attack` while watching JSON.parse and the event loop: the longest text parsed (asserted by
 * the tests) and the longest pause of the loop (printed only: speed is never asserted).
 */
async function watched (what: string, attack: () => Promise<void>): Promise<{ longestParsed: number }> {
  const parse = JSON.parse
  let longestParsed = 0
  JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
    longestParsed = Math.max(longestParsed, text.length)
    return parse(text, reviver)
  }) as typeof JSON.parse
  let last = performance.now()
  let pause = 0
  const timer = setInterval(() => { const now = performance.now(); pause = Math.max(pause, now - last); last = now }, 1)
  try {
    await attack()
  } finally {
    JSON.parse = parse
    clearInterval(timer)
  }
  console.log(`${what}: longest text parsed ${longestParsed} characters, longest event-loop pause ${Math.round(pause)} ms`)
  return { longestParsed }
}

async function attacker (t: TestContext, victim: PeerNode): Promise<Attacker> {
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  return a
}

async function stillServes (t: TestContext, victim: PeerNode): Promise<void> {
  const honest = await testNode(t)
  assert.equal((await honest.manager.connectNow(victim.addresses[0]!)).peer, victim.id)
}

test('a control message of 8 MiB of nested JSON is refused by its length, never parsed (it held the event loop for 3.5 s); the node still serves', T, async (t) => {
  const victim = await testNode(t)
  const errors: Array<{ peer: string; reason: string }> = []
  victim.events.addEventListener('protocol:error', (e) => { errors.push(e.detail) })
  const a = await attacker(t, victim)
  const { longestParsed } = await watched('control channel', async () => {
    a.channel(CONTROL_PROTOCOL).raw(0, nested(BIG))
    await until(() => a.closed, 30_000, 'the victim to close the attacker')
  })
  assert.ok(longestParsed <= SMALL_JSON_BYTES, `parsed ${longestParsed} characters`)
  assert.match(errors.find((e) => e.peer === a.id)?.reason ?? '', /8388608 bytes of JSON \(at most 262144 on this channel; not parsed\)/)
  await stillServes(t, victim)
})

test('the largest honest referral (32 peers of 8 addresses of 256 characters) fits the control channel\'s budget and is read', T, async (t) => {
  const victim = await testNode(t)
  const a = await attacker(t, victim)
  const address = (i: number, j: number): string => `tcp://10.${i}.${j}.1:${'4'.repeat(256 - 'tcp://10.00.0.1:'.length)}`.slice(0, 256)
  const peers = Array.from({ length: 32 }, (_, i) => ({ id: (i + 1).toString(16).padStart(64, '0'), addresses: Array.from({ length: 8 }, (_, j) => address(i, j)) }))
  const pex: ControlMessage = { t: 'pex', topic: discoveryKey('parse-budget'), peers }
  assert.ok(decodeControl(JSON.parse(JSON.stringify(pex))).ok, 'the referral decodes')
  a.control(pex)
  assert.equal(await a.ping(discoveryKey('parse-budget')), true, 'the victim read the referral and still answers')
  assert.equal(a.closed, false)
})

test('what a node refers is cut to the control channel\'s budget: 32 peers of 8 addresses of 256 escaped characters are halved until they fit', () => {
  const escaped = '\u0001'.repeat(256) // 6 bytes of JSON each
  const peers = Array.from({ length: 32 }, (_, i) => ({ id: (i + 1).toString(16).padStart(64, '0'), addresses: Array.from({ length: 8 }, () => escaped) }))
  const big: ControlMessage = { t: 'peers', id: 1, topic: discoveryKey('fit'), peers }
  assert.ok(Buffer.byteLength(JSON.stringify(big)) > SMALL_JSON_BYTES, 'over the budget as made')
  const fitted = fitControl(big)
  assert.equal(fitted.t, 'peers')
  assert.ok(Buffer.byteLength(JSON.stringify(fitted)) <= SMALL_JSON_BYTES)
  assert.equal((fitted as typeof big).peers.length, 16)
  const small: ControlMessage = { t: 'pex', topic: discoveryKey('fit'), peers: peers.slice(0, 2).map((p) => ({ ...p, addresses: ['tcp://10.0.0.1:4001'] })) }
  assert.equal(fitControl(small), small, 'an ordinary referral is sent as it is')
})

test('a relay channel message of 8 MiB of nested JSON is refused unparsed; the relay still serves', T, async (t) => {
  const victim = await testNode(t, { relay: true } satisfies NodeOptions)
  const errors: Array<{ peer: string; reason: string }> = []
  victim.events.addEventListener('protocol:error', (e) => { errors.push(e.detail) })
  const a = await attacker(t, victim)
  a.channel(CONTROL_PROTOCOL) // a connection without its control channel is dropped
  const relay = a.channel(RELAY_PROTOCOL)
  await until(() => relay.opened, 5000, 'the relay channel to open')
  const { longestParsed } = await watched('relay channel', async () => {
    relay.raw(0, nested(BIG))
    await until(() => a.closed, 30_000, 'the relay to close the attacker')
  })
  assert.ok(longestParsed <= SMALL_JSON_BYTES, `parsed ${longestParsed} characters`)
  assert.match(errors.find((e) => e.peer === a.id)?.reason ?? '', /not parsed/)
  await stillServes(t, victim)
})

const farm = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: (args?: unknown) => args } } }
})

test('a stranger\'s 8 MiB of nested JSON to a mesh node — as its RPC handshake, or right after a small one — and to a registry\'s registration and status channels is never parsed; the mesh still answers', T, async (t) => {
  const reg = await registry(t, { schema: farm, dataDir: tempDir(t, 'pw-parse-budget-'), open: true })
  const worker = await meshNode(t, { schema: farm, role: 'Worker', variant: 'w1', registry: reg.addresses[0], handlers: { work: (args: unknown) => args } })
  const caller = await meshNode(t, { schema: farm, role: 'Caller', variant: 'c1', registry: reg.addresses[0] })
  await until(() => caller.instances('Worker').length === 1, 8000, 'the caller to list the worker')
  const workerErrors = protocolErrors(worker.node)
  const cases: Array<{ what: string; protocol: string; target: string; victim: string; opts: Parameters<typeof handMade>[2] }> = [
    { what: 'RPC handshake', protocol: RPC_PROTOCOL, target: addressOf(worker), victim: worker.id, opts: { handshake: () => nested(BIG) } },
    { what: 'RPC call after a handshake without a certificate', protocol: RPC_PROTOCOL, target: addressOf(worker), victim: worker.id, opts: { handshake: () => ({}), initial: () => [nested(BIG)] } },
    { what: 'registration', protocol: REGISTRY_PROTOCOL, target: reg.addresses[0]!, victim: reg.id, opts: { initial: () => [nested(BIG)] } },
    { what: 'status request', protocol: STATUS_PROTOCOL, target: reg.addresses[0]!, victim: reg.id, opts: { initial: () => [nested(BIG)] } }
  ]
  for (const { what, protocol, target, victim, opts } of cases) {
    const a = await handMade(t, protocol, opts)
    const gone = disconnections(a.node)
    const { longestParsed } = await watched(what, async () => {
      await a.node.manager.connectNow(target).catch(() => {})
      await until(() => gone.some((d) => d.peer === victim), 30_000, `${what}: the victim to close the stranger`)
    })
    assert.ok(longestParsed <= SMALL_JSON_BYTES, `${what}: parsed ${longestParsed} characters`)
  }
  assert.ok(workerErrors.every((e) => !/not JSON/.test(e.reason)))
  assert.deepEqual(await caller.call.Worker.work({ i: 1 }, { timeout: 5000 }), { i: 1 })
})
