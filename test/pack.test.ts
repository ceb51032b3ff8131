// The package as npm publishes it: what the tarball holds, and what an application that installed
// it without any optional peer dependency can do with it (CommonJS require, types, clear errors).
// Uses the built dist/ (npm run build first); packs with --ignore-scripts so it never rebuilds dist
// under the other tests' feet.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string }
  exports: Record<string, string | Record<string, string>>
  dependencies: Record<string, string>
  peerDependencies: Record<string, string>
}
/** Packages an application may leave out: the tests below install none of them. */
const OPTIONAL = Object.keys(pkg.peerDependencies)
const SUBPATHS = Object.keys(pkg.exports).filter((p) => p !== './package.json').map((p) => posix.join('peerwarden', p))

function npm (args: string[], cwd: string): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`)
  return r.stdout
}

interface PackedFile { path: string }
/** The files of the tarball (the one packed for the app below: one `npm pack`, not a dry run and a real one). */
let files: Set<string>

test('the tarball holds the license, the readme, and every file the exports map names', () => {
  for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']) assert.ok(files.has(f), `${f} is not in the package`)
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
      assert.ok(files.has(posix.normalize(file)), `${subpath} points at ${file}, which is not in the package`)
    }
  }
  assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 peerwarden contributors\n/)
  assert.ok(![...files].some((f) => f.startsWith('build/') || f.startsWith('test/')), 'no build output of the tests ships')
})

test('no source map in the tarball points at a file the tarball does not hold', () => {
  for (const f of files) {
    if (!f.endsWith('.map')) continue
    const map = JSON.parse(readFileSync(join(root, f), 'utf8')) as { sources: string[]; sourceRoot?: string }
    for (const source of map.sources) {
      const shipped = posix.normalize(posix.join(posix.dirname(f), map.sourceRoot ?? '', source))
      assert.ok(files.has(shipped), `${f} points at ${shipped}, which is not in the package`)
    }
  }
})

test('no declaration in the tarball declares an ambient module, references a file by path, or names an unshipped file', () => {
  let declarations = 0
  for (const f of files) {
    if (!f.endsWith('.d.ts')) continue
    declarations++
    const text = readFileSync(join(root, f), 'utf8')
    assert.doesNotMatch(text, /^\s*declare module ['"]/m, `${f} declares an ambient module: it would override an application's own types`)
    assert.doesNotMatch(text, /^\/\/\/ <reference path=/m, `${f} references a file by path`)
    assert.doesNotMatch(text, /from '(sodium-native|protomux|compact-encoding|@hyperswarm\/secret-stream)'/, `${f} imports an untyped module`)
    for (const [ref] of text.matchAll(/(?<![\w/.@-])(?:src|test|bench|docs|scripts)\/[\w./-]*\w/g)) {
      assert.ok(files.has(ref), `${f} mentions ${ref}, which is not in the package`)
    }
  }
  assert.ok(declarations > 10, `only ${declarations} declarations`)
  assert.ok(!existsSync(join(root, 'dist/node/vendor.d.ts')), 'no vendor.d.ts in dist')
})

// `npm publish` normalises package.json and warns about what it changed: a bin path written
// "./dist/…" read as "script name dist/cli/peerwarden.js was invalid and removed" (it was only
// rewritten). What npm would fix is fixed here instead.
test('npm pkg fix changes nothing in package.json (npm publish would rewrite it and warn)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerwarden-pkg-fix-'))
  try {
    cpSync(join(root, 'package.json'), join(dir, 'package.json'))
    npm(['pkg', 'fix'], dir)
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')), pkg)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("the machine's node satisfies engines.node", () => {
  const min = /^>=(\d+)\.(\d+)(?:\.(\d+))?$/.exec(pkg.engines.node)
  assert.ok(min !== null, `engines.node is ${pkg.engines.node}`)
  const [major, minor, patch] = process.versions.node.split('.').map(Number)
  const want = [Number(min[1]), Number(min[2]), Number(min[3] ?? 0)]
  const have = [major, minor, patch]
  const cmp = have.findIndex((v, i) => v !== want[i])
  assert.ok(cmp === -1 || have[cmp] > want[cmp], `node ${process.versions.node} does not satisfy ${pkg.engines.node}`)
})

// ── an application that installed the tarball and none of the optional peer dependencies ───────

let app: string

