import assert from 'node:assert/strict'
import { test } from 'node:test'
import { discoveryKey } from '../../src/node/discovery.js'
import { RELAY_TOPIC, RelayTopic, relayTopicRole, WANTED_RELAYS } from '../../src/node/relay-topic.js'
import { until } from '../helpers/wait.js'
import { testNode } from '../helpers/nodes.js'

test('the relay topic role: a relay serves it unless found private; a private node seeks it; the others stay out', () => {
  assert.equal(relayTopicRole(true, 'unknown'), 'serve')
  assert.equal(relayTopicRole(true, 'public'), 'serve')
  assert.equal(relayTopicRole(true, 'private'), 'seek')
  assert.equal(relayTopicRole(false, 'private'), 'seek')
  assert.equal(relayTopicRole(false, 'public'), 'none')
  assert.equal(relayTopicRole(false, 'unknown'), 'none')
})

test('the relay topic is joined announced without a quota to serve, hidden and looked up with a quota of WANTED_RELAYS to seek, and left when neither', async () => {
  const calls: string[] = []
  const topic = new RelayTopic({
    join: async (t, opts, service) => { calls.push(`join ${t} announce=${String(opts.announce)} lookup=${String(opts.lookup)} quota=${service.quota} hidden=${String(service.hidden)}`) },
    leave: async (t) => { calls.push(`leave ${t}`) }
  })
  const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }
  topic.update(true, 'unknown')
  await settle()
  topic.update(true, 'private')
  await settle()
  topic.update(false, 'public')
  await settle()
  topic.update(false, 'public')
  await settle()
  assert.deepEqual(calls, [
    `join ${RELAY_TOPIC} announce=true lookup=false quota=0 hidden=false`,
    `leave ${RELAY_TOPIC}`,
    `join ${RELAY_TOPIC} announce=false lookup=true quota=${WANTED_RELAYS} hidden=true`,
    `leave ${RELAY_TOPIC}`
  ])
})

test('a private node finds a relay only through the relay topic and reserves with it, never told its address; its manager keeps a relay quota', { timeout: 30_000 }, async (t) => {
  const relay = await testNode(t, { relay: true })
  const helpers = await Promise.all([0, 1, 2].map(async () => await testNode(t)))
  // The relay is known to one helper only: it dialled it.
  await relay.manager.connectNow(helpers[0]!.addresses[0]!)
  await until(() => helpers[0]!.manager.getPeer(relay.id)?.topics.includes(discoveryKey(RELAY_TOPIC)) === true, 5000, 'the helper to learn the relay declares the relay topic')
  // Listening on 127.0.0.2, dialling out from 127.0.0.1: the helpers dial back 127.0.0.1 and find nobody.
  const hidden = await testNode(t, { listen: ['tcp://127.0.0.2:0'], dialBack: {} })
  for (const h of helpers) await hidden.manager.connectNow(h.addresses[0]!)
  await until(() => hidden.stats().reachability === 'private', 15_000, () => `the node to find itself private (${hidden.stats().reachability})`)
  await until(() => hidden.stats().relaysHeld === 1, 15_000, () => `a reservation with the relay found through the topic (held ${hidden.stats().relaysHeld})`)
  assert.equal(relay.stats().relayReservations, 1)
  assert.deepEqual(hidden.advertised, [`${relay.addresses[0]!}/relay/${relay.id}`])
  const quota = hidden.stats().topics.find((q) => q.topic === discoveryKey(RELAY_TOPIC))
  assert.equal(quota?.min, WANTED_RELAYS)
  assert.equal(quota?.connected, 1)
  // Hidden: the private node does not declare the relay topic, so nobody hands it out as a relay.
  await until(() => helpers[1]!.manager.getPeer(hidden.id) !== undefined, 5000, 'the helper to know the private node')
  assert.equal(helpers[1]!.manager.getPeer(hidden.id)!.topics.includes(discoveryKey(RELAY_TOPIC)), false)
  // A peer that is told only the relayed address reaches the private node through the relay.
  const dialer = await testNode(t)
  dialer.manager.addPeers([{ id: hidden.id, addresses: hidden.advertised }])
  const conn = await dialer.manager.connectNow(hidden.id)
  assert.equal(conn.peer, hidden.id)
})
