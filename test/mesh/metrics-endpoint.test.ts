import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test, type TestContext } from 'node:test'
import { serveMetrics } from '../../src/dashboard/index.js'
import { createMeshNode, createRegistry, defineSchema, registerMeshMetrics, type MeshNode } from '../../src/mesh/index.js'

// The mesh's figures scraped where a team scrapes the node's: the registry behind `serveMetrics`'
// /metrics (real sockets on 127.0.0.1, a real HTTP scrape, read by a Prometheus parser).

const T = { timeout: 30_000 }

type Family = { name: string; type: string; metrics: Array<{ value?: string; labels?: Record<string, string> }> }
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

async function connected (m: MeshNode<any>, role: string): Promise<void> {
  while (m.instances(role).length === 0) await new Promise((resolve) => { m.events.addEventListener('connection', resolve, { once: true }) })
}

test('registerMeshMetrics into serveMetrics\' registry: one scrape of /metrics has the node\'s series and the mesh\'s, with conventional names and labels', T, async (t: TestContext) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: { _allow: ['Api'], _commands: { _balanced: { ok: () => 1, boom: () => { throw Object.assign(new Error('boom'), { code: 'E_APP' }) } } } }
  })
  const registry = await createRegistry({ schema, networkKey: 'k', listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  const worker = await createMeshNode({ schema, role: 'Worker', variant: 'w1', registry: registry.addresses[0], networkKey: 'k', listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await worker.close() })
  const api = await createMeshNode({ schema, role: 'Api', registry: registry.addresses[0], networkKey: 'k', breaker: true })
  t.after(async () => { await api.close() })
  const server = await serveMetrics(api.node.manager, { node: api.node })
  t.after(async () => { await server.close() })
  registerMeshMetrics(api, server.metrics.registry)

  await connected(api, 'Worker')
  for (let k = 0; k < 2; k++) await api.call.Worker.ok()
  await assert.rejects(api.call.Worker.boom())

  const res = await fetch(server.url)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  const families = new Map(parse(await res.text()).map((f) => [f.name, f]))
  assert.ok(families.has('peerwarden_connections'), 'the node\'s own series are there')
  const calls = families.get('peerwarden_mesh_calls_total')
  assert.equal(calls?.type, 'COUNTER')
  const value = (labels: Record<string, string>): number => Number(calls!.metrics.find((m) => Object.entries(labels).every(([k, x]) => m.labels?.[k] === x))?.value)
  assert.equal(value({ role: 'Worker', command: 'ok', instance: 'w1', code: 'OK' }), 2)
  // A handler's own code is never a label value (a peer could make the series unbounded).
  assert.equal(value({ role: 'Worker', command: 'boom', instance: 'w1', code: 'ERR_REMOTE' }), 1)
  assert.equal(calls!.metrics.some((m) => m.labels?.code === 'E_APP'), false)
  assert.equal(families.get('peerwarden_mesh_call_duration_seconds')?.type, 'HISTOGRAM')
  assert.equal(families.get('peerwarden_mesh_calls_in_flight')?.type, 'GAUGE')
  const breaker = families.get('peerwarden_mesh_breaker_state')
  assert.deepEqual(breaker?.metrics.map((m) => [m.labels?.instance, m.labels?.state, m.value]).sort(), [['w1', 'closed', '1'], ['w1', 'half-open', '0'], ['w1', 'open', '0']])
  assert.equal(families.get('peerwarden_mesh_handlers_running')?.type, 'GAUGE')
})
