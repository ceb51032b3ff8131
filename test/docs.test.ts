import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { redisSkip, startRedis } from './helpers/redis.js'
import { tableNames } from './helpers/doc-tables.js'

// Every ```ts / ```js block of README.md and docs/*.md runs as written, or is marked as a fragment;
// so does every program in examples/ (a .ts one type-checked as a block is; a .cjs one run as is).
//
// - A runnable block is type-checked against the built package's declarations, then compiled as it
//   is (ts.transpileModule) and run in a process of its own with a hard timeout; it must exit 0.
//   It is written under build/ so 'peerwarden', 'peerwarden/node'… resolve by self-reference to
//   dist/. Examples check their own results with node:assert, so a broken feature fails its block.
// - A fragment has `<!-- fragment: why -->` on the line before its fence; it is only parsed.
// - A block that uses 'redis://127.0.0.1:6379' runs against a private redis-server on a free port
//   (skipped without one, as the other Redis tests are).
// - Other languages (sh, text, none) are not run.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const OUT = `${ROOT}build/docs-examples/`
const RUN_TIMEOUT = 60_000
const FRAGMENT = /^<!--\s*fragment:\s*\S.*-->\s*$/

interface Block { file: string; line: number; lang: string; code: string; fragment: boolean }

/** The fenced code blocks of one Markdown file. */
function codeBlocks (file: string, text: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!)
    if (open === null) continue
    const start = i
    let end = i + 1
    while (end < lines.length && lines[end] !== '```') end++
    assert.ok(end < lines.length, `${file}:${start + 1}: a code block that never closes`)
    const before = start > 0 ? lines[start - 1]!.trim() : ''
    blocks.push({ file, line: start + 1, lang: open[1]!, code: lines.slice(start + 1, end).join('\n') + '\n', fragment: FRAGMENT.test(before) })
    i = end
  }
  return blocks
}

function docFiles (): string[] {
  const docs = readdirSync(`${ROOT}docs`).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)
  return ['README.md', ...docs]
}

/** The programs of examples/, each a block of its own (lang 'ts' or 'cjs'). */
const programs: Block[] = readdirSync(`${ROOT}examples`).filter((f) => /\.(ts|cjs)$/.test(f)).sort().map((f) => ({
  file: `examples/${f}`, line: 1, lang: f.endsWith('.ts') ? 'ts' : 'cjs', code: readFileSync(`${ROOT}examples/${f}`, 'utf8'), fragment: false
}))
const all = [...docFiles().flatMap((file) => codeBlocks(file, readFileSync(`${ROOT}${file}`, 'utf8'))), ...programs]
const code = all.filter((b) => b.lang === 'ts' || b.lang === 'js')
const runnable = all.filter((b) => !b.fragment && (b.lang === 'ts' || b.lang === 'js' || b.lang === 'cjs'))
/** Modules the examples import that ship no type declarations. */
const UNTYPED = ['hyperswarm', '@hyperswarm/testnet', 'corestore']
const name = (b: Block): string => `${b.file.replace(/[/.]/g, '-')}-${b.line}`

