import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { Logger } from '../../src/logger.js'
import { createMeshNode, createRegistry, defineSchema, type MeshNode } from '../../src/mesh/index.js'
import { within } from '../helpers/wait.js'

// The `logger` and `logLevel` options on real sockets (127.0.0.1): the mesh's lines and those of the
// node under it, in one logger; `logLevel` writing to standard error at its level.

const T = { timeout: 30_000 }

const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: { _allow: ['Api'], _commands: { _balanced: { ping: () => 'pong' } } }
})

interface Line { level: string; msg: string; fields: Record<string, unknown> }

/** A logger that keeps every line with its level and its child bindings. */
function recorder (lines: Line[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: Line[] } {
  const at = (level: string) => (first: Record<string, unknown> | string, message?: string): void => {
    lines.push(typeof first === 'string' ? { level, msg: first, fields: { ...bindings } } : { level, msg: message ?? '', fields: { ...bindings, ...first } })
  }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (more) => recorder(lines, { ...bindings, ...more }) }
}

async function connected (m: MeshNode<any>, role: string): Promise<void> {
  while (m.instances(role).length === 0) await new Promise((resolve) => { m.events.addEventListener('connection', resolve, { once: true }) })
}

test('the logger hears the node under the mesh too: its connections at info, with component node, beside the mesh\'s own lines; and so does the registry\'s node', T, async (t: TestContext) => {
  const regLog = recorder()
  const registry = await createRegistry({ schema, networkKey: 'k', listen: ['tcp://127.0.0.1:0'], logger: regLog })
  t.after(async () => { await registry.close() })
  const apiLog = recorder()
  const worker = await createMeshNode({ schema, role: 'Worker', variant: 'w1', registry: registry.addresses[0], networkKey: 'k', listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await worker.close() })
  const api = await createMeshNode({ schema, role: 'Api', variant: 'a1', registry: registry.addresses[0], networkKey: 'k', logger: apiLog })
  t.after(async () => { await api.close() })
  await connected(api, 'Worker')
  assert.equal(await api.call.Worker.ping(), 'pong')

  const nodeLines = apiLog.lines.filter((l) => l.fields.component === 'node')
  const toRegistry = nodeLines.find((l) => l.msg === 'connected' && l.fields.peer === registry.id)
  assert.equal(toRegistry?.level, 'info', 'the node under the mesh logs its connection to the registry')
  assert.deepEqual([toRegistry.fields.role, toRegistry.fields.variant], ['Api', 'a1'])
  assert.ok(nodeLines.some((l) => l.msg === 'connected' && l.fields.peer === worker.id), 'and its connection to the worker')
  assert.ok(apiLog.lines.some((l) => l.fields.component === 'mesh' && l.msg === 'instance up'), 'the mesh\'s own lines are there too')
  assert.ok(regLog.lines.some((l) => l.fields.component === 'node' && l.msg === 'connected' && l.fields.peer === api.id), 'the registry\'s node logs the member\'s connection')
  assert.ok(regLog.lines.some((l) => l.fields.component === 'mesh-registry' && l.msg === 'member registered'))

  // Regression: closing warned 'registry connection lost' (reason stopped) for our own close, at most
  // exits of `peerwarden mesh call`: the node reports the closed connections just after close()
  // resolves. A healthy node that closes writes nothing above info.
  const gone = new Promise<void>((resolve) => {
    api.node.events.addEventListener('disconnection', (e) => { if (e.detail.peer === registry.id) resolve() })
  })
  await api.close()
  await within(gone, 5000, 'the node to report its registry connection closed')
  assert.ok(apiLog.lines.some((l) => l.msg === 'disconnected' && l.fields.peer === registry.id), 'the node logged it')
  assert.deepEqual(apiLog.lines.filter((l) => l.level === 'warn' || l.level === 'error'), [])
})

test('logLevel writes readable lines to standard error at its level: registered at info, nothing below error with logLevel error', T, async (t: TestContext) => {
  const registry = await createRegistry({ schema, networkKey: 'k', listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  const written: string[] = []
  const original = process.stderr.write
  process.stderr.write = ((chunk: string | Uint8Array): boolean => { written.push(String(chunk)); return true }) as typeof process.stderr.write
  let info: MeshNode<typeof schema> | undefined
  let quiet: MeshNode<typeof schema> | undefined
  try {
    info = await createMeshNode({ schema, role: 'Worker', variant: 'loud', registry: registry.addresses[0], networkKey: 'k', logLevel: 'info' })
    quiet = await createMeshNode({ schema, role: 'Worker', variant: 'hush', registry: registry.addresses[0], networkKey: 'k', logLevel: 'error' })
  } finally {
    process.stderr.write = original
    await info?.close()
    await quiet?.close()
  }
  const registered = written.filter((l) => / INFO +registered /.test(l))
  assert.equal(registered.length, 1, `one 'registered' line (got ${JSON.stringify(written)})`)
  assert.match(registered[0], /variant=loud/)
  assert.equal(written.filter((l) => l.includes('variant=hush')).length, 0, 'logLevel error writes nothing for a healthy join')
  assert.ok(written.some((l) => / INFO +connected /.test(l) && l.includes('component=node') && l.includes('variant=loud')), 'the node under it writes at that level too')
})
