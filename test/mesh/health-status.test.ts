import assert from 'node:assert/strict'
import { test } from 'node:test'
import { issue } from '../../src/mesh/certificate.js'
import { defineSchema, type MemberStatus } from '../../src/mesh/index.js'
import { loadIdentity } from '../../src/node/identity.js'
import { MAX_HEALTH_BREAKERS } from '../../src/mesh/messages.js'
import { until } from '../helpers/wait.js'
import { addressOf, disconnections, handMade, meshNode, registry, REGISTRY_PROTOCOL } from './hostile-peers.js'

// Real sockets on 127.0.0.1: mesh nodes report their health (draining, breakers not closed) to the
// registry, which shows it in its status; a malformed report closes only its sender's connection.

const T = { timeout: 30_000 }

let release: () => void = () => {}
const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Api'],
    _commands: {
      _balanced: {
        ok: () => 1,
        boom: () => { throw new Error('boom') },
        slow: async () => { await new Promise<void>((resolve) => { release = resolve }); return 2 }
      }
    }
  }
})

const of = (reg: { status: () => MemberStatus[] }, peer: string): MemberStatus | undefined => reg.status().find((m) => m.peer === peer)

test('a node that drains is shown draining in the registry\'s status until it leaves', T, async (t) => {
  const reg = await registry(t, { schema, open: true })
  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  const api = await meshNode(t, { schema, role: 'Api', registry: reg.addresses[0] })
  await api.ready('Worker', { timeout: 5000 })
  assert.equal(of(reg, worker.id)?.health, undefined, 'up with no breaker: no report')

  const call = api.call.Worker.slow()
  await until(() => worker.stats().running === 1, 5000, 'the slow call to run')
  const drained = worker.drain({ timeout: 10_000 })
  await until(() => of(reg, worker.id)?.health?.draining === true, 5000, () => `the registry to show w1 draining (${JSON.stringify(of(reg, worker.id))})`)
  release()
  assert.equal(await call, 2)
  await drained
  await until(() => of(reg, worker.id) === undefined, 5000, 'the drained worker to leave')
})

test('a caller whose breaker opens against a worker reports it; the registry\'s status shows it', T, async (t) => {
  const reg = await registry(t, { schema, open: true })
  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  const api = await meshNode(t, { schema, role: 'Api', registry: reg.addresses[0], breaker: { minRequestCount: 2, threshold: 0.5, halfOpenTime: 60_000 } })
  await api.ready('Worker', { timeout: 5000 })
  await api.call.Worker.ok()
  assert.equal(of(reg, api.id)?.health, undefined, 'closed breakers are not reported')
  await assert.rejects(api.call.Worker.boom())
  assert.deepEqual(api.stats().breakers.map((b) => b.state), ['open'])
  await until(() => of(reg, api.id)?.health !== undefined, 5000, 'the caller\'s report to reach the registry')
  assert.deepEqual(of(reg, api.id)?.health, { draining: false, breakers: [{ peer: worker.id, state: 'open' }] })
  assert.equal(of(reg, worker.id)?.health, undefined)
})

test('a malformed health report closes only its sender\'s connection (\'protocol\'); a report from a non-member is ignored; the registry stays up', T, async (t) => {
  const reg = await registry(t, { schema, open: true })
  const bad = [
    { t: 'health', draining: 'yes', breakers: [] },
    { t: 'health', draining: false, breakers: [{ peer: 'not-a-peer-id', state: 'open' }] },
    { t: 'health', draining: false, breakers: [{ peer: 'a'.repeat(64), state: 'closed' }] },
    { t: 'health', draining: false, breakers: Array.from({ length: MAX_HEALTH_BREAKERS + 1 }, (_, i) => ({ peer: i.toString(16).padStart(64, '0'), state: 'open' })) },
    { t: 'health', draining: false }
  ]
  for (const report of bad) {
    const attacker = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'register', role: 'Worker', variant: 'x' }, report] })
    const gone = disconnections(attacker.node)
    await attacker.node.manager.connectNow(reg.addresses[0]).catch(() => {})
    await until(() => gone.some((d) => d.peer === reg.id), 5000, `the registry to close the connection of ${JSON.stringify(report).slice(0, 80)}`)
    assert.equal(gone.find((d) => d.peer === reg.id)!.reason, 'protocol')
  }
  // A well-formed report before registering is ignored: the connection stays, and no member carries it.
  const early = await handMade(t, REGISTRY_PROTOCOL, { initial: () => [{ t: 'health', draining: true, breakers: [] }, { t: 'register', role: 'Worker', variant: 'early' }] })
  await early.node.manager.connectNow(reg.addresses[0])
  await until(() => of(reg, early.node.id) !== undefined, 5000, 'the early node to register')
  assert.equal(of(reg, early.node.id)?.health, undefined)

  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: reg.addresses[0] })
  const api = await meshNode(t, { schema, role: 'Api', registry: reg.addresses[0] })
  await api.ready('Worker', { timeout: 5000 })
  assert.ok(of(reg, worker.id) !== undefined)
  assert.ok(of(reg, api.id) !== undefined)
})

test('a registry that does not say it takes reports (an older one) is sent none: its connection stays up while the node drains', T, async (t) => {
  const reg = await registry(t, { schema, open: true })
  // The older registry, by hand: it signs the registration and answers without `health`.
  const seed = new Uint8Array(32).fill(7)
  const { secretKey } = loadIdentity({ seed })
  const old = await handMade(t, REGISTRY_PROTOCOL, {
    seed,
    onMessage: (msg, ch) => {
      const m = msg as { t?: string; role?: string; variant?: string }
      if (m.t !== 'register') return
      const cert = issue(secretKey, { role: m.role!, variant: m.variant!, peer: ch.conn.peer, registry: old.node.id, expires: Date.now() + 600_000 })
      ch.send({ t: 'registered', cert, directory: [] })
    }
  })
  const oldGone = disconnections(old.node)
  const worker = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registries: [reg.addresses[0], addressOf({ node: old.node, id: old.node.id })] })
  const api = await meshNode(t, { schema, role: 'Api', registry: reg.addresses[0] })
  await api.ready('Worker', { timeout: 5000 })
  await until(() => old.channels.some((c) => c.heard.length > 0), 5000, 'the worker to register with the older registry')

  const call = api.call.Worker.slow()
  await until(() => worker.stats().running === 1, 5000, 'the slow call to run')
  const drained = worker.drain({ timeout: 10_000 })
  await until(() => of(reg, worker.id)?.health?.draining === true, 5000, 'the newer registry to show w1 draining')
  release()
  await call
  await drained
  await until(() => oldGone.some((d) => d.peer === worker.id), 5000, 'the worker to leave the older registry')
  assert.equal(oldGone.find((d) => d.peer === worker.id)!.reason !== 'protocol', true)
  assert.deepEqual([...new Set(old.channels.flatMap((c) => c.heard.map((m) => (m as { t: string }).t)))], ['register'])
})
