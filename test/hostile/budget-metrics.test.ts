import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { ManagerMetrics, type NodeFigures } from '../../src/dashboard/index.js'
import { CONTROL_PROTOCOL, type NodeConnection } from '../../src/node/connection.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// What the budgets count must reach the operator: a scrape shows each budget's closes by name.

interface Family { name: string; metrics: Array<{ value: string; labels?: Record<string, string> }> }
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

/** The value of `name{budget}` in a scrape. */
function closes (text: string, budget: string): number | undefined {
  const m = parse(text).find((f) => f.name === 'peerwarden_budget_closes_total')?.metrics.find((x) => x.labels?.budget === budget)
  return m === undefined ? undefined : Number(m.value)
}

test('a scrape shows the budget closes by budget: channel-opens, write-queue, receive-bytes, frame-time', async (t) => {
  const node = await testNode(t)
  const figures = (): NodeFigures => ({ ...node.stats(), openBudgetCloses: 3, writeBudgetCloses: 2, receiveBudgetCloses: 5, frameTimeouts: 7 })
  const metrics = new ManagerMetrics(node.manager, { node: { stats: figures, events: node.events } })
  t.after(() => { metrics.close() })
  const body = (await metrics.scrape()).body
  assert.deepEqual(['channel-opens', 'write-queue', 'receive-bytes', 'frame-time'].map((b) => closes(body, b)), [3, 2, 5, 7])
})

test('a peer that trickles a frame past frameTimeout shows in the scrape as a frame-time budget close', { timeout: 30_000 }, async (t) => {
  const victim = await testNode(t, { frameTimeout: 200 })
  const metrics = new ManagerMetrics(victim.manager, { node: victim })
  t.after(() => { metrics.close() })
  assert.equal(closes((await metrics.scrape()).body, 'frame-time'), 0)
  const conns = new Map<string, NodeConnection>()
  victim.events.addEventListener('connection', (e) => { conns.set(e.detail.peer, e.detail.connection as NodeConnection) })
  const a = await attack(victim.addresses[0]!)
  t.after(() => { a.close() })
  a.channel(CONTROL_PROTOCOL)
  await until(() => conns.has(a.id), 5000, 'the victim to accept the attacker')
  const header = Buffer.alloc(4)
  header.writeUInt32LE(1024 * 1024, 0)
  a.stream.socket.write(Buffer.concat([header, Buffer.alloc(10)]))
  await until(() => !conns.get(a.id)!.open, 5000, 'the victim to close the trickling peer')
  const body = (await metrics.scrape()).body
  assert.equal(closes(body, 'frame-time'), 1)
  assert.equal(closes(body, 'receive-bytes'), 0)
})
