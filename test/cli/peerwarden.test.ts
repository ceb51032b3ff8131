import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// The compiled command, built by `npm run build` (npm test builds first).
const BIN = fileURLToPath(new URL('../../../dist/cli/peerwarden.js', import.meta.url))

/**
 * A hang guard, not a speed bound: at a load of 30 on two cores one command took over 10 s to start,
 * and spawnSync's kill (status null) read as a failure.
 */
const SPAWN_TIMEOUT = 60_000

function run (args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: SPAWN_TIMEOUT })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Starts `peerwarden node …` and collects its output lines. */
function start (args: string[], env: Record<string, string> = {}): { child: ChildProcess; lines: string[]; waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [BIN, 'node', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: '', PEERWARDEN_LOG_LEVEL: '', ...env } })
  const lines: string[] = []
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = []
  let buf = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk
    let i
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      lines.push(line)
      for (const w of [...waiters]) {
        const m = line.match(w.re)
        if (m !== null) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m) }
      }
    }
  })
  const waitFor = async (re: RegExp, ms = 15_000): Promise<RegExpMatchArray> => {
    for (const line of lines) { const m = line.match(re); if (m !== null) return m }
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error(`timed out waiting for ${String(re)}; output:\n${lines.join('\n')}`)) }, ms)
      waiters.push({ re, resolve: (m) => { clearTimeout(t); resolve(m) } })
    })
  }
  return { child, lines, waitFor }
}

async function stop (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  child.kill('SIGINT')
  const t = setTimeout(() => child.kill('SIGKILL'), 5000)
  const code = await exited
  clearTimeout(t)
  return code
}

test('peerwarden node --help prints the options and exits 0', () => {
  const r = run(['node', '--help'])
  assert.equal(r.status, 0)
  for (const flag of ['--listen', '--bootstrap', '--topic', '--data-dir', '--network-key', '--low-water', '--high-water', '--allow', '--deny']) {
    assert.match(r.stdout, new RegExp(flag))
  }
})

