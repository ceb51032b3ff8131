#!/usr/bin/env node
// npm run docs:check — fails when the documentation lies about where things are.
//
// 1. Links: every relative link in README.md, CHANGELOG.md and docs/*.md (docs/api/ aside, it is
//    generated) must lead to a file or directory that exists, and its #anchor, if any, to a heading
//    (GitHub's slugs) or an <a id="…"> of the target Markdown file. Links inside code are not links.
// 2. The API reference: TypeDoc's validation with typedoc.json (every export documented, no invalid
//    link in a doc comment; warnings are errors there), without writing the site.
//
// Exit status 1 with one line per problem; 0 when all is well.

import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const problems = []

/** The Markdown files checked, relative to the root. */
function markdownFiles () {
  const files = ['README.md', 'CHANGELOG.md'].filter((f) => existsSync(join(ROOT, f)))
  for (const f of readdirSync(join(ROOT, 'docs')).sort()) if (f.endsWith('.md')) files.push(`docs/${f}`)
  return files
}

/** The text outside fenced code blocks and inline code, line by line (line numbers kept). */
function prose (text) {
  let fenced = false
  return text.split('\n').map((line) => {
    if (/^\s*```/.test(line)) { fenced = !fenced; return '' }
    return fenced ? '' : line.replace(/`[^`]*`/g, (m) => ' '.repeat(m.length))
  })
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug (heading) {
  return heading.trim().toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

const anchorCache = new Map()
/** The anchors a Markdown file offers: its headings' slugs (with GitHub's -1, -2 for repeats) and <a id>/<a name>. */
function anchors (file) {
  if (anchorCache.has(file)) return anchorCache.get(file)
  const set = new Set()
  const seen = new Map()
  const text = readFileSync(file, 'utf8')
  let fenced = false
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) { fenced = !fenced; continue }
    if (fenced) continue
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (h !== null) {
      const base = slug(h[1].replace(/`/g, ''))
      const n = seen.get(base) ?? 0
      seen.set(base, n + 1)
      set.add(n === 0 ? base : `${base}-${n}`)
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) set.add(m[1])
  }
  anchorCache.set(file, set)
  return set
}

for (const file of markdownFiles()) {
  const path = join(ROOT, file)
  const lines = prose(readFileSync(path, 'utf8'))
  lines.forEach((line, i) => {
    // [text](target) and [text](target "title"); images too.
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:…
      const where = `${file}:${i + 1}`
      const [pathPart, anchor] = target.split('#', 2)
      const dest = pathPart === '' ? path : resolve(dirname(path), decodeURIComponent(pathPart))
      if (!existsSync(dest)) { problems.push(`${where}: ${target} — no such file ${relative(ROOT, dest)}`); continue }
      if (anchor === undefined || anchor === '') continue
      if (statSync(dest).isDirectory() || !dest.endsWith('.md')) { problems.push(`${where}: ${target} — an anchor into a file that is not Markdown`); continue }
      if (!anchors(dest).has(decodeURIComponent(anchor))) problems.push(`${where}: ${target} — no heading or <a id> "${anchor}" in ${relative(ROOT, dest)}`)
    }
  })
}

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
