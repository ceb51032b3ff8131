import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test, type TestContext } from 'node:test'
import { createMeshNode, createRegistry, defineSchema, type MeshRegistry } from '../../src/mesh/index.js'
import { createNode } from '../../src/node/index.js'
import { until } from '../helpers/wait.js'

// `peerwarden mesh status|call` run as a child process (the command as built from this tree) against
// registries and nodes in this process, on 127.0.0.1; every child has a hard timeout.

const BIN = fileURLToPath(new URL('../../src/cli/peerwarden.js', import.meta.url))
const T = { timeout: 30_000 }
const KEY = 'cli-test-mesh-key'

const schema = defineSchema({
  Api: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Api'],
    _commands: {
      _balanced: { resize: ({ w }: { w: number }) => ({ w: w * 2 }), explode: () => { throw new Error('boom') } },
      _broadcast: { status: { responds: true, method: () => ({ ok: true }) } }
    }
  }
})

/** Runs the command; resolves with its status and output, or rejects after `ms` (the child is killed). */
async function run (args: string[], env: Record<string, string> = {}, ms = 20_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '', PEERWARDEN_LOG_LEVEL: '', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`peerwarden ${args.join(' ')} did not exit within ${ms} ms; stderr: ${stderr}`)) }, ms)
    child.once('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }) })
  })
}

async function mesh (t: TestContext): Promise<{ registry: MeshRegistry; down: string; workerId: string }> {
  const registry = await createRegistry({ schema, networkKey: KEY })
  t.after(async () => { await registry.close() })
  // A second registry that is down: the CLI reports it and goes on with the first.
  const gone = await createRegistry({ schema, networkKey: KEY })
  const down = gone.addresses[0]
  await gone.close()
  const worker = await createMeshNode({ schema, role: 'Worker', variant: 'w1', registry: registry.addresses[0], networkKey: KEY })
  t.after(async () => { await worker.close() })
  return { registry, down, workerId: worker.id }
}

test('peerwarden mesh status lists the roles with their instances, and reports a registry that is down', T, async (t) => {
  const { registry, down, workerId } = await mesh(t)
  const r = await run(['mesh', 'status', '--registry', registry.addresses[0], '--registry', down, '--network-key', KEY, '--timeout', '3000'])
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.ok(lines.some((l) => l.startsWith(`registry ${registry.id.slice(0, 12)}`) && l.includes('up, 1 member')), r.stdout)
  assert.ok(lines.some((l) => l.startsWith('registry ') && l.includes(down.split('#')[0]) && /ERR_/.test(l)), r.stdout)
  assert.ok(lines.includes('Worker: 1 instance; commands resize, explode, status (broadcast)'), r.stdout)
  assert.ok(lines.some((l) => l.trim().startsWith(`w1  up  peer ${workerId.slice(0, 12)}`) && l.includes('listed by 1/1 registry')), r.stdout)
  assert.ok(lines.includes('Api: 0 instances'), r.stdout)

  // --json, with the credentials from the environment.
  const j = await run(['mesh', 'status', '--json', '--timeout', '3000'], { PEERWARDEN_MESH_REGISTRY: registry.addresses[0], PEERWARDEN_NETWORK_KEY: KEY })
  assert.equal(j.status, 0, j.stderr)
  const parsed = JSON.parse(j.stdout) as { registries: Array<{ ok: boolean; members: number }>; roles: Record<string, Array<{ peer: string; variant: string }>> }
  assert.deepEqual(parsed.registries.map((x) => [x.ok, x.members]), [[true, 1]])
  assert.deepEqual(parsed.roles.Worker.map((w) => [w.peer, w.variant]), [[workerId, 'w1']])

  // The wrong network key: no registry answers, status 1.
  const wrong = await run(['mesh', 'status', '--registry', registry.addresses[0], '--network-key', 'another', '--timeout', '3000'])
  assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr)
})

