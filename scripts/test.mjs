// Runs the compiled tests (build/test/**/*.test.js) by tier, with the compact reporter.
//
//   node scripts/test.mjs [all|unit|net|lab] [--list] [--no-build] [--capacity=N] [--file-timeout=S] [--reporter=spec|tap|dot|<path>] [filter...]
//
// It first builds what is stale: dist/ (`npm run build`) when a file under src/ is newer than it,
// build/ (`npm run build:test`) when one under src/, test/ or bench/ is; so on a fresh clone
// `npm test` just works. `--no-build` runs what is there.
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
// Exit code: non-zero when a test failed (with CI=true also when one was skipped).
//
// A file that runs past its time (--file-timeout, FILE_TIMEOUT by default; twice that for the heavy
// and lab files) is stopped (SIGTERM) and fails; the reporter names the tests it was still running,
// or says that every test had finished and something kept its process alive (a socket, a timer, a
// child process). A hang costs one file, never the whole run.
//
// Scheduling (the suite stays under ~5 minutes on 2 cores): `node --test` alone runs
// availableParallelism() - 1 files at once, one on 2 cores, so every wall-clock wait of the socket
// tests added up. Here each file runs in a process of its own (node:test's run()), several at once:
// a file weighs the share of a core it keeps busy — 1 for the CPU-bound files of HEAVY_FILES (tsc,
// npm pack, Chromium, property runs) and the lab's, LIGHT_WEIGHT for the others (mostly waiting on
// sockets, timers and child processes) — and files start while the running ones weigh at most
// `--capacity` (cores + 1 by default), with at most cores - 1 of HEAVY_FILES at once while other
// files remain (a core stays with the files whose tests time real waits; after them, as many as
// cores) and never two lab files: on 2 cores one heavy file, a lab file and two light ones, or one
// heavy and four light, or six light, and at the end two heavy ones. The slowest files
// start first (HEAVY_FILES, then SLOW_FIRST, then path order), so that no long file starts last.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, isAbsolute, join, relative } from 'node:path'
import { Readable } from 'node:stream'
import { run } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const buildDir = join(root, 'build')

/** Folders whose every test is a unit test. */
const UNIT_DIRS = ['test/manager/', 'test/testing/']

/** Folders whose tests run real nodes on emulated hosts (the lab tier), unit files listed below aside. */
const LAB_DIRS = ['test/lab/']

/** Unit tests outside those folders (source paths). */
const UNIT_FILES = [
  'test/mesh/deadlines.test.ts',
  'test/mesh/invalid-outlier.test.ts',
  'test/mesh/redis-notify-decoder.test.ts',
  'test/mesh/queue-deadline.test.ts',
  'test/mesh/call-policies.test.ts',
  'test/mesh/registry-notices.test.ts',
  'test/node/discovery.test.ts',
  'test/node/first-contact.test.ts',
  'test/node/inbound-limits.test.ts',
  'test/node/topic-budgets.test.ts',
  'test/node/budget-options.test.ts',
  'test/adapters/hyperswarm-bans-rules.test.ts',
  'test/adapters/hyperswarm-options.test.ts',
  'test/adapters/hyperswarm-lookups.test.ts',
  'test/node/noise.test.ts',
  'test/node/write-budget-rule.test.ts',
  'test/node/receive-budget.test.ts',
  'test/node/queue-budget.test.ts',
  'test/node/sealed-writer.test.ts',
  'test/node/reach-fuzz.test.ts',
  'test/node/rendezvous.test.ts',
  'test/node/rendezvous-visits.test.ts',
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
  'test/hostile/rendezvous-sybils.test.ts',
  'test/hostile/room-tenure.test.ts',
  'test/adapters/hyperswarm-room-policy.test.ts',
  'test/adapters/libp2p-conformance.test.ts',
  'test/hostile/swarm-ban-restart.test.ts',
  'test/hostile/store-rows.test.ts',
  'test/contract/ban-corners.test.ts',
  'test/contract/bound-corners.test.ts',
  'test/contract/ban-adapters.test.ts'
]

/**
 * CPU-bound files (source paths), slowest first: each keeps about a core busy for most of its run
 * (measured alone: CPU seconds / wall seconds). They run in the heavy lane; the lab files too.
 */
const HEAVY_FILES = [
  'test/package-types.test.ts', // two tsc runs with skipLibCheck off (~30 s CPU)
  'test/pack.test.ts', // npm pack, tsc, packed-app processes (~20 s CPU)
  'test/docs.test.ts', // a TypeScript program over every example, then each example (~16 s CPU)
  'test/adapters/corestore-node.test.ts', // replication between real nodes (~11 s CPU)
  'test/adapters/corestore.test.ts', // Hyperswarm testnets and corestore replication (~10 s CPU)
  'test/manager/properties.test.ts', // property runs (~7 s CPU)
  'test/cli/mesh.test.ts', // CLI processes and mesh nodes (~7 s CPU)
  'test/manager/scale.test.ts', // 300 simulated managers (~5.5 s CPU)
  'test/dashboard/browser.test.ts', // Chromium (~5 s CPU)
  'test/cli/simulate.test.ts', // simulations in child processes (~5 s CPU)
  'test/hostile/channel-opens.test.ts', // thousands of channel opens (~5 s CPU)
  'test/mesh/fuzz-rpc-decoder.test.ts', // fuzzing the RPC decoder (~4.5 s CPU)
  'test/store/crash.test.ts' // writer processes doing heavy updates (~4 s CPU)
]