test('every fragment marker stands right before a code block', () => {
  for (const file of docFiles()) {
    const lines = readFileSync(`${ROOT}${file}`, 'utf8').split('\n')
    lines.forEach((l, i) => {
      if (FRAGMENT.test(l.trim())) assert.match(lines[i + 1] ?? '', /^```\w/, `${file}:${i + 1}: a fragment marker not followed by a code block`)
    })
  }
})

test('the README has a runnable example for every entry point that needs no outside service', () => {
  const readme = runnable.filter((b) => b.file === 'README.md').map((b) => b.code)
  for (const entry of ['peerwarden', 'peerwarden/node', 'peerwarden/mesh', 'peerwarden/testing', 'peerwarden/dashboard', 'peerwarden/hyperswarm']) {
    assert.ok(readme.some((c) => c.includes(`from '${entry}'`)), `a runnable README example imports '${entry}'`)
  }
})

test('fragments parse', () => {
  for (const b of code.filter((b) => b.fragment)) {
    const out = ts.transpileModule(b.code, { reportDiagnostics: true, fileName: `${name(b)}.mts`, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    const errors = (out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    assert.deepEqual(errors, [], `${b.file}:${b.line}`)
  }
})

/**
 * What a fragment's type check may still catch though it stands on names it does not declare: an
 * option or a member the package does not have ("Object literal may only specify known properties",
 * "Property … does not exist", "did you mean"), a name an entry point does not export.
 */
const FRAGMENT_CHECKS = new Set([2353, 2339, 2551, 2561, 2305, 2724])

/**
 * The compiler options a newcomer's project has: what `npx tsc --init` writes (TypeScript 6 and 7:
 * strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, verbatimModuleSyntax…) with
 * `"types": ["node"]`, as the README says. `registry.addresses[0]` is `string | undefined` there.
 */
const NEWCOMER: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
  moduleDetection: ts.ModuleDetectionKind.Force,
  noEmit: true,
  skipLibCheck: true
}
/** Pages whose examples pass plain `strict` but not yet a newcomer's tsconfig (index access without `!`); each leaves this list once fixed. */
const NEWCOMER_PENDING = new Set<string>()

/** The type errors of `files` under `options`: every one in a runnable example, only `FRAGMENT_CHECKS` in a fragment. */
function typeErrors (files: readonly string[], fragments: readonly string[], options: ts.CompilerOptions): string[] {
  const program = ts.createProgram([...files, ...fragments, `${OUT}vendor.d.ts`], options)
  const checked = (d: ts.Diagnostic): boolean => d.file === undefined || files.includes(d.file.fileName) || (fragments.includes(d.file.fileName) && FRAGMENT_CHECKS.has(d.code))
  return ts.getPreEmitDiagnostics(program).filter(checked).map((d) => {
    const where = d.file !== undefined && d.start !== undefined ? `${d.file.fileName.slice(OUT.length)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : ''
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`
  })
}

test('runnable examples type-check against the package under the tsconfig `tsc --init` writes; fragments name only options, members and exports that exist', () => {
  mkdirSync(OUT, { recursive: true })
  const written = runnable.filter((b) => b.lang !== 'cjs').map((b) => {
    const f = `${OUT}${name(b)}.mts`
    writeFileSync(f, b.lang === 'js' ? `// @ts-nocheck\n${b.code}` : b.code)
    return { f, pending: NEWCOMER_PENDING.has(b.file) }
  })
  const fragments = code.filter((b) => b.fragment && b.lang === 'ts').map((b) => {
    const f = `${OUT}${name(b)}.mts`
    writeFileSync(f, `export {}\n${b.code}`)
    return f
  })
  // Hyperswarm ships no declarations: an application declares the module, as docs/hyperswarm.md says.
  writeFileSync(`${OUT}vendor.d.ts`, UNTYPED.map((m) => `declare module '${m}'\n`).join(''))
  const ready = written.filter((w) => !w.pending).map((w) => w.f)
  const pending = written.filter((w) => w.pending).map((w) => w.f)
  const strictOnly: ts.CompilerOptions = { ...NEWCOMER, noUncheckedIndexedAccess: false, exactOptionalPropertyTypes: false }
  assert.deepEqual([...typeErrors(ready, fragments, NEWCOMER), ...typeErrors(pending, [], strictOnly)], [])
})

// The vendor.d.ts above hides from the type check that these modules ship no types: a newcomer's
// strict tsc stops at their import (TS7016) unless the page says how to declare them.
test('a page whose runnable examples import a module without types says how to declare it', () => {
  for (const file of docFiles()) {
    const used = UNTYPED.filter((m) => runnable.some((b) => b.file === file && b.code.includes(`from '${m}'`)))
    const text = readFileSync(`${ROOT}${file}`, 'utf8')
    for (const m of used) assert.ok(text.includes(`declare module '${m}'`) || (text.includes('declare module') && text.includes(`\`${m}\``)), `${file} imports '${m}' (no types) without saying \`declare module '${m}'\``)
  }
})

async function run (source: string, file: string, lang: string): Promise<{ code: number | null; out: string }> {
  const js = lang === 'cjs' ? source : ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
  mkdirSync(OUT, { recursive: true })
  const path = `${OUT}${file}.${lang === 'cjs' ? 'cjs' : 'mjs'}`
  writeFileSync(path, js)
  const child = spawn(process.execPath, [path], { cwd: OUT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, RUN_TIMEOUT)
  const code = await new Promise<number | null>((resolve) => { child.once('exit', resolve) })
  clearTimeout(timer)
  rmSync(path, { force: true })
  return { code, out }
}

for (const b of runnable) {
  test(`${b.file}:${b.line} runs as written`, { timeout: RUN_TIMEOUT + 15_000 }, async (t) => {
    let source = b.code
    if (source.includes('redis://127.0.0.1:6379')) {
      const skip = redisSkip()
      if (skip !== undefined) { t.skip(skip); return }
      const redis = await startRedis()
      t.after(async () => { await redis.stop() })
      source = source.replaceAll('redis://127.0.0.1:6379', redis.url)
    }
    const result = await run(source, name(b), b.lang)
    assert.equal(result.code, 0, `${b.file}:${b.line} exited with ${String(result.code)}:\n${result.out}`)
  })
}

test('every dependency of package.json is in the docs with why: runtime and optional peers in operations.md, the rest in contributing.md', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as Record<'dependencies' | 'peerDependencies' | 'devDependencies', Record<string, string>>
  const shipped = tableNames('docs/operations.md', '## Dependencies')
  const development = tableNames('docs/contributing.md', '## Development dependencies')
  for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]) {
    assert.ok(shipped.has(name), `${name} is not in docs/operations.md#dependencies`)
  }
  for (const name of Object.keys(pkg.devDependencies)) {
    assert.ok(development.has(name) || shipped.has(name), `the devDependency ${name} is in neither docs/contributing.md#development-dependencies nor docs/operations.md#dependencies`)
  }
  for (const name of shipped) assert.ok(name in pkg.dependencies || name in pkg.peerDependencies, `docs/operations.md#dependencies lists ${name}, which package.json does not depend on`)
})

// A newcomer reads in the README what gets installed and what they must install themselves: a
// dependency added, dropped or moved between the two in package.json without the README following
// leaves them with a package they did not expect, or an ERR_MISSING_DEPENDENCY they were not told of.
test('the README names every runtime dependency under Dependencies, and every optional peer dependency in the Install table, with nothing else', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as Record<'dependencies' | 'peerDependencies', Record<string, string>> & { peerDependenciesMeta: Record<string, { optional?: boolean }> }
  const text = readFileSync(`${ROOT}README.md`, 'utf8')
  const section = (heading: string): string => {
    const at = text.indexOf(`\n## ${heading}\n`)
    assert.ok(at >= 0, `README.md has a "## ${heading}" section`)
    const end = text.indexOf('\n## ', at + 1)
    return text.slice(at, end < 0 ? undefined : end)
  }
  const named = (part: string): Set<string> => new Set([...part.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!).filter((n) => /^[@a-z][\w./-]*$/.test(n) && !n.startsWith('peerwarden') && !n.endsWith('.md')))
  const installed = named(section('Dependencies'))
  const table = named(section('Install').split('\n').filter((l) => l.startsWith('|')).map((l) => l.split('|')[2] ?? '').join(' '))
  for (const name of Object.keys(pkg.dependencies)) {
    assert.ok(installed.has(name), `README.md#dependencies does not name the runtime dependency ${name}`)
    assert.ok(!table.has(name), `README.md#install's table of optional packages names the runtime dependency ${name}`)
  }
  for (const name of Object.keys(pkg.peerDependencies)) {
    assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `the peer dependency ${name} is not optional in package.json`)
    assert.ok(table.has(name), `README.md#install's table does not say which feature needs ${name}`)
    assert.ok(!installed.has(name), `README.md#dependencies counts the optional ${name} among what is installed with peerwarden`)
  }
  for (const name of installed) {
    assert.ok(name in pkg.dependencies, `README.md#dependencies names ${name} as installed with peerwarden, which package.json does not depend on`)
  }
})