test('peerwarden mesh call Role.command \'{json}\' prints the answer; a handler\'s throw, an unknown command and bad JSON fail with their codes', T, async (t) => {
  const { registry, down } = await mesh(t)
  const flags = ['--registry', `${down},${registry.addresses[0]}`, '--network-key', KEY, '--timeout', '5000']
  const ok = await run(['mesh', 'call', 'Worker.resize', '{"w":21}', ...flags])
  assert.equal(ok.status, 0, ok.stderr)
  assert.deepEqual(JSON.parse(ok.stdout), { w: 42 })

  const broadcast = await run(['mesh', 'call', 'worker.status', ...flags])
  assert.equal(broadcast.status, 0, broadcast.stderr)
  assert.deepEqual(JSON.parse(broadcast.stdout), [{ variant: 'w1', ok: true, value: { ok: true } }])

  const thrown = await run(['mesh', 'call', 'Worker.explode', '{}', ...flags])
  assert.equal(thrown.status, 1)
  assert.match(thrown.stderr, /^peerwarden: ERR_REMOTE: .*boom/m)

  const unknown = await run(['mesh', 'call', 'Worker.nope', '{}', ...flags])
  assert.equal(unknown.status, 2)
  assert.match(unknown.stderr, /ERR_UNKNOWN_COMMAND: Worker has no command "nope" \(commands: resize, explode, status\)/)

  const badJson = await run(['mesh', 'call', 'Worker.resize', '{w:1}', ...flags])
  assert.equal(badJson.status, 2)
  assert.match(badJson.stderr, /ERR_INVALID_ARGUMENT: the arguments are not JSON/)

  // The CLI left: the registry no longer lists it.
  assert.deepEqual(registry.members().map((m) => m.role), ['Worker'])
})

test('with a registry that admits callers by their key, peerwarden mesh call joins with --key and the schema from --schema; without the key it is refused', T, async (t) => {
  const secret = 'the-cli-secret'
  const probe = await createNode({ seed: secret })
  const cliId = probe.id
  await probe.close()
  const registry = await createRegistry({ schema, networkKey: KEY, authorize: (peer, role) => role === 'Worker' || peer === cliId })
  t.after(async () => { await registry.close() })
  const worker = await createMeshNode({ schema, role: 'Worker', variant: 'w1', registry: registry.addresses[0], networkKey: KEY })
  t.after(async () => { await worker.close() })
  // The registry shows its outline to members only: the schema comes from a module.
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-schema-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const module = join(dir, 'schema.mjs')
  writeFileSync(module, `export const schema = { Api: { _connect: ['Worker'] }, Worker: { _allow: ['Api'], _commands: { _balanced: { resize: {}, explode: {} }, _broadcast: { status: { responds: true } } } } }\n`)
  const flags = ['--registry', registry.addresses[0], '--network-key', KEY, '--timeout', '5000', '--schema', module]

  const ok = await run(['mesh', 'call', 'Worker.resize', '{"w":5}', ...flags], { PEERWARDEN_MESH_KEY: secret })
  assert.equal(ok.status, 0, ok.stderr)
  assert.deepEqual(JSON.parse(ok.stdout), { w: 10 })

  const refused = await run(['mesh', 'call', 'Worker.resize', '{"w":5}', ...flags])
  assert.equal(refused.status, 1)
  assert.match(refused.stderr, /^peerwarden: ERR_NOT_ALLOWED: the registry refused the registration/m)

  // Without membership the status is refused too: one line for the registry, status 1.
  const status = await run(['mesh', 'status', '--registry', registry.addresses[0], '--network-key', KEY, '--timeout', '3000'])
  assert.equal(status.status, 1)
  assert.match(status.stdout, /ERR_NOT_ALLOWED the registry refused: only a registered member/)
})