before(() => {
  const tmp = mkdtempSync(join(tmpdir(), 'peerwarden-pack-'))
  app = join(tmp, 'app')
  mkdirSync(join(app, 'node_modules'), { recursive: true })
  const [report] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root)) as Array<{ filename: string; files: PackedFile[] }>
  files = new Set(report.files.map((f) => f.path))
  const r = spawnSync('tar', ['xzf', join(tmp, report.filename), '-C', tmp])
  assert.equal(r.status, 0, String(r.stderr))
  renameSync(join(tmp, 'package'), join(app, 'node_modules', 'peerwarden'))
  // The runtime dependencies as npm would install them (linked from ours), and Node's types for tsc.
  for (const name of [...Object.keys(pkg.dependencies), '@types/node']) {
    mkdirSync(dirname(join(app, 'node_modules', name)), { recursive: true })
    symlinkSync(join(root, 'node_modules', name), join(app, 'node_modules', name), 'dir')
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }))
})

after(() => { if (app !== undefined) rmSync(dirname(app), { recursive: true, force: true }) })

/** Runs `source` as `file` in the app with node; returns what it printed as JSON. */
function run (file: string, source: string): unknown {
  writeFileSync(join(app, file), source)
  const env = { ...process.env }
  delete env.NODE_PATH
  delete env.NODE_OPTIONS
  const r = spawnSync(process.execPath, [file], { cwd: app, encoding: 'utf8', timeout: 30_000, env })
  assert.equal(r.status, 0, `${file} failed:\n${r.stdout}${r.stderr}`)
  return JSON.parse(r.stdout)
}

test('the app cannot see the optional peer dependencies (else the tests below prove nothing)', () => {
  const seen = run('probe.cjs', `
    const require2 = require('node:module').createRequire(require.resolve('peerwarden'))
    const seen = []
    for (const name of ${JSON.stringify(OPTIONAL)}) { try { require2.resolve(name); seen.push(name) } catch {} }
    console.log(JSON.stringify(seen))`)
  assert.deepEqual(seen, [])
})

test('every entry point loads from CommonJS with require() (require(esm)), without the optional dependencies', () => {
  const loaded = run('consumer.cjs', `
    const out = {}
    for (const path of ${JSON.stringify(SUBPATHS)}) {
      try { out[path] = Object.keys(require(path)).sort() } catch (err) { out[path] = String(err.code) + ': ' + err.message }
    }
    console.log(JSON.stringify(out))`) as Record<string, string[] | string>
  for (const path of SUBPATHS) assert.ok(Array.isArray(loaded[path]) && loaded[path].length > 0, `require('${path}'): ${String(loaded[path])}`)
  assert.ok(loaded.peerwarden.includes('createConnectionManager'))
  assert.ok(loaded['peerwarden/node'].includes('createNode'))
  assert.ok(loaded['peerwarden/libp2p'].includes('peerwarden'))
})

test('CommonJS gets the same module objects as ESM (one copy of the classes: instanceof holds across both)', () => {
  const same = run('same.mjs', `
    import { createRequire } from 'node:module'
    import * as esm from 'peerwarden'
    const cjs = createRequire(import.meta.url)('peerwarden')
    console.log(JSON.stringify(cjs.PeerwardenError === esm.PeerwardenError && cjs.createConnectionManager === esm.createConnectionManager))`)
  assert.equal(same, true)
})

test('a node without a dataDir starts and closes without better-sqlite3', { timeout: 40_000 }, () => {
  const out = run('node.mjs', `
    import { createNode } from 'peerwarden/node'
    const node = await createNode({ listen: ['tcp://127.0.0.1:0'] })
    const listening = node.addresses.length
    await node.close()
    console.log(JSON.stringify({ listening }))`) as { listening: number }
  assert.ok(out.listening > 0)
})

