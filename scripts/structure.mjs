#!/usr/bin/env node
// npm run structure (and the last step of npm run lint) — the two house rules a reader of src/ sees
// first: one concept per file, about 300 lines or fewer; a doc comment on every export.
//
// Prints every src/ file over LIMIT lines (longest first) and every exported declaration of src/
// without a `/** … */` comment (a re-export is documented where it is declared).
//
// Exit status 1 when an export has no doc comment and is not in scripts/structure-baseline.txt (the
// exports that had none when the check came in: the list only shrinks; `--update` rewrites it to
// what is left), or with `--strict` when any file is over the limit or any export undocumented.
// Long files are listed, not failed: splitting one is its owner's call.
//
//   node scripts/structure.mjs [--summary] [--strict] [--update] [--limit 300] [--json]

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ts = createRequire(import.meta.url)('typescript')
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BASELINE = join(ROOT, 'scripts/structure-baseline.txt')

/** `file name` keys of the exports that may still lack a doc comment. */
function readBaseline () {
  if (!existsSync(BASELINE)) return new Set()
  return new Set(readFileSync(BASELINE, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')))
}
const key = (u) => `${u.file} ${u.name}`

/** Every .ts file under `root`/`dir`, relative to `root`, sorted. */
function sources (root, dir) {
  const out = []
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) out.push(...sources(root, path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out.sort()
}

/** Lines of a file as `wc -l` counts them. */
function lineCount (text) {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
}

const exported = (node) => (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export) !== 0

/** Whether `node` has a `/** … *\/` comment right before it (what TypeDoc and editors show). */
function documented (node, text) {
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []
  return ranges.some((r) => r.kind === ts.SyntaxKind.MultiLineCommentTrivia && text.startsWith('/**', r.pos))
}

/** The names of `file`'s exported declarations that carry no doc comment, with their lines. */
function undocumentedExports (file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const missing = []
  const report = (node, name) => { missing.push({ file, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, name }) }
  for (const statement of source.statements) {
    if (ts.isExportAssignment(statement)) { if (!documented(statement, text)) report(statement, 'default'); continue }
    if (!exported(statement)) continue
    if (ts.isVariableStatement(statement)) {
      if (!documented(statement, text)) for (const d of statement.declarationList.declarations) report(statement, d.name.getText(source))
      continue
    }
    const named = ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)
    // An overloaded function is documented once, on its first signature.
    if (ts.isFunctionDeclaration(statement) && statement.body === undefined && statement.name !== undefined) {
      const first = source.statements.find((s) => ts.isFunctionDeclaration(s) && s.name?.text === statement.name.text)
      if (first !== statement) continue
    }
    if (ts.isFunctionDeclaration(statement) && statement.body !== undefined && statement.name !== undefined) {
      const first = source.statements.find((s) => ts.isFunctionDeclaration(s) && s.name?.text === statement.name.text)
      if (first !== statement) continue
    }
    if (named && !documented(statement, text)) report(statement, statement.name?.getText(source) ?? 'default')
  }
  return missing
}

/**
 * `file name` keys of the declarations the package's entry points export (typedoc.json's entry
 * points: what a user imports), through re-exports. Costs a type-checker pass (~5 s).
 */
export function publicKeys (root = ROOT) {
  const entryPoints = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')).entryPoints.map((f) => join(root, f))
  const program = ts.createProgram(entryPoints, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true })
  const checker = program.getTypeChecker()
  const keys = new Set()
  for (const entry of entryPoints) {
    const source = program.getSourceFile(entry)
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source)
    if (module === undefined) continue
    for (let symbol of checker.getExportsOfModule(module)) {
      if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol)
      for (const d of symbol.declarations ?? []) keys.add(`${relative(root, d.getSourceFile().fileName)} ${symbol.name}`)
    }
  }
  return keys
}

/** The report over src/: long files and undocumented exports. */
export function structure (root = ROOT, limit = 300) {
  const long = []
  const undocumented = []
  for (const file of sources(root, 'src').map((f) => join(root, f))) {
    const text = readFileSync(file, 'utf8')
    const lines = lineCount(text)
    const name = relative(root, file)
    if (lines > limit) long.push({ file: name, lines })
    undocumented.push(...undocumentedExports(name, text))
  }
  long.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file))
  return { long, undocumented }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--limit')
  const limit = at >= 0 ? Number(args[at + 1]) : 300
  if (!Number.isInteger(limit) || limit < 1) { console.error('structure: --limit must be a positive integer'); process.exit(2) }
  const { long, undocumented } = structure(ROOT, limit)
  if (args.includes('--update')) {
    // The list only shrinks: an export already documented leaves it, a new one never enters.
    const before = existsSync(BASELINE) ? readBaseline() : undefined
    const keep = [...new Set(undocumented.map(key))].filter((k) => before === undefined || before.has(k))
    const header = '# Exports of src/ without a doc comment when scripts/structure.mjs came in: document one, then\n# run `node scripts/structure.mjs --update` to drop it from this list. Never add a line by hand.\n'
    writeFileSync(BASELINE, header + keep.sort().join('\n') + '\n')
  }
  const baseline = readBaseline()
  const fresh = undocumented.filter((u) => !baseline.has(key(u)))
  const s = (n, one, many) => `${n} ${n === 1 ? one : many}`
  if (args.includes('--json')) {
    console.log(JSON.stringify({ limit, long, undocumented, new: fresh }, null, 2))
  } else if (args.includes('--summary')) {
    console.log(`structure: ${s(long.length, 'src/ file', 'src/ files')} over ${limit} lines, ${s(undocumented.length - fresh.length, 'known export', 'known exports')} without a doc comment (node scripts/structure.mjs lists them)`)
    for (const u of fresh) console.error(`${u.file}:${u.line}: export ${u.name} has no doc comment (/** … */ right before it)`)
  } else {
    console.log(`structure: ${s(long.length, 'src/ file', 'src/ files')} over ${limit} lines${long.length > 0 ? ':' : ''}`)
    for (const f of long) console.log(`  ${String(f.lines).padStart(5)}  ${f.file}`)
    const exported = publicKeys()
    const isPublic = (u) => exported.has(key(u))
    console.log(`structure: ${s(undocumented.length, 'export', 'exports')} without a doc comment, ${undocumented.filter(isPublic).length} of them public (an entry point exports it)${undocumented.length > 0 ? ':' : ''}`)
    for (const u of undocumented) console.log(`  ${u.file}:${u.line}  ${u.name}${isPublic(u) ? '  (public)' : ''}${baseline.has(key(u)) ? '' : '  (new)'}`)
  }
  const strict = args.includes('--strict')
  process.exit(fresh.length > 0 || (strict && (long.length > 0 || undocumented.length > 0)) ? 1 : 0)
}
