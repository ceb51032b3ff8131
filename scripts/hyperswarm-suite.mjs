#!/usr/bin/env node
/**
 * Runs Hyperswarm's own test suite (brittle) against plain swarms and against swarms wrapped by
 * `manageSwarm(swarm, { lowWater: 64, highWater: 256 })`, and prints the pass counts.
 *
 *   node scripts/hyperswarm-suite.mjs <suite-dir> [--mode plain|managed|both] [--files a.js,b.js]
 *                                     [--all] [--deps <dir>] [--adapter <file>] [--file-timeout <s>] [--verbose]
 *
 * <suite-dir> holds the hyperswarm repository's `test/` folder (say, extracted at v4.17.0 with
 * `git show`/`git archive`); nothing is fetched here. The suite's files are copied into a scratch
 * directory under the system temp dir, beside a stand-in for `require('..')`:
 * - plain:   Hyperswarm (the one installed with this project), its DHT bound to 127.0.0.1;
 * - managed: the same, put under `manageSwarm` as soon as it is constructed.
 * The DHT is bound to 127.0.0.1 in both (this machine's interface carries a reserved test address;
 * a DHT bound to the wildcard can open a connection on one side only).
 *
 * Needs `brittle` (^3) and, for `--all` (chaos.js), `hypercore-crypto`: resolved from the project's
 * node_modules, or from `--deps <dir>` (a folder holding a node_modules/, e.g. after
 * `npm install --prefix <dir> brittle@3 hypercore-crypto@3`).
 * By default the swarm-level files are run (35 tests at v4.17.0); `--all` adds chaos.js (~60 s) and
 * the unit tests of Hyperswarm's own timers (bulk-timer.js, retry-timer.js).
 * Exit code: 0 when every selected test passed in every mode run.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SWARM_FILES = ['dups.js', 'firewall.js', 'peer-join.js', 'stats.js', 'suspend.js', 'swarm.js', 'update.js']
const EXTRA_FILES = ['chaos.js', 'bulk-timer.js', 'retry-timer.js']

function printHelpAndExit () {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0])
  process.exit(0)
}

function parseArgs (argv) {
  const o = { mode: 'both', files: undefined, all: false, deps: undefined, adapter: undefined, fileTimeout: 300, verbose: false, dir: undefined }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i] }
    if (a === '--mode') o.mode = next()
    else if (a === '--files') o.files = next().split(',').filter(Boolean)
    else if (a === '--all') o.all = true
    else if (a === '--deps') o.deps = resolve(next())
    else if (a === '--adapter') o.adapter = resolve(next())
    else if (a === '--file-timeout') o.fileTimeout = Number(next())
    else if (a === '--verbose') o.verbose = true
    else if (a === '--help' || a === '-h') printHelpAndExit()
    else if (o.dir === undefined) o.dir = resolve(a)
    else throw new Error(`unexpected argument: ${a}`)
  }
  if (o.dir === undefined) throw new Error('usage: node scripts/hyperswarm-suite.mjs <suite-dir> [--mode plain|managed|both] (see --help)')
  if (!['plain', 'managed', 'both'].includes(o.mode)) throw new Error('--mode must be plain, managed or both')
  if (!(o.fileTimeout > 0)) throw new Error('--file-timeout must be a positive number of seconds')
  return o
}

const opts = parseArgs(process.argv.slice(2))
const testDir = existsSync(join(opts.dir, 'test')) ? join(opts.dir, 'test') : opts.dir
if (!existsSync(join(testDir, 'swarm.js'))) throw new Error(`no Hyperswarm test suite (test/swarm.js) under ${opts.dir}`)

const requireHere = createRequire(join(root, 'package.json'))
const hyperswarmDir = dirname(requireHere.resolve('hyperswarm/package.json'))
const hyperswarmVersion = JSON.parse(readFileSync(join(hyperswarmDir, 'package.json'), 'utf8')).version
const dhtPath = createRequire(join(hyperswarmDir, 'index.js')).resolve('hyperdht')
const adapter = opts.adapter ?? [join(root, 'dist/adapters/hyperswarm.js'), join(root, 'build/src/adapters/hyperswarm.js')].find((p) => existsSync(p))
if (adapter === undefined) throw new Error('no built adapter: run `npm run build` (or `npx tsc -p tsconfig.json`) first')
const nodePath = [opts.deps && join(opts.deps, 'node_modules'), join(root, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':')
try {
  createRequire(join(root, 'x.js')).resolve('brittle', { paths: nodePath.split(':') })
} catch {
  throw new Error('brittle is not installed: pass --deps <dir> with brittle@3 in <dir>/node_modules')
}

let files = opts.files ?? (opts.all ? [...SWARM_FILES, ...EXTRA_FILES] : SWARM_FILES)
files = files.filter((f) => existsSync(join(testDir, f)))

/** The stand-in for the suite's `require('..')`. */
function shim (mode) {
  return `'use strict'
const Hyperswarm = require(${JSON.stringify(join(hyperswarmDir, 'index.js'))})
const DHT = require(${JSON.stringify(dhtPath)})
const manageSwarm = ${mode === 'managed' ? 'globalThis.__peerwardenManageSwarm' : 'undefined'}
${mode === 'managed' ? "if (typeof manageSwarm !== 'function') throw new Error('manageSwarm was not preloaded')" : ''}
class Swarm extends Hyperswarm {
  constructor (opts = {}) {
    if (!opts.dht) {
      opts = { ...opts, dht: new DHT({ bootstrap: opts.bootstrap, nodes: opts.nodes, port: opts.port, host: '127.0.0.1',
        deferRandomPunch: opts.deferRandomPunch, randomPunchInterval: opts.randomPunchInterval }) }
    }
    super(opts)
    if (manageSwarm) this.peerwarden = manageSwarm(this, { lowWater: 64, highWater: 256 })
  }
}
module.exports = Swarm
`
}

