import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { attack, type Attacker } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// A peer floods the topic messages of the control channel: 'topics' (what it joined), repeated or
// flipping, and 'announce' / 'unannounce'. Each 'topics' that names a topic the victim joined is
// answered with a referral ('pex', up to 32 peers of 8 addresses: some 8 KiB) — a few bytes asked,
// kilobytes answered, as often as the peer likes.

const T = { timeout: 30_000 }
const TOPIC = 'topic-floods'
const KEY = discoveryKey(TOPIC)

/** 32 peers announce the topic at the victim, 8 addresses each: its referrals are then some 8 KiB. */
async function fillTopic (t: Parameters<typeof testNode>[0], victim: PeerNode): Promise<void> {
  for (let i = 0; i < 32; i++) {
    const a = await attack(victim.addresses[0]!)
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    a.control({ t: 'announce', topic: KEY, addresses: Array.from({ length: 8 }, (_, k) => `tcp://10.${i}.${k}.1:${4000 + k}`), ttl: 60_000 })
  }
  await until(() => victim.stats().rendezvousRegistrations >= 32, 10_000, 'the victim to register the 32 announcers')
}

/** Referrals the attacker heard. */
const pexes = (a: Attacker): number => a.inbox.filter((m) => (m as { t?: string } | undefined)?.t === 'pex').length

test('a peer flipping its topics to the victim\'s gets a referral per topic it newly joins at most a few times, not one per message', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  await victim.join(TOPIC, { announce: false })
  await fillTopic(t, victim)
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  for (let i = 0; i < 500; i++) {
    a.control({ t: 'topics', topics: [KEY] })
    a.control({ t: 'topics', topics: [] })
  }
  assert.equal(await a.ping(KEY), true, 'the victim answers after the flood')
  const got = pexes(a)
  assert.ok(got >= 1, 'an honest declaration is still answered with a referral')
  assert.ok(got <= 8, `${got} referrals for 1000 'topics' messages`)
})

test('a peer flooding announce / unannounce over 1000 fresh topics holds at most perPeer registrations, and the victim still answers (or closes it for its flips)', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  for (let i = 0; i < 1000; i++) {
    const topic = discoveryKey(`flood-${i}`)
    a.control({ t: 'announce', topic, addresses: ['tcp://127.0.0.1:9'], ttl: 600_000 })
    if (i % 2 === 0) a.control({ t: 'unannounce', topic })
  }
  // Past 256 topics every change is a flip (topic-flips.ts): the flood is closed 'protocol' then.
  assert.equal(await a.ping(KEY) || a.closed, true, 'the victim answers after the flood, or closed it')
  const b = await attack(victim.addresses[0]!)
  t.after(() => { b.close() })
  b.channel(CONTROL_PROTOCOL)
  assert.equal(await b.ping(KEY), true, 'the victim answers another peer')
  const s = victim.stats()
  assert.ok(s.rendezvousRegistrations <= 64, `${s.rendezvousRegistrations} registrations for one peer`)
  assert.ok(s.rendezvousTopics <= 64, `${s.rendezvousTopics} topics held for one peer`)
})

test('a peer flipping announce / unannounce of one topic gets a burst of flips, then they are ignored (counted) and 64 ignored close it (\'protocol\')', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  a.control({ t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.1:9'], ttl: 600_000 })
  a.control({ t: 'unannounce', topic: KEY })
  for (let i = 0; i < 8; i++) a.control(i % 2 === 0 ? { t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.1:9'], ttl: 600_000 } : { t: 'unannounce', topic: KEY })
  assert.equal(await a.ping(KEY), true, 'within the burst')
  const before = victim.stats().rendezvousRefused
  // Past the burst: an announce is ignored (the topic stays withdrawn).
  a.control({ t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.1:9'], ttl: 600_000 })
  assert.equal(await a.ping(KEY), true)
  assert.equal(victim.stats().rendezvousRegistrations, 0, 'the flip past the burst did not register it')
  assert.equal(victim.stats().rendezvousRefused, before + 1, 'counted')
  for (let i = 0; i < 200 && !a.closed; i++) a.control(i % 2 === 0 ? { t: 'unannounce', topic: KEY } : { t: 'announce', topic: KEY, addresses: ['tcp://127.0.0.1:9'], ttl: 600_000 })
  await until(() => a.closed, 5000, 'the victim to close the flipping peer')
  assert.ok(victim.stats().rendezvousRefused >= before + 64)
})

test('a peer asking the same lookup in a loop gets 512 full answers, then empty ones; the victim still answers', T, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  await victim.join(TOPIC, { announce: true, lookup: false })
  await fillTopic(t, victim)
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  const start = Date.now()
  for (let i = 0; i < 600; i++) a.control({ t: 'lookup', id: 1_000_000 + i, topic: KEY })
  assert.equal(await a.ping(KEY), true, 'the victim answers after the flood')
  // The budget refills while the flood arrives: 512 a minute.
  const refilled = Math.ceil((Date.now() - start) * 512 / 60_000)
  const answers = a.inbox.filter((m) => (m as { t?: string; id?: number }).t === 'peers' && (m as { id: number }).id >= 1_000_000 && (m as { id: number }).id < 1_000_600) as Array<{ peers: unknown[] }>
  assert.equal(answers.length, 600, 'every lookup answered')
  const full = answers.filter((m) => m.peers.length > 0).length
  assert.ok(full <= 512 + refilled && full >= 500, `${full} full answers (${refilled} refilled)`)
})