test('each feature that needs a missing optional dependency fails with ERR_MISSING_DEPENDENCY naming what to install', { timeout: 40_000 }, () => {
  const out = run('missing.mjs', `
    import { mkdtempSync } from 'node:fs'
    import { tmpdir } from 'node:os'
    import { join } from 'node:path'
    import { createConnectionManager, sqliteStore } from 'peerwarden'
    import { createNode } from 'peerwarden/node'
    import { serveDashboard, ManagerMetrics } from 'peerwarden/dashboard'
    import { peerwarden } from 'peerwarden/libp2p'
    import { createNetworker } from 'peerwarden/corestore'
    // Not an entry point: the queue behind createMeshNode({ redis }), loaded from the packed file.
    const { RedisQueue } = await import(new URL('./node_modules/peerwarden/dist/mesh/redis-queue.js', import.meta.url))
    const dir = mkdtempSync(join(tmpdir(), 'peerwarden-missing-'))
    const manager = createConnectionManager({ dial: async () => { throw new Error('no dials here') } })
    const outcome = async (fn) => { try { await fn(); return 'no error' } catch (err) { return { code: err.code, message: err.message } } }
    console.log(JSON.stringify({
      redis: await outcome(() => new RedisQueue('redis://127.0.0.1:1')),
      metrics: await outcome(() => new ManagerMetrics(manager)),
      dashboard: await outcome(() => serveDashboard(manager)),
      sqliteStore: await outcome(() => sqliteStore(join(dir, 'peers.db')).load()),
      dataDir: await outcome(() => createNode({ dataDir: dir, listen: ['tcp://127.0.0.1:0'] })),
      libp2p: await outcome(() => peerwarden()),
      corestore: await outcome(() => createNetworker({ replicate () {} })),
    }))
    await manager.close()`) as Record<string, { code: string; message: string } | string>
  const expect: Record<string, RegExp> = {
    redis: /^install ioredis to use the Redis queue.*: npm install ioredis$/,
    metrics: /^install prom-client to use the Prometheus metrics.*: npm install prom-client$/,
    dashboard: /^install prom-client .*: npm install prom-client$/,
    sqliteStore: /^install better-sqlite3 to use sqliteStore: npm install better-sqlite3$/,
    dataDir: /^install better-sqlite3 to use a dataDir.*: npm install better-sqlite3$/,
    libp2p: /^install libp2p to use peerwarden\/libp2p: npm install libp2p @multiformats\/multiaddr$/,
    corestore: /^install hyperswarm to use peerwarden\/corestore: npm install hyperswarm$/
  }
  for (const [feature, message] of Object.entries(expect)) {
    const got = out[feature]
    assert.ok(typeof got === 'object', `${feature}: ${String(got)}`)
    assert.equal(got.code, 'ERR_MISSING_DEPENDENCY', `${feature}: ${got.code} ${got.message}`)
    assert.match(got.message, message, feature)
  }
})

// tsc with skipLibCheck off is CPU-bound (~15 s alone): the timeouts are hang guards sized for a
// loaded machine (60 s ran out there, and spawnSync's kill read as a tsc failure), not speed bounds.
test('every entry point but the dashboard type-checks without the optional dependencies, next to own types for sodium-native and protomux', { timeout: 240_000 }, () => {
  for (const f of ['consumer-core.ts', 'consumer-own-types.ts', 'own-vendor-types.d.ts']) cpSync(join(root, 'test/fixtures', f), join(app, f))
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
    '--types', 'node', '--skipLibCheck', 'false', 'consumer-core.ts', 'consumer-own-types.ts', 'own-vendor-types.d.ts'], { cwd: app, encoding: 'utf8', timeout: 200_000 })
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`)
})

// The README tells a TypeScript project that compiles to CommonJS to write `import … = require()`:
// under `tsc --init`'s options (verbatimModuleSyntax) `import … from` is refused in a CommonJS file.
test('a TypeScript project compiled to CommonJS under the options tsc --init writes imports the package with import = require(), and the output runs', { timeout: 240_000 }, () => {
  writeFileSync(join(app, 'cjs-consumer.cts'), [
    "import pw = require('peerwarden')",
    "import testing = require('peerwarden/testing')",
    'const manager = pw.createConnectionManager({ dial: async () => { throw new Error(\'no dials\') }, clock: new testing.ManualClock() })',
    'const connections: number = manager.stats().connections',
    'void manager.close().then(() => { console.log(JSON.stringify({ connections, error: pw.PeerwardenError.name })) })'
  ].join('\n'))
  const r = spawnSync(process.execPath, [tsc, '--module', 'nodenext', '--target', 'esnext', '--types', 'node', '--strict', '--noUncheckedIndexedAccess',
    '--exactOptionalPropertyTypes', '--verbatimModuleSyntax', '--isolatedModules', '--skipLibCheck', 'cjs-consumer.cts'], { cwd: app, encoding: 'utf8', timeout: 200_000 })
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`)
  assert.match(readFileSync(join(app, 'cjs-consumer.cjs'), 'utf8'), /require\("peerwarden"\)/)
  assert.deepEqual(run('cjs-consumer.cjs', readFileSync(join(app, 'cjs-consumer.cjs'), 'utf8')), { connections: 0, error: 'PeerwardenError' })
})

// TypeScript 5's `tsc --init` wrote "module": "commonjs", whose resolution (node10) reads no
// "exports": without "typesVersions", every subpath import failed with TS2307 there.
test("typesVersions maps every subpath of exports to that subpath's declarations", () => {
  const versions = (pkg as unknown as { typesVersions: Record<string, Record<string, string[]>> }).typesVersions
  const expected = Object.fromEntries(Object.entries(pkg.exports).filter(([k]) => k !== '.' && k !== './package.json').map(([k, v]) => [k.slice(2), [(v as Record<string, string>).types!]]))
  assert.deepEqual(versions, { '*': expected })
})

