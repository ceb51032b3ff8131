import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// sqliteStore() and `peerwarden node` in a process where better-sqlite3 is not installed (hidden by a
// preload that makes its resolution fail as an absent package does). Regression: sqliteStore() was
// made without complaint and its first load reported 'store:error'; `peerwarden node` created an
// empty ./.peerwarden before failing.

/** A preload that makes `better-sqlite3` unresolvable, as when it is not installed. */
const HIDE = `const Module = require('node:module')
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  if (request === 'better-sqlite3' || request.startsWith('better-sqlite3/')) {
    throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' })
  }
  return resolve.call(this, request, ...rest)
}
`

/** Runs node with better-sqlite3 hidden; resolves with its exit code and output (hard timeout). */
async function runHidden (dir: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const hide = join(dir, 'hide-better-sqlite3.cjs')
  writeFileSync(hide, HIDE)
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', hide, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`node ${args.join(' ')} did not exit within 20 s: ${stdout} ${stderr}`)) }, 20_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

test('sqliteStore() without better-sqlite3 throws ERR_MISSING_DEPENDENCY at creation, naming the package and the install command, and makes no directory', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-nosqlite-'))
  try {
    const store = new URL('../../src/store/sqlite-store.js', import.meta.url).href
    const script = `import { sqliteStore } from ${JSON.stringify(store)}
try { sqliteStore('sub/peers.db'); console.log(JSON.stringify({ made: true })) } catch (e) { console.log(JSON.stringify({ name: e.constructor.name, code: e.code, message: e.message })) }`
    const { stdout, stderr } = await runHidden(dir, ['--input-type=module', '-e', script])
    const out = JSON.parse(stdout.trim()) as { made?: boolean; name?: string; code?: string; message?: string }
    assert.equal(out.made, undefined, `sqliteStore() must throw (stderr: ${stderr})`)
    assert.equal(out.name, 'PeerwardenError')
    assert.equal(out.code, 'ERR_MISSING_DEPENDENCY')
    assert.match(out.message ?? '', /better-sqlite3/)
    assert.match(out.message ?? '', /npm install better-sqlite3/)
    assert.equal(existsSync(join(dir, 'sub')), false, 'no directory made for the store')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('peerwarden node without better-sqlite3 exits naming the package, the install command and --data-dir \'\', and leaves no ./.peerwarden', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-nosqlite-cli-'))
  try {
    const cli = fileURLToPath(new URL('../../src/cli/peerwarden.js', import.meta.url))
    const { code, stderr } = await runHidden(dir, [cli, 'node', '--listen', 'tcp://127.0.0.1:0'])
    assert.notEqual(code, 0, 'the command fails')
    assert.match(stderr, /npm install better-sqlite3/)
    assert.match(stderr, /--data-dir ''/)
    assert.deepEqual(readdirSync(dir).filter((f) => f !== 'hide-better-sqlite3.cjs'), [], 'no ./.peerwarden left behind')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('createNode({ dataDir }) without better-sqlite3 rejects ERR_MISSING_DEPENDENCY and makes no directory', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-nosqlite-node-'))
  try {
    const node = new URL('../../src/node/index.js', import.meta.url).href
    const script = `import { createNode } from ${JSON.stringify(node)}
try { const n = await createNode({ dataDir: 'data', listen: [] }); await n.close(); console.log(JSON.stringify({ made: true })) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
    const { stdout, stderr } = await runHidden(dir, ['--input-type=module', '-e', script])
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { made?: boolean; code?: string; message?: string }
    assert.equal(out.made, undefined, `createNode must reject (stderr: ${stderr})`)
    assert.equal(out.code, 'ERR_MISSING_DEPENDENCY')
    assert.match(out.message ?? '', /better-sqlite3/)
    assert.equal(existsSync(join(dir, 'data')), false, 'no dataDir made')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
