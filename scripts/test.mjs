// Runs the compiled tests (build/test/**/*.test.js) by tier, with the compact reporter.
//
//   node scripts/test.mjs [all|unit|net|lab] [--list] [--reporter=spec|tap|dot|<path>] [filter...]
//
// Tiers (the one place they are decided):
// - unit: virtual time, no sockets, no Redis, no child processes, no browser; the whole tier runs in
//   seconds. Everything under test/manager and test/testing, plus the files listed in UNIT_FILES
//   (pure parts of other layers: decoders, ciphers, timers, tables, the SQLite store on a temp file).
// - net: everything else (real sockets on 127.0.0.1, Redis, libp2p, Hyperswarm, child processes,
//   the dashboard page under jsdom).
// - lab: test/lab (real node processes on emulated hosts: network namespaces, nftables; Linux and
//   root). Small scenarios, about a minute in all. Where the lab cannot run they report themselves
//   skipped with the reason (with CI=true that fails, as CI runs as root).
// A new test file lands in `net` unless it is placed in a unit folder or listed below. A unit file
// that imports a socket, process or network library fails the run (move it to `net`).
//
// `filter`s keep the files whose path contains one of them (`node scripts/test.mjs unit rank`).
// Exit code: node --test's (non-zero when a test failed; with CI=true also when one was skipped).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const buildDir = join(root, 'build')

/** Folders whose every test is a unit test. */
const UNIT_DIRS = ['test/manager/', 'test/testing/']

/** Folders whose tests run real nodes on emulated hosts (the lab tier), unit files listed below aside. */
const LAB_DIRS = ['test/lab/']

/** Unit tests outside those folders (source paths). */
const UNIT_FILES = [
  'test/mesh/deadlines.test.ts',
  'test/mesh/call-policies.test.ts',
  'test/node/discovery.test.ts',
  'test/node/inbound-limits.test.ts',
  'test/node/noise.test.ts',
  'test/node/write-budget-rule.test.ts',
  'test/node/receive-budget.test.ts',
  'test/node/reach-fuzz.test.ts',
  'test/node/rendezvous.test.ts',
  'test/node/timers.test.ts',
  'test/node/liveness.test.ts',
  'test/node/transport-cipher.test.ts',
  'test/store/sqlite-store.test.ts',
  'test/package.test.ts',
  'test/contract/memory.test.ts',
  'test/logger.test.ts',
  'test/lab/plan.test.ts',
  'test/node/node-dial.test.ts',
  'test/dashboard/history.test.ts',
  'test/cli/log-limit.test.ts',
  'test/cli/progress.test.ts',
  'test/cli/mesh-plan.test.ts',
  'test/mesh/health.test.ts',
  'test/adapters/corestore-replication.test.ts',
  'test/adapters/ssb-api.test.ts',
  'test/adapters/ssb-hostile.test.ts',
  'test/hostile/topic-eclipse.test.ts',
  'test/hostile/exploration-bias.test.ts',
  'test/hostile/hello-fields.test.ts',
  'test/hostile/relay-circuits.test.ts',
  'test/hostile/dial-back-punch.test.ts',
  'test/hostile/rendezvous-sybils.test.ts'
]

/** What a unit test must not import or call: it would open a socket, a process or a browser. */
const NOT_IN_UNIT = [
  /from '(node:)?(net|http|https|dgram|child_process|worker_threads|cluster)'/,
  /from '(ioredis|hyperswarm|libp2p|jsdom|socket\.io[^']*)'/,
  /from '@(hyperswarm|libp2p|chainsafe)\//,
  /from '[^']*helpers\/(nodes|redis)\.js'/,
  /\b(createNode|createMeshNode|createRegistry|serveDashboard)\s*\(/
]

function usage (message) {
  if (message !== undefined) console.error(message)
  console.error('usage: node scripts/test.mjs [all|unit|net|lab] [--list] [--reporter=spec|tap|dot|<path>] [filter...]')
  process.exit(2)
}

function findTests (dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...findTests(path))
    else if (entry.name.endsWith('.test.js')) out.push(path)
  }
  return out
}

/** build/test/x/y.test.js → test/x/y.test.ts */
function sourceOf (built) {
  return relative(buildDir, built).replace(/\.js$/, '.ts')
}

function tierOf (source) {
  if (UNIT_DIRS.some((d) => source.startsWith(d)) || UNIT_FILES.includes(source)) return 'unit'
  return LAB_DIRS.some((d) => source.startsWith(d)) ? 'lab' : 'net'
}

const args = process.argv.slice(2)
let tier = 'all'
let list = false
let reporter = join(root, 'scripts', 'test-reporter.mjs')
const filters = []
for (const a of args) {
  if (a === 'all' || a === 'unit' || a === 'net' || a === 'lab') tier = a
  else if (a === '--list') list = true
  else if (a.startsWith('--reporter=')) reporter = a.slice('--reporter='.length)
  else if (a === '--help' || a === '-h') usage()
  else if (a.startsWith('-')) usage(`unknown option ${a}`)
  else filters.push(a)
}

if (!existsSync(join(buildDir, 'test'))) usage('build/test is missing: run `npm run build:test` first')
const all = findTests(join(buildDir, 'test')).sort()

// Every unit file listed must exist (a renamed test must not silently leave the tier).
const sources = new Set(all.map(sourceOf))
const missing = UNIT_FILES.filter((f) => !sources.has(f))
if (missing.length > 0) usage(`scripts/test.mjs lists unit tests that were not built: ${missing.join(', ')}`)

const chosen = all.filter((f) => {
  const source = sourceOf(f)
  if (tier !== 'all' && tierOf(source) !== tier) return false
  return filters.length === 0 || filters.some((s) => source.includes(s))
})

// A unit test stays one: no sockets, processes or browsers.
const offenders = []
for (const f of chosen) {
  const source = sourceOf(f)
  if (tierOf(source) !== 'unit' || !existsSync(join(root, source))) continue
  const text = readFileSync(join(root, source), 'utf8')
  const hit = NOT_IN_UNIT.find((re) => re.test(text))
  if (hit !== undefined) offenders.push(`${source} (matches ${hit})`)
}
if (offenders.length > 0) {
  console.error(`unit tests that use sockets, processes or a browser (list them as net in scripts/test.mjs):\n  ${offenders.join('\n  ')}`)
  process.exit(2)
}

if (list) {
  for (const f of chosen) console.log(`${tierOf(sourceOf(f)).padEnd(4)} ${sourceOf(f)}`)
  process.exit(0)
}
if (chosen.length === 0) usage(`no ${tier} test matches ${filters.join(' ')}`)

const builtIn = ['spec', 'tap', 'dot', 'junit', 'lcov']
const reporterArg = builtIn.includes(reporter) || reporter.startsWith('/') ? reporter : join(process.cwd(), reporter)
const child = spawn(process.execPath, ['--test', `--test-reporter=${reporterArg}`, '--test-reporter-destination=stdout', ...chosen.map((f) => relative(root, f))], { cwd: root, stdio: 'inherit' })
const forward = (signal) => { child.kill(signal) }
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === null ? 1 : 128))
})