/**
 * At most this many HEAVY_FILES at once while other files are still to run or running: a core is
 * left to the files that wait on real time. Once only heavy files are left, as many as there are
 * cores (the heavy files, one after another, were the last minutes of the run: 10 min at load 24).
 */
const maxHeavy = Math.max(1, availableParallelism() - 1)
const maxHeavyAlone = Math.max(1, availableParallelism())

/** The weight of a file not in HEAVY_FILES: what most of them keep busy, measured alone. */
const LIGHT_WEIGHT = 0.5

/** Files that mostly wait (sockets, timers, child processes), longest first: started first in the light lane. */
const SLOW_FIRST = [
  'test/node/transport-hostile.test.ts',
  'test/cli/peerwarden.test.ts',
  'test/adapters/libp2p.test.ts',
  'test/dashboard/network-cli.test.ts',
  'test/adapters/libp2p-streams.test.ts',
  'test/node/node.test.ts',
  'test/node/hostile.test.ts',
  'test/mesh/redis-queue.test.ts',
  'test/adapters/hyperswarm-parity.test.ts',
  'test/mesh/mesh.test.ts',
  'test/mesh/registry-killed.test.ts',
  'test/adapters/hyperswarm.test.ts',
  'test/adapters/hyperswarm-room.test.ts',
  'test/node/bootstrap-release.test.ts',
  'test/dashboard/simulate-dashboard.test.ts',
  'test/mesh/registries.test.ts',
  'test/node/issue.test.ts'
]

/**
 * Seconds a file may run before it is stopped and fails (--file-timeout): far above any file's time
 * on a loaded 2-core machine, so only a hang reaches it (300 s cut test/cli/peerwarden.test.ts, which
 * takes 1 min 41 s at load 24 and 4 min 42 s at load 58). HEAVY_FILES and lab files get twice as long
 * (docs.test: 8 min 17 s at load 58).
 */
const FILE_TIMEOUT = 600

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
  console.error('usage: node scripts/test.mjs [all|unit|net|lab] [--list] [--no-build] [--capacity=N] [--file-timeout=S] [--reporter=spec|tap|dot|<path>] [filter...]')
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
let build = true
const cores = availableParallelism()
/** How many cores' worth of files run at once (--capacity): one more than there are, as most files wait. */
let capacity = cores + 1
let fileTimeout = FILE_TIMEOUT
let reporter = join(root, 'scripts', 'test-reporter.mjs')
const filters = []
for (const a of args) {
  if (a === 'all' || a === 'unit' || a === 'net' || a === 'lab') tier = a
  else if (a === '--list') list = true
  else if (a === '--no-build') build = false
  else if (a.startsWith('--reporter=')) reporter = a.slice('--reporter='.length)
  else if (a.startsWith('--capacity=')) {
    capacity = Number(a.slice('--capacity='.length))
    if (!(capacity >= 1)) usage(`--capacity must be a number >= 1, got ${a.slice('--capacity='.length)}`)
  } else if (a.startsWith('--file-timeout=')) {
    fileTimeout = Number(a.slice('--file-timeout='.length))
    if (!(fileTimeout > 0)) usage(`--file-timeout must be seconds > 0, got ${a.slice('--file-timeout='.length)}`)
  } else if (a === '--help' || a === '-h') usage()
  else if (a.startsWith('-')) usage(`unknown option ${a}`)
  else filters.push(a)
}

/** The newest modification time of the files under `dirs` (test/fixtures aside: not compiled), 0 for none. */
function newest (dirs) {
  let t = 0
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) { if (path !== join(root, 'test', 'fixtures')) walk(path) } else t = Math.max(t, statSync(path).mtimeMs)
    }
  }
  for (const d of dirs) if (existsSync(join(root, d))) walk(join(root, d))
  return t
}

/** When `output` was written (tsc rewrites every output on each run), 0 when it is missing. */
const builtAt = (output) => (existsSync(join(root, output)) ? statSync(join(root, output)).mtimeMs : 0)

