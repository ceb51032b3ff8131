// After tsc: check that the emitted declarations stand on their own. The untyped modules the node
// uses are typed by private wrappers (src/node/vendor/*.ts), so no declaration may name them, carry
// an ambient `declare module`, or pull in a file by `/// <reference path>`; a failure here is a bug
// in the sources, not something to patch in dist.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const UNTYPED = /from '(sodium-native|protomux|compact-encoding|@hyperswarm\/secret-stream)'/
const problems = []
for (const entry of readdirSync('dist', { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue
  const path = join(entry.parentPath ?? entry.path, entry.name)
  const text = readFileSync(path, 'utf8')
  if (UNTYPED.test(text)) problems.push(`${path} imports an untyped module (import its wrapper in src/node/vendor/ instead)`)
  if (/^\s*declare module ['"]/m.test(text)) problems.push(`${path} declares an ambient module`)
  if (/^\/\/\/ <reference path=/m.test(text)) problems.push(`${path} references a file by path`)
}
if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}

// The emitted JavaScript is shipped without its comments (the declarations keep every doc comment).
// V8 holds each module's source text for as long as the process runs (functions compile lazily from
// it), and one character outside Latin-1 in a comment ('→', '—') stores a whole file as two bytes per
// character: with the comments a node's modules held ~0.75 MB more heap, which put a bare bulk
// process over V8's 8 MB incremental-marking line (docs/benchmarks.md). The same compiler re-prints
// each file: same target, imports kept as written, a shebang and `/*! … */` comments kept.
const ts = (await import('typescript')).default
for (const entry of readdirSync('dist', { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.js')) continue
  const path = join(entry.parentPath ?? entry.path, entry.name)
  const { outputText } = ts.transpileModule(readFileSync(path, 'utf8'), {
    fileName: path,
    compilerOptions: { removeComments: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true }
  })
  writeFileSync(path, outputText)
}
