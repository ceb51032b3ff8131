#!/usr/bin/env node
// npm run docs:check — fails when the documentation lies about where things are.
//
// 1. Links: every relative link in README.md, CHANGELOG.md and docs/*.md leads to a file that exists,
//    and its #anchor to a heading or an <a id> there (scripts/doc-links.mjs; test/docs.test.ts runs
//    the same check with the tests).
// 2. The API reference: TypeDoc's validation with typedoc.json (every export documented, no invalid
//    link in a doc comment; warnings are errors there), without writing the site.
//
// Exit status 1 with one line per problem; 0 when all is well.

import { spawnSync } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { linkProblems } from './doc-links.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const problems = linkProblems(ROOT)

// The API reference: every export documented (TypeDoc's validation, warnings as errors).
const typedoc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--emit', 'none'], { cwd: ROOT, encoding: 'utf8' })
if (typedoc.status !== 0) {
  const out = `${typedoc.stdout}${typedoc.stderr}`.replace(/\x1b\[[0-9;]*m/g, '') // eslint-disable-line no-control-regex
  for (const line of out.split('\n')) if (/\[(warning|error)\]/.test(line)) problems.push(`typedoc: ${line.replace(/^\[(warning|error)\]\s*/, '')}`)
  if (problems.length === 0) problems.push(`typedoc exited with ${typedoc.status}: ${out.trim().slice(0, 500)}`)
}

if (problems.length > 0) {
  for (const p of problems) console.error(p)
  console.error(`docs:check: ${problems.length} problem${problems.length === 1 ? '' : 's'}`)
  process.exit(1)
}
console.log('docs:check: links, anchors and doc comments are in order')