test('the simulator output shown in docs/testing.md is what `peerwarden simulate --restart 0.2` prints now (same seed, same figures)', { timeout: 120_000 }, async () => {
  const text = readFileSync(`${ROOT}docs/testing.md`, 'utf8')
  const at = text.indexOf('`npx peerwarden simulate --restart 0.2`')
  const block = /\n```\n([\s\S]*?)\n```\n/.exec(text.slice(at))
  assert.ok(at >= 0 && block !== null, 'docs/testing.md shows the output of simulate --restart 0.2')
  const child = spawn(process.execPath, [`${ROOT}dist/cli/peerwarden.js`, 'simulate', '--restart', '0.2', '--no-progress'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0)
  const printed = out.split('\n').map((l) => l.trimEnd())
  let from = 0
  for (const line of block[1]!.split('\n').map((l) => l.trimEnd())) {
    if (line.trim() === '…') continue
    const i = printed.indexOf(line, from)
    assert.ok(i >= 0, `docs/testing.md shows "${line}", which the simulator no longer prints (in this order):\n${out}`)
    from = i + 1
  }
})

test('every runnable example binds its DHT to 127.0.0.1: a Hyperswarm gets a testnet node, never a bare bootstrap list (its DHT would bind 0.0.0.0)', () => {
  for (const b of runnable) {
    for (const m of b.code.matchAll(/new Hyperswarm\(([^)]*)\)/g)) {
      assert.match(m[1]!, /\bdht:/, `${b.file}:${b.line}: new Hyperswarm(${m[1]}) binds a DHT of its own to every interface; pass dht: testnet.createNode()`)
    }
    for (const m of b.code.matchAll(/createTestnet\(([^)]*)\)/g)) assert.match(m[1]!, /host: '127\.0\.0\.1'/, `${b.file}:${b.line}: createTestnet without host: '127.0.0.1'`)
  }
})

