import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// The `peerwarden` command as an operator meets it: what its help shows, what it says about a bad
// flag (before anything starts), and what a command group says without its subcommand.

const BIN = fileURLToPath(new URL('../../dist/cli/peerwarden.js', import.meta.url))
const run = (args: readonly string[]): { status: number | null; out: string } => {
  const env = { ...process.env, PEERWARDEN_MESH_REGISTRY: '', PEERWARDEN_NETWORK_KEY: '' }
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, env })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

const COMMANDS = [[], ['node'], ['simulate'], ['mesh'], ['mesh', 'status'], ['mesh', 'call'], ['lab']] as const

test("every command's --help shows an example to copy", () => {
  const without: string[] = []
  for (const command of COMMANDS) {
    const { status, out } = run([...command, '--help'])
    assert.equal(status, 0, `peerwarden ${command.join(' ')} --help`)
    if (!/^Examples?:\n\s+\$? ?peerwarden /m.test(out)) without.push(`peerwarden ${command.join(' ')} --help`.replace('  ', ' '))
  }
  assert.deepEqual(without, [], 'these show no example')
})

// Each exited 2, but with the option's internal name or none, or only after the node had started.
const UNNAMED: ReadonlyArray<readonly [readonly string[], string]> = [
  [['node', '--data-dir', '', '--topic', ''], '--topic'],
  [['node', '--data-dir', '', '--network-key', ''], '--network-key'],
  [['node', '--data-dir', '', '--dashboard', '127.0.0.1:0', '--dashboard-token', 'short'], '--dashboard-token'],
  [['mesh', 'status', '--registry', `tcp://127.0.0.1:1#${'a'.repeat(64)}`, '--network-key', ''], '--network-key'],
  [['simulate', '--nodes', '10', '--minutes', '1', '--no-progress', '--dashboard', 'nope'], '--dashboard'],
  [['simulate', '--nodes', '10', '--minutes', '1', '--no-progress', '--report', '/nonexistent-dir/run.html'], '--report']
]

test('a bad value is refused naming its flag, before a node starts or a run begins', { timeout: 120_000 }, () => {
  const wrong: string[] = []
  for (const [args, flag] of UNNAMED) {
    const { status, out } = run(args)
    const started = /listening on|minute {2}connections/.test(out)
    if (status !== 2 || !out.includes(flag) || started) wrong.push(`peerwarden ${args.join(' ')}: exit ${String(status)}${started ? ', started first' : ''}: ${out.trim().split('\n').at(-1) ?? ''}`)
  }
  assert.deepEqual(wrong, [], `these do not name ${UNNAMED.map(([, f]) => f).join(', ')} as they should`)
})

test('a command group without its subcommand (peerwarden mesh) prints its help, not nothing', () => {
  const { status, out } = run(['mesh'])
  assert.match(out, /status/, `peerwarden mesh printed:\n${out}`)
  assert.match(out, /call/)
  assert.equal(status, 2, 'a wrong invocation exits 2')
})
