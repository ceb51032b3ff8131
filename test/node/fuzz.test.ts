import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createNode, discoveryKey, type PeerNode } from '../../src/node/index.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { until } from '../helpers/wait.js'

// Fuzzing a live node's control channel from hostile connections: arbitrary JSON, messages of every
// type with arbitrary fields, and arbitrary bytes on each message of the channel. The property: the
// node never throws (the process would exit), answers or closes, stays within its budgets, and still
// serves an honest peer. PEERWARDEN_FUZZ_RUNS sets the runs per property (default 60);
// PEERWARDEN_FUZZ_SEED replays a failure (the seed is in every failure message).

const RUNS = Number(process.env.PEERWARDEN_FUZZ_RUNS ?? 60)
const SEED = Number(process.env.PEERWARDEN_FUZZ_SEED ?? Date.now() % 2 ** 31)
const KEY = discoveryKey('fuzz')
const TYPES = ['close', 'topics', 'announce', 'unannounce', 'lookup', 'peers', 'pex'] as const

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/)
const address = fc.oneof(
  fc.constant('tcp://127.0.0.1:9'), fc.string(), fc.string({ minLength: 200, maxLength: 400 }),
  fc.integer({ min: 0, max: 70000 }).map((p) => `tcp://127.0.0.1:${p}`), fc.ipV4().map((ip) => `tcp://${ip}:1`), fc.ipV6().map((ip) => `tcp://[${ip}]:1`)
)
const weird = fc.oneof(fc.jsonValue(), fc.constant({ toString: 1 }), fc.constant({ __proto__: null }), fc.constant(Number.MAX_SAFE_INTEGER + 2), fc.constant(-1), fc.constant(1e308))
const field = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: weird })
const peer = fc.record({ id: field(hex64), addresses: field(fc.array(field(address), { maxLength: 10 })) })
const peers = field(fc.array(field(peer), { maxLength: 40 }))
const topic = field(fc.oneof(hex64, fc.constant(KEY)))

/** Messages of every type, each field either well-formed or not. */
const typed: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ t: fc.constant('close'), reason: field(fc.string({ maxLength: 80 })) }),
  fc.record({ t: fc.constant('topics'), topics: field(fc.array(topic, { maxLength: 70 })), announce: field(fc.boolean()) }, { requiredKeys: ['t', 'topics'] }),
  fc.record({ t: fc.constant('announce'), topic, addresses: field(fc.array(field(address), { maxLength: 10 })), ttl: field(fc.nat()) }),
  fc.record({ t: fc.constant('unannounce'), topic }),
  fc.record({ t: fc.constant('lookup'), id: field(fc.nat()), topic }),
  fc.record({ t: fc.constant('peers'), id: field(fc.nat()), topic, peers }),
  fc.record({ t: fc.constant('pex'), topic, peers }),
  fc.record({ t: field(fc.constantFrom(...TYPES)) }),
  fc.jsonValue()
)

/** One victim for the whole file, fuzzed through a connection reopened whenever the victim closes it. */
async function harness (): Promise<{ victim: PeerNode; send: (fn: (a: Attacker) => void) => Promise<void>; close: () => Promise<void> }> {
  const victim = await createNode({ rendezvousLimits: { maxBytes: 256 * 1024 } })
  await victim.join('fuzz')
  let a: Attacker | undefined
  return {
    victim,
    send: async (fn) => {
      if (a === undefined || a.closed) a = await attack(victim.addresses[0]!, { hello: { topics: [KEY], rendezvous: true, listen: ['tcp://127.0.0.1:9'] } })
      fn(a)
      // Answered (processed what came before) or closed: either way, the victim handled it.
      await a.ping(KEY)
    },
    close: async () => { a?.close(); await victim.close() }
  }
}

async function stillServes (victim: PeerNode): Promise<void> {
  const honest = await createNode()
  try {
    const conn = await honest.manager.connectNow(victim.addresses[0]!)
    assert.equal(conn.peer, victim.id)
    await until(() => victim.connections().some((c) => c.peer === honest.id), 5000, 'the victim to account an honest peer')
  } finally {
    await honest.close()
  }
}

async function fuzz (name: string, arb: fc.Arbitrary<unknown>, send: (a: Attacker, v: any) => void): Promise<void> {
  const h = await harness()
  try {
    await fc.assert(fc.asyncProperty(arb, async (v) => { await h.send((a) => { send(a, v) }) }), { numRuns: RUNS, seed: SEED })
    const s = h.victim.stats()
    assert.ok(s.rendezvousBytes <= 256 * 1024, `rendezvous bytes ${s.rendezvousBytes}`)
    assert.ok(s.known < 5000, `known peers ${s.known}`)
    await stillServes(h.victim)
  } catch (err) {
    throw new Error(`${name}: fuzz failed with seed ${SEED} (PEERWARDEN_FUZZ_SEED=${SEED} replays it): ${(err as Error).message}`, { cause: err })
  } finally {
    await h.close()
  }
}

test('fuzz: control messages of every type with arbitrary fields never take a node down', { timeout: 120_000 }, async () => {
  await fuzz('typed', typed, (a, v) => { a.control(v) })
})

test('fuzz: arbitrary JSON on the control channel never takes a node down', { timeout: 120_000 }, async () => {
  await fuzz('json', fc.jsonValue(), (a, v) => { a.control(v) })
})

test('fuzz: arbitrary bytes on each message of the control channel, and on channels nobody serves, never take a node down', { timeout: 120_000 }, async () => {
  const arb = fc.record({ index: fc.nat({ max: 3 }), bytes: fc.uint8Array({ maxLength: 300 }), other: fc.boolean() })
  await fuzz('bytes', arb, (a, v: { index: number; bytes: Uint8Array; other: boolean }) => {
    a.channel(v.other ? 'fuzz/unserved/1' : 'peerwarden/control/3').raw(v.index, v.bytes)
  })
})