/** The subcommands a page shows (`peerwarden node …`, `npx peerwarden mesh call …`), each with the flags given on that line. */
function cliCommands (file: string): Array<{ command: string; flags: string[] }> {
  const shown: Array<{ command: string; flags: string[] }> = []
  for (const line of readFileSync(`${ROOT}${file}`, 'utf8').split('\n')) {
    for (const m of line.matchAll(/(?:npx )?peerwarden (node|simulate|lab|mesh status|mesh call)\b([^`|]*)/g)) {
      const rest = m[2]!.split(/ #|[.;:,)] /)[0]!
      shown.push({ command: m[1]!, flags: [...rest.matchAll(/(?:^|\s)(--[a-z][\w-]*)/g)].map((f) => f[1]!) })
    }
  }
  return shown
}

// A newcomer copies the commands the README and the guides show: a flag renamed or dropped since
// fails at their first try ("error: unknown option"). Each flag shown is one the command's --help lists.
test('every flag of a peerwarden command shown in the README and the guides is one the command takes', { timeout: 60_000 }, async () => {
  const help = new Map<string, string>()
  const helpOf = async (command: string): Promise<string> => {
    if (!help.has(command)) {
      const child = spawn(process.execPath, [`${ROOT}dist/cli/peerwarden.js`, ...command.split(' '), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
      child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
      assert.equal(await new Promise<number | null>((resolve) => child.on('close', resolve)), 0, `peerwarden ${command} --help:\n${out}`)
      help.set(command, out)
    }
    return help.get(command)!
  }
  let checked = 0
  for (const file of docFiles()) {
    for (const { command, flags } of cliCommands(file)) {
      const text = await helpOf(command)
      for (const flag of flags) {
        assert.match(text, new RegExp(`(^|[\\s,])${flag}\\b`), `${file} shows \`peerwarden ${command} … ${flag}\`, which \`peerwarden ${command} --help\` does not list`)
        checked++
      }
    }
  }
  assert.ok(checked >= 10, `checked ${checked} flags`)
})