/** Runs `npm run <script>`; exits with its status when it fails. */
function npmRun (script) {
  console.error(`scripts/test.mjs: ${script === 'build' ? 'dist/' : 'build/'} is stale, running npm run ${script} (--no-build to skip)`)
  const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (build) {
  const config = ['tsconfig.json', 'tsconfig.build.json'].map(builtAt)
  const src = Math.max(newest(['src']), ...config)
  // dist/ first: the package tests import the package itself, which resolves to dist/.
  if (builtAt('dist/index.js') < src) npmRun('build')
  if (builtAt('build/src/index.js') < Math.max(src, newest(['test', 'bench']))) npmRun('build:test')
}
if (!existsSync(join(buildDir, 'test'))) usage('build/test is missing: run `npm run build:test` first (or drop --no-build)')
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

const isLab = (source) => tierOf(source) === 'lab' && !UNIT_FILES.includes(source)
/**
 * Slowest first: the lab files (one after another, ~1.5 min in all: they start at once, lab.test.ts
 * the longest), the listed ones in their order, heavy ones first, then the rest in path order.
 */
const rank = (source) => {
  if (isLab(source)) return source === 'test/lab/lab.test.ts' ? -2 : -1
  const heavy = HEAVY_FILES.indexOf(source)
  if (heavy !== -1) return heavy
  const slow = SLOW_FIRST.indexOf(source)
  return slow === -1 ? Infinity : HEAVY_FILES.length + slow
}
/** The share of a core a file keeps busy while it runs. */
const weightOf = (source) => (HEAVY_FILES.includes(source) || isLab(source) ? 1 : LIGHT_WEIGHT)
const pending = [...chosen].sort((a, b) => rank(sourceOf(a)) - rank(sourceOf(b)) || (a < b ? -1 : 1))

/** node --test's way to load a reporter: a built-in name, a path, or a module; a class is instantiated. */
async function loadReporter (name) {
  const builtIn = await import('node:test/reporters')
  let r = Object.hasOwn(builtIn, name) ? builtIn[name] : (await import(pathToFileURL(isAbsolute(name) ? name : join(process.cwd(), name)).href)).default
  if (r?.prototype !== undefined && Object.getOwnPropertyDescriptor(r.prototype, 'constructor') !== undefined) r = new r()
  return r
}

// The events of every file's run, in the order they come, into one reporter.
const queue = []
let wake
let failed = false
let runningLanes = 0 // 1 while files are being run
const abort = new AbortController()
async function * events () {
  for (;;) {
    while (queue.length > 0) yield queue.shift()
    if (runningLanes === 0) return
    await new Promise((resolve) => { wake = resolve })
  }
}
const push = (event) => {
  // A failing test, or a file that failed by itself (a hook, a load error, its process exiting badly).
  if (event.type === 'test:fail' && (event.data.todo === undefined || event.data.todo === false)) failed = true
  queue.push(event)
  wake?.()
}
/**
 * Starts files while the weights of the running ones fit in `capacity`, slowest first; a file that
 * does not fit lets a lighter one behind it go first. Lab files never run next to each other.
 */
async function runAll () {
  let load = 0
  let lab = false
  let heavy = 0
  const running = new Set()
  const isHeavy = (source) => HEAVY_FILES.includes(source)
  // Files that are not heavy, pending or running: while there are any, the heavy ones keep to maxHeavy.
  let others = pending.filter((f) => !isHeavy(sourceOf(f))).length
  const heavyLimit = () => (others > 0 ? maxHeavy : maxHeavyAlone)
  const fits = (source) => (running.size === 0 || load + weightOf(source) <= capacity + 1e-9) && !(lab && isLab(source)) && !(isHeavy(source) && heavy >= heavyLimit())
  while (pending.length > 0 && !abort.signal.aborted) {
    const i = pending.findIndex((f) => fits(sourceOf(f)))
    if (i === -1) {
      await Promise.race(running)
      continue
    }
    const [f] = pending.splice(i, 1)
    const source = sourceOf(f)
    const weight = weightOf(source)
    load += weight
    if (isLab(source)) lab = true
    if (isHeavy(source)) heavy++
    const timeout = fileTimeout * 1000 * (weight === 1 ? 2 : 1)
    const stream = run({ files: [f], signal: abort.signal, timeout })
    // The file an event came from, for tests declared in a shared helper (their `file` is the helper's).
    stream.on('data', (event) => { if (event.data !== undefined && event.data !== null) event.data.runFile = f; push(event) })
    const done = new Promise((resolve) => { stream.once('end', resolve); stream.once('error', resolve) }).then(() => {
      running.delete(done)
      load -= weight
      if (isLab(source)) lab = false
      if (isHeavy(source)) heavy--
      else others--
    })
    running.add(done)
  }
  await Promise.all(running)
}

const forward = () => { abort.abort() }
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
runningLanes = 1
runAll().finally(() => { runningLanes--; wake?.() })
const reporterStream = Readable.from(events()).compose(await loadReporter(reporter))
reporterStream.pipe(process.stdout)
reporterStream.once('end', () => {
  if (failed || abort.signal.aborted) process.exitCode = 1
})
