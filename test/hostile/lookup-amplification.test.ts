import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { ANSWER_BYTES_PER_MINUTE } from '../../src/node/topic-answers.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A lookup is ~100 bytes; its answer is up to 32 peers of 8 addresses (some 35 KB when the addresses
// are long relayed IPv6 ones, which a topic's announcers may well use). The per-asker budget (512 full
// answers a minute) follows the identity, and identities are free: an attacker that takes a fresh
// key per connection (10 connections a second from one IP) had the victim send ~18 MB per connection
// for ~56 KB asked. The answers must follow the source (the asker's IP, its /24 when public) too.

const T = { timeout: 120_000 }
const TOPIC = 'lookup-amplification'
const KEY = discoveryKey(TOPIC)
const RELAY = randomBytes(32).toString('hex')

/** 32 announcers of 8 long relayed IPv6 addresses each: a full answer for the topic is ~35 KB. */
async function fillTopic (t: Parameters<typeof testNode>[0], victim: PeerNode): Promise<void> {
  for (let i = 0; i < 32; i++) {
    const a = await attack(victim.addresses[0]!)
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    const addresses = Array.from({ length: 8 }, (_, k) => `tcp://[2a00:1450:4001:${(0x100 + i).toString(16)}:abcd:ef01:2345:${(0x6000 + k).toString(16)}]:${60000 + k}/relay/${RELAY}`)
    a.control({ t: 'announce', topic: KEY, addresses, ttl: 600_000 })
  }
  await until(() => victim.stats().rendezvousRegistrations >= 32, 10_000, 'the victim to register the 32 announcers')
}

/** JSON bytes of the full lookup answers `a` heard (non-empty `peers` messages). */
function answered (a: Attacker): { full: number; bytes: number } {
  let full = 0
  let bytes = 0
  for (const m of a.inbox) {
    const p = m as { t?: string; peers?: unknown[] } | undefined
    if (p?.t !== 'peers' || (p.peers?.length ?? 0) === 0) continue
    full++
    bytes += Buffer.byteLength(JSON.stringify(p))
  }
  return { full, bytes }
}

test('fresh identities from one IP asking 512 lookups each get the answer bytes of one source budget, not one budget per identity, and an honest peer is still answered', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  await victim.join(TOPIC, { announce: false })
  await fillTopic(t, victim)
  const IDENTITIES = 4
  const LOOKUPS = 512
  let out = 0
  let full = 0
  let asked = 0
  const started = Date.now()
  for (let n = 0; n < IDENTITIES; n++) {
    const a = await attack(victim.addresses[0]!, { localAddress: '127.0.0.2' })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    for (let i = 0; i < LOOKUPS; i++) {
      const msg = { t: 'lookup', id: i, topic: KEY }
      asked += Buffer.byteLength(JSON.stringify(msg))
      a.control(msg)
    }
    assert.equal(await a.ping(KEY, 30_000), true, 'the victim answers the last lookup')
    const got = answered(a)
    out += got.bytes
    full += got.full
    a.close()
  }
  const perAnswer = full > 0 ? out / full : 0
  const refilled = (Date.now() - started) * ANSWER_BYTES_PER_MINUTE / 60_000
  console.log(`${IDENTITIES} identities from 127.0.0.2, ${IDENTITIES * LOOKUPS} lookups (${asked} B of JSON): ${full} full answers, ${out} B (${(out / asked).toFixed(0)}x); ${victim.stats().lookupAnswersRefused} refused`)
  // One source's budget (16 MiB a minute, refilled while the test ran) and at most one answer past it.
  assert.ok(out <= ANSWER_BYTES_PER_MINUTE + refilled + perAnswer, `${out} B of answers to one source`)
  assert.ok(victim.stats().lookupAnswersRefused > 0, 'the refusals are counted')
  // An honest peer (another source) still gets a full answer.
  const honest = await attack(victim.addresses[0]!)
  t.after(() => { honest.close() })
  honest.channel(CONTROL_PROTOCOL)
  honest.control({ t: 'lookup', id: 1, topic: KEY })
  assert.equal(await honest.ping(KEY), true)
  assert.ok(answered(honest).full >= 1, 'the honest peer gets the peers of the topic')
})