/** What an entry point needs installed beside peerwarden (its optional peer dependencies). */
const ENTRY_NEEDS: Readonly<Record<string, readonly string[]>> = {
  'peerwarden/dashboard': ['prom-client'],
  'peerwarden/libp2p': ['libp2p'],
  'peerwarden/corestore': ['corestore'],
  'peerwarden/ssb': ['secret-stack', 'ssb-caps']
}

// A newcomer installs what the README says and runs an example: a package it imports (or that the
// entry point needs) missing from what the README says to install fails with "Cannot find package".
test('the README says to install every package its examples import or need', () => {
  const text = readFileSync(`${ROOT}README.md`, 'utf8')
  const said = text.slice(text.indexOf('Besides `peerwarden`, install what each imports'))
  const named = new Set([...said.slice(0, said.indexOf('\n\n')).matchAll(/`([^`]+)`/g)].flatMap((m) => m[1]!.split(/\s+/)))
  const readme = code.filter((b) => b.file === 'README.md')
  for (const b of readme) {
    const specs = [...b.code.matchAll(/from '([^']+)'|require\('([^']+)'\)|\['([^\]]+)'\]\.map\(\(m\) => require/g)].flatMap((m) => m[3]?.split(/',\s*'/) ?? [m[1] ?? m[2]!])
    assert.ok(specs.length > 0)
    for (const spec of specs) {
      if (spec.startsWith('node:') || spec.startsWith('.')) continue
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      const needs = pkg === 'peerwarden' ? ENTRY_NEEDS[spec] ?? [] : [pkg]
      for (const n of needs) assert.ok(named.has(n), `README.md:${b.line} imports '${spec}', which needs \`${n}\`: the README does not say to install it`)
    }
  }
})

/** scripts/doc-links.mjs, the check `npm run docs:check` runs too. */
const docLinks = async (): Promise<{ linkProblems: (root: string) => string[] }> => await import(pathToFileURL(`${ROOT}scripts/doc-links.mjs`).href) as { linkProblems: (root: string) => string[] }

// A reader follows a link from the README to a guide, or from a guide to a section of another: a
// file renamed or a heading reworded since leaves them on a 404 or at the top of a long page.
test('every relative link and anchor of the README, the changelog and the guides leads to a file and a heading that exist', async () => {
  const { linkProblems } = await docLinks()
  assert.deepEqual(linkProblems(ROOT), [])
})