test('a bad flag or a bad value gets a one-line error and exit status 2, not a stack trace', () => {
  for (const args of [['node', '--bogus'], ['node', '--low-water', 'x'], ['node', '--listen', 'nope'], ['node', '--low-water', '9', '--high-water', '3'], ['nonsense']]) {
    const r = run(args)
    assert.equal(r.status, 2, `${args.join(' ')} exits 2`)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got ${r.stderr}`)
    assert.match(lines[0], /^peerwarden: /)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
})

test('every mesh subcommand reports a wrong invocation the same way: one line with its code, exit 2 (status once wrote no code)', () => {
  const env = { ...process.env, PEERWARDEN_MESH_REGISTRY: '' }
  for (const args of [['mesh', 'status'], ['mesh', 'call', 'Worker.resize']]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: SPAWN_TIMEOUT, env })
    assert.equal(r.status, 2, `${args.join(' ')} exits 2`)
    assert.equal(r.stderr, 'peerwarden: ERR_INVALID_ARGUMENT: --registry is required (or PEERWARDEN_MESH_REGISTRY): tcp://host:port#<registry id>\n', args.join(' '))
  }
})

test('a reader that goes away (peerwarden simulate | head -1) ends the command quietly, without an EPIPE stack trace', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [BIN, 'simulate', '--nodes', '200', '--minutes', '30', '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // The first line read, the reader closes its end, as head does: the command's next write fails.
  await new Promise<void>((resolve) => { child.stdout!.once('data', () => { child.stdout!.destroy(); resolve() }) })
  const code = await new Promise<number | null>((resolve) => { child.once('exit', resolve) })
  assert.doesNotMatch(stderr, /EPIPE|\n\s+at /, 'no stack trace')
  assert.equal(code, 0)
})

test('two CLI nodes find each other through a bootstrap CLI node and close cleanly on Ctrl-C', { timeout: 40_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'))
  const procs: ChildProcess[] = []
  try {
    const boot = start(['--data-dir', join(dir, 'boot'), '--topic', 'cli-test', '--status', '300', '--low-water', '2', '--high-water', '4'])
    procs.push(boot.child)
    const [, bootAddress] = await boot.waitFor(/listening on (tcp:\/\/\S+)/)
    const [, bootId] = await boot.waitFor(/^peerwarden node ([0-9a-f]{64})$/)
    const a = start(['--data-dir', join(dir, 'a'), '--bootstrap', bootAddress, '--topic', 'cli-test', '--status', '300', '--low-water', '2', '--high-water', '4'])
    const b = start(['--data-dir', join(dir, 'b'), '--bootstrap', bootAddress, '--topic', 'cli-test', '--status', '300', '--low-water', '2', '--high-water', '4'])
    procs.push(a.child, b.child)
    const [, aId] = await a.waitFor(/^peerwarden node ([0-9a-f]{64})$/)
    const [, bId] = await b.waitFor(/^peerwarden node ([0-9a-f]{64})$/)
    assert.notEqual(aId, bId)
    assert.notEqual(aId, bootId)
    // Each of a and b reaches two connections: the bootstrap and the other one, found through the topic.
    await a.waitFor(/^\d\d:\d\d:\d\d connections 2 /)
    await b.waitFor(/^\d\d:\d\d:\d\d connections 2 /)
    // A line per connection change, with the time; a status line only when a figure changed.
    await a.waitFor(new RegExp(`^\\d\\d:\\d\\d:\\d\\d INFO  connected peer=${bootId} direction=outbound`))
    for (const p of [a, b, boot]) {
      const status = p.lines.filter((l) => / connections \d+ \(in /.test(l)).map((l) => l.slice(9))
      for (let i = 1; i < status.length; i++) assert.notEqual(status[i], status[i - 1], `status lines repeat only after a change:\n${status.join('\n')}`)
    }
    for (const p of [a, b, boot]) {
      assert.equal(await stop(p.child), 0, 'Ctrl-C exits 0')
      assert.ok(p.lines.includes('closed'), 'the node says it closed')
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})

test('peerwarden node --dashboard serves the live view of its manager, and Ctrl-C closes it', { timeout: 20_000 }, async () => {
  const node = start(['--data-dir', '', '--dashboard', '--status', '60000'])
  try {
    const [, url] = await node.waitFor(/dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/)
    const [, id] = await node.waitFor(/^peerwarden node ([0-9a-f]{64})$/)
    const page = await fetch(url)
    assert.equal(page.status, 200)
    assert.match(await page.text(), new RegExp(`node ${id.slice(0, 12)}`))
    const stats = await (await fetch(url + 'api/stats')).json() as { connections: number; lowWater: number; highWater: number }
    assert.deepEqual([stats.connections, stats.lowWater, stats.highWater], [0, 8, 16])
  } finally {
    assert.equal(await stop(node.child), 0)
  }
})

test('peerwarden node --dashboard-token: the dashboard asks for the token, and the url it prints carries it', { timeout: 20_000 }, async () => {
  const node = start(['--data-dir', '', '--dashboard', '--dashboard-token', 'cli-token-123', '--status', '60000'])
  try {
    const [, url] = await node.waitFor(/dashboard at (http:\/\/127\.0\.0\.1:\d+\/\?token=cli-token-123)$/)
    const base = url.split('?')[0]
    assert.equal((await fetch(base + 'api/stats')).status, 401)
    assert.equal((await fetch(url)).status, 200)
    const stats = await fetch(base + 'api/stats', { headers: { authorization: 'Bearer cli-token-123' } })
    assert.equal(stats.status, 200)
  } finally {
    assert.equal(await stop(node.child), 0)
  }
})

test('peerwarden --version prints the package version and exits 0', () => {
  const r = run(['--version'])
  assert.equal(r.status, 0)
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/)
})

test('every flag is checked before the node starts: a bad --dashboard or --bootstrap exits 2 with one line and prints no node id', () => {
  for (const args of [['node', '--dashboard', 'x:99999', '--data-dir', ''], ['node', '--bootstrap', 'tcp://nohost', '--data-dir', '']]) {
    const r = run(args)
    assert.equal(r.status, 2, `${args.join(' ')} exits 2`)
    assert.doesNotMatch(r.stdout, /peerwarden node [0-9a-f]{64}/, 'no node started')
    assert.match(r.stderr.trim(), /^peerwarden: --(dashboard|bootstrap) /)
  }
})

test('--deny and --allow refuse what no list could read, naming the flag: one line, exit 2, no node started', () => {
  for (const [flag, value] of [['--deny', '10.0.0.0/99'], ['--allow', '/ip4/1.2.3.4/tcp/4001'], ['--deny', ''], ['--allow', '/dns4/example.com'], ['--deny', 'tcp://192.0.2.7:4001'], ['--allow', 'abc']]) {
    const r = run(['node', '--data-dir', '', flag, value])
    assert.equal(r.status, 2, `${flag} ${JSON.stringify(value)} exits 2`)
    assert.doesNotMatch(r.stdout, /peerwarden node [0-9a-f]{64}/, 'no node started')
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.ok(lines[0].startsWith(`peerwarden: ${flag} `), `names the flag: ${lines[0]}`)
  }
})

test('peerwarden node --deny refuses the peers it names and --allow lets peers in above --high-water', { timeout: 40_000 }, async () => {
  const boot = start(['--data-dir', '', '--status', '200', '--high-water', '1', '--low-water', '0', '--allow', '127.0.0.1/8'])
  const others: Array<ReturnType<typeof start>> = []
  try {
    const [, address] = await boot.waitFor(/listening on (tcp:\/\/\S+)/)
    // Two peers at a node whose highWater is 1: the second would be refused 'over-limit' (the first is in its grace period).
    for (let i = 0; i < 2; i++) {
      const n = start(['--data-dir', '', '--status', '200', '--bootstrap', address!])
      others.push(n)
      await n.waitFor(/ connections 1 \(in 0, out 1\)/)
    }
    await boot.waitFor(/ connections 2 \(in 2, out 0\)/)
    // A node that denies the bootstrap node's id (given in capitals) never connects to it.
    const [, id] = await boot.waitFor(/^peerwarden node ([0-9a-f]{64})/)
    const denying = start(['--data-dir', '', '--status', '200', '--bootstrap', address!.split('#')[0], '--deny', id!.toUpperCase()])
    others.push(denying)
    // It dials the bootstrap address (no id given), the handshake names the denied id, and its manager refuses it.
    await denying.waitFor(/ connections 0 .* refused [1-9]/)
    assert.equal(denying.lines.some((l) => / connections [1-9]/.test(l)), false, `the denied bootstrap peer is never connected (an id in capitals matches):\n${denying.lines.join('\n')}`)
  } finally {
    for (const n of others) await stop(n.child)
    await stop(boot.child)
  }
})

// Bug: a wrong bootstrap id, a network-key mismatch or a refused dial showed only as counters, and
// bootstrap dials begun during start-up were not counted ('dials 0 (failed 1)').
test('the node says why a dial failed, with the code and the address, and counts dials from the start; status lines carry the time', { timeout: 30_000 }, async () => {
  const boot = start(['--data-dir', '', '--status', '200'])
  try {
    const [, address] = await boot.waitFor(/listening on (tcp:\/\/[^#]+)#/)
    const wrongId = 'ab'.repeat(32)
    const n = start(['--data-dir', '', '--status', '200', '--bootstrap', `${address!}#${wrongId}`])
    try {
      const [line] = await n.waitFor(/^.*ERR_PEER_MISMATCH.*$/)
      assert.ok(line!.includes(address!), `the line names the address: ${line!}`)
      assert.match(line!, /^\d\d:\d\d:\d\d /)
      const [status] = await n.waitFor(/^.*dials [1-9]\d* \(failed [1-9].*$/)
      assert.match(status!, /^\d\d:\d\d:\d\d connections/)
    } finally {
      await stop(n.child)
    }
  } finally {
    await stop(boot.child)
  }
})

test('--log-level and DEBUG=peerwarden:* choose what the node writes', { timeout: 30_000 }, async () => {
  const boot = start(['--data-dir', '', '--status', '200'], { DEBUG: 'peerwarden:*' })
  try {
    const [, address] = await boot.waitFor(/listening on (tcp:\/\/\S+)/)
    await boot.waitFor(/^\d\d:\d\d:\d\d DEBUG listening /)
    const quiet = start(['--data-dir', '', '--status', '200', '--log-level', 'warn', '--bootstrap', address!])
    try {
      await boot.waitFor(/ INFO {2}connected peer=[0-9a-f]{64} direction=inbound/)
      await quiet.waitFor(/ connections 1 \(in 0, out 1\)/)
      assert.equal(quiet.lines.some((l) => / (INFO|DEBUG) /.test(l)), false, `--log-level warn: no info or debug lines\n${quiet.lines.join('\n')}`)
    } finally {
      await stop(quiet.child)
    }
    const r = run(['node', '--log-level', 'loud'])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /--log-level/)
  } finally {
    await stop(boot.child)
  }
})

test('peerwarden node --metrics serves /metrics alone, with the node\'s own figures', { timeout: 20_000 }, async () => {
  const node = start(['--data-dir', '', '--metrics', '127.0.0.1:0', '--status', '60000'])
  try {
    const [, url] = await node.waitFor(/metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)$/)
    const r = await fetch(url!)
    assert.equal(r.status, 200)
    const body = await r.text()
    assert.match(body, /^peerwarden_connections\{direction="inbound"\} 0$/m)
    assert.match(body, /^peerwarden_inbound_refused_total\{rule="rate"\} 0$/m, 'the node\'s figures')
    assert.match(body, /^peerwarden_build_info\{version="\d+\.\d+\.\d+[^"]*"\} 1$/m)
    assert.doesNotMatch(body, /^process_cpu/m, 'process metrics only with --process-metrics')
    assert.equal((await fetch(url!.replace(/metrics$/, ''))).status, 404, 'no page')
  } finally {
    assert.equal(await stop(node.child), 0)
  }
  const bad = run(['node', '--metrics', 'x:99999', '--data-dir', ''])
  assert.equal(bad.status, 2)
  assert.match(bad.stderr.trim(), /^peerwarden: --metrics /)
})
