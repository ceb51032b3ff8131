import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineSchema, type MemberStatus } from '../../src/mesh/index.js'
import { until } from '../helpers/wait.js'
import { handMade, meshNode, registry, REGISTRY_PROTOCOL } from '../mesh/hostile-peers.js'

// A member's health report is its own word. What it can claim: that it drains (which only sends
// calls away from itself) and the circuit breakers it holds open against other instances, which the
// registry's status (and `peerwarden mesh status`) shows as "breaker open at N callers" against
// them — what an operator reads before evicting an instance. Before: the registry kept every
// breaker a report named, against any peer: a member whose role calls nobody could accuse every
// instance of the mesh, and any member could accuse members of roles it may not call, or itself.
// Now a breaker is kept only against a current member whose role the reporter's role may call.

const T = { timeout: 30_000 }

const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: { _allow: ['Api'], _commands: { _balanced: { work: () => 1 } } }
})

const of = (reg: { status: () => MemberStatus[] }, peer: string): MemberStatus | undefined => reg.status().find((m) => m.peer === peer)

test('a member\'s health report keeps only breakers against current members of roles it may call: claims against roles it cannot call, unknown peers or itself are dropped and counted', T, async (t) => {
  const reg = await registry(t, { schema, open: true })
  const w1 = await meshNode(t, { schema, role: 'Worker', variant: 'w1', registry: reg.addresses[0]!, handlers: { work: () => 1 } })
  const w2 = await meshNode(t, { schema, role: 'Worker', variant: 'w2', registry: reg.addresses[0]!, handlers: { work: () => 1 } })
  const api = await meshNode(t, { schema, role: 'Api', registry: reg.addresses[0]! })
  await api.ready('Worker', { timeout: 5000 })
  const unknown = 'ab'.repeat(32)
  const liars: Array<{ id: string; registered: boolean }> = []
  for (const role of ['Worker', 'Api']) {
    const me = { id: '', registered: false }
    liars.push(me)
    const node = await handMade(t, REGISTRY_PROTOCOL, {
      initial: () => [{ t: 'register', role, variant: `liar-${role}`, addresses: [] }],
      onMessage: (m, ch) => {
        if ((m as { t?: string })?.t !== 'registered') return
        me.registered = true
        ch.send({ t: 'health', draining: false, breakers: [w1.id, w2.id, api.id, unknown, me.id].sort().map((peer) => ({ peer, state: peer === w2.id ? 'half-open' : 'open' })) })
      }
    })
    me.id = node.node.id
    await node.node.manager.connectNow(reg.addresses[0]!)
    await until(() => me.registered && of(reg, me.id)?.health !== undefined, 5000, `the ${role} liar's report`)
  }
  const [asWorker, asApi] = [liars[0]!, liars[1]!]
  // A Worker calls nobody: every claim is dropped.
  assert.deepEqual(of(reg, asWorker.id)?.health, { draining: false, breakers: [] })
  // An Api calls Workers: its claims against w1 and w2 are kept (unverifiable), the rest dropped.
  assert.deepEqual(of(reg, asApi.id)?.health?.breakers, [{ peer: w1.id, state: 'open' }, { peer: w2.id, state: 'half-open' }].sort((a, b) => a.peer < b.peer ? -1 : 1))
  assert.equal(reg.stats().healthClaimsDropped, 5 + 3)
})