test('peerwarden mesh status shows an instance draining, the breakers open against an instance and those a caller holds (text and --json)', T, async (t) => {
  const waiting: Array<() => void> = []
  const release = (): void => { for (const r of waiting.splice(0)) r() }
  const health = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: {
      _allow: ['Api'],
      _commands: {
        _balanced: {
          explode: () => { throw new Error('boom') },
          slow: async () => { await new Promise<void>((resolve) => { waiting.push(resolve) }); return 1 }
        }
      }
    }
  })
  const registry = await createRegistry({ schema: health, networkKey: KEY })
  t.after(async () => { await registry.close() })
  const at = registry.addresses[0]
  const w1 = await createMeshNode({ schema: health, role: 'Worker', variant: 'w1', registry: at, networkKey: KEY })
  t.after(async () => { release(); await w1.close() })
  const w2 = await createMeshNode({ schema: health, role: 'Worker', variant: 'w2', registry: at, networkKey: KEY })
  t.after(async () => { await w2.close() })
  const breaker = { minRequestCount: 1, threshold: 0.5, halfOpenTime: 60_000 }
  const a1 = await createMeshNode({ schema: health, role: 'Api', variant: 'a1', registry: at, networkKey: KEY, breaker })
  t.after(async () => { await a1.close() })
  await a1.ready('Worker', { timeout: 5000 })
  await until(() => a1.instances('Worker').length === 2, 5000, 'a1 to reach both workers')

  // a1's breakers open against both workers (a failed call opens one; the next call goes to the other).
  await assert.rejects(a1.call.Worker.explode())
  await assert.rejects(a1.call.Worker.explode())
  assert.deepEqual(a1.stats().breakers.map((b) => b.state), ['open', 'open'])
  // w2 drains, held by a call a second caller made.
  const a2 = await createMeshNode({ schema: health, role: 'Api', variant: 'a2', registry: at, networkKey: KEY })
  t.after(async () => { await a2.close() })
  await until(() => a2.instances('Worker').length === 2, 5000, 'a2 to reach both workers')
  const calls = [a2.call.Worker.slow(), a2.call.Worker.slow()]
  await until(() => w2.stats().running === 1, 5000, 'a call running on w2')
  const drained = w2.drain({ timeout: 20_000 })
  const member = (id: string) => registry.status().find((m) => m.peer === id)
  await until(() => member(w2.id)?.health?.draining === true && member(a1.id)?.health?.breakers.length === 2, 5000, 'the registry to hear w2 drain and a1\'s breakers')

  const r = await run(['mesh', 'status', '--registry', at, '--network-key', KEY, '--timeout', '3000'])
  assert.equal(r.status, 0, r.stderr)
  const line = (v: string): string => r.stdout.split('\n').find((l) => l.trim().startsWith(`${v} `)) ?? ''
  assert.match(line('w1'), /^ {2}w1 {2}up {2}peer .*; breaker open at 1 caller$/, r.stdout)
  assert.match(line('w2'), /^ {2}w2 {2}draining {2}peer .*; breaker open at 1 caller$/, r.stdout)
  assert.match(line('a1'), /; holds breakers: open against Worker\/w[12], open against Worker\/w[12]$/, r.stdout)
  assert.match(line('a2'), /^ {2}a2 {2}up {2}peer [^;]*$/, r.stdout)

  const j = await run(['mesh', 'status', '--json', '--registry', at, '--network-key', KEY, '--timeout', '3000'])
  assert.equal(j.status, 0, j.stderr)
  type Row = { variant: string; state: string; holds: Array<{ variant?: string; state: string }>; against: Array<{ variant?: string; state: string }> }
  const roles = (JSON.parse(j.stdout) as { roles: Record<string, Row[]> }).roles
  assert.deepEqual(roles.Worker.map((w) => [w.variant, w.state, w.against.map((b) => [b.variant, b.state])]), [['w1', 'up', [['a1', 'open']]], ['w2', 'draining', [['a1', 'open']]]])
  assert.deepEqual(roles.Api.map((a) => [a.variant, a.holds.map((b) => b.variant).sort()]), [['a1', ['w1', 'w2']], ['a2', []]])

  release()
  assert.deepEqual(await Promise.all(calls), [1, 1])
  await drained
})