test("a TypeScript project as TypeScript 5's tsc --init wrote it (module commonjs, node10 resolution, esModuleInterop) finds every entry point's types, and runs", { timeout: 240_000 }, () => {
  const names = SUBPATHS.map((path, i) => ({ path, name: `m${i}` }))
  writeFileSync(join(app, 'ts5-consumer.ts'), [
    ...names.map(({ path, name }) => `import * as ${name} from '${path}'`),
    `console.log(JSON.stringify([${names.map(({ name }) => `Object.keys(${name}).length`).join(', ')}]))`
  ].join('\n'))
  const r = spawnSync(process.execPath, [tsc, '--module', 'commonjs', '--target', 'es2016', '--esModuleInterop', '--forceConsistentCasingInFileNames', '--strict',
    '--skipLibCheck', '--types', 'node', 'ts5-consumer.ts'], { cwd: app, encoding: 'utf8', timeout: 200_000 })
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`)
  const counts = run('ts5-consumer.cjs', readFileSync(join(app, 'ts5-consumer.js'), 'utf8')) as number[]
  assert.equal(counts.length, SUBPATHS.length)
  assert.ok(counts.every((n) => n > 0), `every entry point has exports: ${counts.join(', ')}`)
})

test('the installed command runs: --help lists every subcommand, and lab list finds the scenarios the package ships', { timeout: 40_000 }, () => {
  const bin = join(app, 'node_modules/peerwarden', (pkg as unknown as { bin: Record<string, string> }).bin.peerwarden)
  const cli = (...args: string[]): string => {
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: app, encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 0, `peerwarden ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`)
    return r.stdout
  }
  const help = cli('--help')
  for (const command of ['node', 'simulate', 'mesh', 'lab']) assert.match(help, new RegExp(`^ {2}${command}\\b`, 'm'), `--help lists ${command}`)
  // From an installed package the lab once listed nothing: its scenarios were not in the tarball.
  assert.match(cli('lab', 'list'), /^converge\b/m)
})

test("the installed command's node without better-sqlite3 and the default data directory says what to install, or how to do without (exit 2)", { timeout: 40_000 }, () => {
  const bin = join(app, 'node_modules/peerwarden', (pkg as unknown as { bin: Record<string, string> }).bin.peerwarden)
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-nodb-'))
  try {
    const r = spawnSync(process.execPath, [bin, 'node', '--listen', 'tcp://127.0.0.1:0'], { cwd: dir, encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 2, `${r.stdout}${r.stderr}`)
    assert.match(r.stderr, /^peerwarden: install better-sqlite3 .*npm install better-sqlite3 \(or --data-dir '' to keep nothing on disk\)$/m)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

/** The README's runnable examples whose every import is Node's own or an entry point that needs no optional dependency. */
function readmeExamplesWithoutOptionalDependencies (): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8').split('\n')
  const blocks: string[] = []
  for (let i = 0; i < readme.length; i++) {
    if (!/^```ts\s*$/.test(readme[i]!)) continue
    const end = readme.indexOf('```', i + 1)
    const code = readme.slice(i + 1, end).join('\n')
    const fragment = /^<!--\s*fragment:/.test(readme[i - 1] ?? '')
    const imports = [...code.matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1]!)
    if (!fragment && imports.every((m) => m.startsWith('node:') || ['peerwarden', 'peerwarden/node', 'peerwarden/mesh', 'peerwarden/testing'].includes(m))) blocks.push(code)
    i = end
  }
  return blocks
}

// test/docs.test.ts runs every example inside the repository, where each optional dependency is
// installed and 'peerwarden' resolves to the working tree: this runs them where a newcomer would.
test("the README's examples run by package name in the app, without any optional dependency", { timeout: 120_000 }, async () => {
  const { default: ts } = await import('typescript')
  const examples = readmeExamplesWithoutOptionalDependencies()
  assert.ok(examples.length >= 4, `only ${examples.length} README examples need no optional dependency`)
  examples.forEach((code, i) => {
    const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    writeFileSync(join(app, `readme-${i}.mjs`), js)
    const r = spawnSync(process.execPath, [`readme-${i}.mjs`], { cwd: app, encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, 0, `README example ${i + 1} (${/from '([^']+)'/.exec(code.split('\n').find((l) => l.includes("from 'peerwarden")) ?? '')?.[1]}) failed in the app:\n${r.stdout}${r.stderr}`)
  })
})