test('the link check finds a missing file, a missing heading, a broken image and an <a href> to nowhere, and passes what exists', async () => {
  const { linkProblems } = await docLinks()
  const root = mkdtempSync(join(tmpdir(), 'peerwarden-links-'))
  try {
    mkdirSync(join(root, 'docs'))
    writeFileSync(join(root, 'docs/guide.md'), '# A guide\n\n## The `bound`, held\n\n<a id="kept"></a>Text.\n')
    writeFileSync(join(root, 'README.md'), [
      '[ok](docs/guide.md#the-bound-held) [ok](docs/guide.md#kept) [ok](#readme) [web](https://example.com/x)',
      '# Readme',
      '[gone](docs/gone.md) [no heading](docs/guide.md#the-bound) ![img](docs/images/none.png)',
      '<a href="docs/guide.md#nowhere"><img src="docs/images/missing.png" alt=""></a>',
      '`[in code](docs/gone.md)`',
      '```md\n[in a block](docs/gone.md)\n```'
    ].join('\n'))
    assert.deepEqual(linkProblems(root).map((p) => p.replace(/ — .*/, '')), [
      'README.md:3: docs/gone.md', 'README.md:3: docs/guide.md#the-bound', 'README.md:3: docs/images/none.png',
      'README.md:4: docs/guide.md#nowhere', 'README.md:4: docs/images/missing.png'
    ])
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

// A figure without a date and a command cannot be checked, or measured again after a change.
test("every row of docs/benchmarks.md's 'At a glance' table gives a figure, a date, the command that reproduces it and a link to its run", () => {
  const text = readFileSync(`${ROOT}docs/benchmarks.md`, 'utf8')
  const at = text.indexOf('\n## At a glance\n')
  assert.ok(at >= 0, 'docs/benchmarks.md has an "At a glance" section')
  const rows = text.slice(at, text.indexOf('\n## ', at + 1)).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure |'))
  assert.ok(rows.length >= 8, `${rows.length} rows`)
  let previous: string[] = []
  for (const row of rows) {
    const cells = row.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, '').trim())
    assert.equal(cells.length, 5, row)
    const [figure, latest, measured, command, details] = cells.map((c, i) => (c === 'same' ? previous[i]! : c)) as [string, string, string, string, string]
    assert.ok(figure !== '' && /\d/.test(latest), `no figure: ${row}`)
    assert.match(measured, /\b20\d\d-\d\d-\d\d\b/, `no date: ${row}`)
    assert.match(command, /`[^`]*(npm run bench|node |simulate)[^`]*`|the same with/, `no command: ${row}`)
    assert.match(details, /\]\(#[\w-]+\)/, `no link to the run: ${row}`)
    previous = [figure, latest, measured, command, details]
  }
})

// A guide nobody links to is a guide nobody finds: the README is the index of docs/.
test('the README links to every page of docs/', () => {
  const text = readFileSync(`${ROOT}README.md`, 'utf8')
  const linked = new Set([...text.matchAll(/\]\(docs\/([\w.-]+\.md)(?:#[^)]*)?\)|href="docs\/([\w.-]+\.md)/g)].map((m) => m[1] ?? m[2]))
  const missing = docFiles().filter((f) => f.startsWith('docs/')).map((f) => f.slice('docs/'.length)).filter((f) => !linked.has(f))
  assert.deepEqual(missing, [], 'pages of docs/ the README does not link to')
})

/** Paths the docs name that a run makes, not the repository: `node bench/previous.mjs` builds bench/.previous. */
const GENERATED = new Set(['bench/.previous'])
/** Files the docs tell the reader to write in their own project. */
const READERS_FILES = new Set(['example.ts'])
/** The file names under src/, test/ and bench/. */
const sourceNames = new Set(['src', 'test', 'bench'].flatMap((dir) => readdirSync(`${ROOT}${dir}`, { recursive: true, encoding: 'utf8' }).map((p) => p.split('/').at(-1)!)))

// "The rule is in src/manager/rank.ts", "test/hostile/x.test.ts proves it": a file renamed or split
// since leaves the reader looking for something that is not there.
test('every source, test, bench, script and example path the README and the guides name exists', () => {
  const missing: string[] = []
  for (const file of docFiles()) {
    readFileSync(`${ROOT}${file}`, 'utf8').split('\n').forEach((line, i) => {
      // Historical mentions say so: "then src/…, since replaced by …".
      for (const m of line.matchAll(/(?<![\w./-])((?:src|test|bench|scripts|examples|lab)\/[\w./-]*\w)/g)) {
        const path = m[1]!
        if (GENERATED.has(path) || /\bthen `?$/.test(line.slice(0, m.index))) continue
        if (!existsSync(`${ROOT}${path}`)) missing.push(`${file}:${i + 1}: ${path}`)
      }
      // A bare `name.ts` (docs/architecture.md's tables): some file of src/, test/ or bench/ has that name.
      for (const m of line.matchAll(/`([a-z0-9-]+\.ts)`/g)) if (!sourceNames.has(m[1]!) && !READERS_FILES.has(m[1]!)) missing.push(`${file}:${i + 1}: ${m[1]!}`)
    })
  }
  assert.deepEqual(missing, [])
})

/** Codes the docs name that come from Node.js or npm, not from peerwarden. */
const FOREIGN_CODES = new Set(['ERR_REQUIRE_ESM', 'ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'])

/** Every string literal `'ERR_…'` under `dir`. */
function sourceCodes (dir: string): Set<string> {
  const codes = new Set<string>()
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('.ts')) continue
    for (const m of readFileSync(`${dir}${f}`, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g)) codes.add(m[1]!)
  }
  return codes
}

// Applications match on `code`: a code the docs promise that the package no longer raises (renamed,
// dropped) is a catch branch that never runs.
test('every error code the README and the guides name is one the package raises (or Node.js raises)', () => {
  const raised = sourceCodes(`${ROOT}src/`)
  const unknown: string[] = []
  for (const file of docFiles()) {
    readFileSync(`${ROOT}${file}`, 'utf8').split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/\bERR_[A-Z0-9_]+/g)) if (!raised.has(m[0]) && !FOREIGN_CODES.has(m[0])) unknown.push(`${file}:${i + 1}: ${m[0]}`)
    })
  }
  assert.ok(raised.size > 20, `${raised.size} codes found in src/`)
  assert.deepEqual(unknown, [])
})

/**
 * What each guide's examples need that the guide does not yet tell the reader to `npm install`
 * (its owner's to add; a page leaves this list once it says so). Reported, not failed; anything
 * else missing fails.
 */
const INSTALL_PENDING: Readonly<Record<string, readonly string[]>> = {
}

/** The packages a runnable block needs installed beside peerwarden: what it imports, what the entry points and features it uses load. */
function packagesNeeded (code: string): Set<string> {
  const needs = new Set<string>()
  const source = code.replace(/\/\/.*$/gm, '')
  for (const m of source.matchAll(/from '([^']+)'|require\('([^']+)'\)/g)) {
    const spec = m[1] ?? m[2]!
    if (spec.startsWith('node:') || spec.startsWith('.')) continue
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
    for (const n of pkg === 'peerwarden' ? ENTRY_NEEDS[spec] ?? [] : [pkg]) needs.add(n)
  }
  if (/\bsqliteStore\(|\bdataDir:/.test(source)) needs.add('better-sqlite3')
  if (/\bredis:/.test(source)) needs.add('ioredis')
  return needs
}

// A reader copies a guide's example into a fresh project: each package it needs, unnamed by an
// `npm install …` on the page, is a "Cannot find package" or an ERR_MISSING_DEPENDENCY at the first run.
test('every guide says to `npm install` each package its runnable examples import or need', () => {
  const missing: string[] = []
  for (const file of docFiles().filter((f) => f.startsWith('docs/'))) {
    const needs = new Set(runnable.filter((b) => b.file === file).flatMap((b) => [...packagesNeeded(b.code)]))
    const text = readFileSync(`${ROOT}${file}`, 'utf8').replace(/\s+/g, ' ')
    const said = new Set([...text.matchAll(/npm install ([^`]*)`/g)].flatMap((m) => m[1]!.split(' ')))
    for (const n of needs) if (!said.has(n) && !(INSTALL_PENDING[file] ?? []).includes(n)) missing.push(`${file}: \`npm install ${n}\``)
  }
  assert.deepEqual(missing, [], 'pages whose examples need a package the page does not say to install')
})

// TypeDoc takes a `/** … */` right before an entry file's first `export { … } from` as the doc of
// every symbol that statement re-exports: src/node/index.ts's "peerwarden/node — a runnable peer…"
// became the API reference's text for createNode, NodeOptions and PeerNode (their own doc comments
// hidden). A header meant for the module says `@module`.
test("no entry point's header comment is taken for the doc of the symbols it re-exports first", () => {
  const entryPoints = (JSON.parse(readFileSync(`${ROOT}typedoc.json`, 'utf8')) as { entryPoints: string[] }).entryPoints
  const wrong: string[] = []
  for (const entry of entryPoints) {
    const text = readFileSync(`${ROOT}${entry}`, 'utf8')
    const source = ts.createSourceFile(entry, text, ts.ScriptTarget.Latest, true)
    const first = source.statements[0]
    if (first === undefined || !ts.isExportDeclaration(first)) continue
    const docs = (ts.getLeadingCommentRanges(text, first.getFullStart()) ?? []).filter((r) => text.startsWith('/**', r.pos))
    if (docs.some((r) => !/@module|@packageDocumentation/.test(text.slice(r.pos, r.end)))) wrong.push(entry)
  }
  assert.deepEqual(wrong, [])
})