function prepare (mode) {
  const dir = mkdtempSync(join(tmpdir(), `hyperswarm-suite-${mode}-`))
  cpSync(testDir, join(dir, 'test'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'hyperswarm', version: hyperswarmVersion, main: 'index.js' }))
  writeFileSync(join(dir, 'index.js'), shim(mode))
  symlinkSync(join(hyperswarmDir, 'lib'), join(dir, 'lib'))
  writeFileSync(join(dir, 'preload.mjs'), `import { manageSwarm } from ${JSON.stringify(pathToFileURL(adapter).href)}\nglobalThis.__peerwardenManageSwarm = manageSwarm\n`)
  return dir
}

/** The test names a brittle file declares at top level (a test that never ran still counts as failed). */
function declared (file) {
  const src = readFileSync(join(testDir, file), 'utf8')
  return [...src.matchAll(/^test\(\s*(['"`])(.*?)\1/gm)].map((m) => m[2])
}

function runFile (dir, mode, file) {
  return new Promise((resolveRun) => {
    const args = mode === 'managed' ? ['--import', './preload.mjs', join('test', file)] : [join('test', file)]
    const started = Date.now()
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, NODE_PATH: nodePath }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, opts.fileTimeout * 1000)
    child.on('close', (code) => {
      clearTimeout(timer)
      const results = new Map()
      for (const line of out.split('\n')) {
        const m = /^(not ok|ok) \d+ - (.*?)(?: # time = ([\d.]+)ms)?\s*$/.exec(line)
        if (m !== null && !results.has(m[2])) results.set(m[2], { ok: m[1] === 'ok', ms: m[3] === undefined ? undefined : Number(m[3]) })
      }
      resolveRun({ file, code, timedOut, out, results, ms: Date.now() - started })
    })
  })
}

async function runMode (mode) {
  const dir = prepare(mode)
  let pass = 0
  let total = 0
  const failures = []
  try {
    for (const file of files) {
      const names = declared(file)
      const r = await runFile(dir, mode, file)
      let filePass = 0
      for (const name of names) {
        const res = r.results.get(name)
        total++
        if (res?.ok === true) { pass++; filePass++ } else failures.push(`${file}: ${name}${res === undefined ? ' (never finished)' : ''}`)
      }
      const slow = [...r.results].filter(([, v]) => v.ms !== undefined && v.ms > 5_000).map(([k, v]) => `${k} ${(v.ms / 1000).toFixed(1)} s`)
      console.log(`  ${mode.padEnd(7)} ${file.padEnd(15)} ${filePass}/${names.length}  (${(r.ms / 1000).toFixed(1)} s${r.timedOut ? ', killed after ' + opts.fileTimeout + ' s' : ''})${slow.length > 0 ? '  slow: ' + slow.join('; ') : ''}`)
      if (opts.verbose || (filePass < names.length && process.env.HYPERSWARM_SUITE_LOG)) console.log(r.out.split('\n').map((l) => '      | ' + l).join('\n'))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return { mode, pass, total, failures }
}

console.log(`Hyperswarm suite from ${testDir}, against hyperswarm ${hyperswarmVersion}; adapter ${adapter}`)
const modes = opts.mode === 'both' ? ['plain', 'managed'] : [opts.mode]
const summaries = []
for (const mode of modes) summaries.push(await runMode(mode))
for (const s of summaries) {
  console.log(`${s.mode}: ${s.pass}/${s.total} pass`)
  for (const f of s.failures) console.log(`  failed: ${f}`)
}
process.exitCode = summaries.every((s) => s.pass === s.total) ? 0 : 1
