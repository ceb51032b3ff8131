import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { systemClock } from '../../src/clock.js'
import { askStatus } from '../../src/mesh/registry-status.js'
import { createMeshNode, createRegistry, defineSchema, type MeshNode, type MeshNodeOptions } from '../../src/mesh/index.js'
import { createNode } from '../../src/node/index.js'
import { until, within } from '../helpers/wait.js'

// Two registries, one of them a process killed with SIGKILL (no goodbye on any connection), on real
// sockets (127.0.0.1): a new node still joins through the other and is reachable; the killed one,
// restarted on its dataDir and address, catches up with every node.

const T = { timeout: 60_000 }

const schema = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: (args: { i: number }) => ({ i: args.i }) } } }
})

// The same schema in the child (the registry needs its shape, not its handlers).
const CHILD_REGISTRY = `
const [meshUrl, dataDir, listen] = process.argv.slice(2)
const { createRegistry, defineSchema } = await import(meshUrl)
const schema = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: { _allow: ['Caller'], _commands: { _balanced: { work: (args) => ({ i: args.i }) } } }
})
const registry = await createRegistry({ schema, networkKey: 'killed-registry-test', dataDir, listen: [listen] })
process.stdout.write(JSON.stringify({ ready: true, address: registry.addresses[0] }) + '\\n')
process.stdin.on('end', () => { process.exit(0) })
process.stdin.resume()
`

/** A registry in a child process on `dataDir`; resolves with its address once it listens. */
async function childRegistry (t: TestContext, dir: string, listen: string): Promise<{ child: ChildProcess; address: string }> {
  const script = join(dir, 'registry.mjs')
  writeFileSync(script, CHILD_REGISTRY)
  const meshUrl = new URL('../../src/mesh/index.js', import.meta.url).href
  const child = spawn(process.execPath, [script, meshUrl, join(dir, 'data'), listen], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  const address = await within(new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      out += chunk
      const line = out.split('\n').find((l) => l.includes('"ready"'))
      if (line !== undefined) resolve((JSON.parse(line) as { address: string }).address)
    })
    child.once('exit', (code, signal) => { reject(new Error(`the registry child exited early (${code ?? signal}): ${out}`)) })
  }), 15_000, 'the registry child to listen')
  return { child, address }
}

test('two registries, one killed with SIGKILL: a new worker still joins and is reachable; the killed one, restarted, catches up with every node', T, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-registry-killed-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const networkKey = 'killed-registry-test'
  const first = await childRegistry(t, dir, 'tcp://127.0.0.1:0')
  const other = await createRegistry({ schema, networkKey, listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await other.close() })
  const registries = [first.address, other.addresses[0]]
  const start = async (options: Omit<MeshNodeOptions<typeof schema>, 'schema' | 'registries' | 'networkKey'>): Promise<MeshNode<typeof schema>> => {
    const m = await createMeshNode({ schema, registries, networkKey, registerTimeout: 15_000, ...options })
    t.after(async () => { await m.close() })
    return m
  }
  const w1 = await start({ role: 'Worker', variant: 'w1', listen: ['tcp://127.0.0.1:0'] })
  const caller = await start({ role: 'Caller', variant: 'c1' })
  await caller.ready('Worker', { timeout: 5000 })

  // Members as the killed-and-restarted registry sees them (its status channel, from a node of its own each time).
  const membersOf = async (address: string): Promise<string[]> => {
    const probe = await createNode({ networkKey, manager: { lowWater: 0, highWater: 8 } })
    try {
      const [answer] = await askStatus(probe, [{ address, id: address.split('#')[1] }], { timeout: 5000, clock: systemClock })
      return answer.ok ? answer.status.members.map((m) => m.variant).sort() : []
    } finally {
      await probe.close()
    }
  }
  assert.deepEqual(await membersOf(first.address), ['c1', 'w1'])

  first.child.kill('SIGKILL')
  await within(new Promise((resolve) => { first.child.once('exit', resolve) }), 5000, 'the registry child to die')
  const w2 = await within(start({ role: 'Worker', variant: 'w2', listen: ['tcp://127.0.0.1:0'] }), 20_000, 'a new worker joining with one registry killed')
  await until(() => caller.instances('Worker').some((i) => i.peer === w2.id), 10_000, 'the caller to reach the new worker')
  const served = new Set<number>()
  for (let i = 0; i < 20; i++) served.add((await caller.call.Worker.work({ i }, { timeout: 2000 })).i)
  assert.equal(served.size, 20)

  // Restarted on the same dataDir (same key) and address: every node registers with it again.
  const again = await childRegistry(t, dir, first.address.split('#')[0])
  assert.equal(again.address, first.address)
  let seen: string[] = []
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline && seen.length < 3) {
    seen = await membersOf(again.address)
    if (seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.deepEqual(seen, ['c1', 'w1', 'w2'], 'the restarted registry lists every node, the one that joined while it was dead too')
  assert.ok(w1.id !== w2.id)
})
