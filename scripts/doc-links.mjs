// The relative links of the documentation: every one in README.md, CHANGELOG.md and docs/*.md
// (docs/api/ aside, it is generated) must lead to a file or directory that exists, and its #anchor,
// if any, to a heading (GitHub's slugs) or an <a id="…"> of the target Markdown file. Markdown links
// and images, `<a href>` and `<img src>` alike; links inside code are not links.
// Used by scripts/check-docs.mjs (npm run docs:check) and test/docs.test.ts.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

/** The Markdown files checked, relative to `root`. */
export function markdownFiles (root) {
  const files = ['README.md', 'CHANGELOG.md'].filter((f) => existsSync(join(root, f)))
  if (existsSync(join(root, 'docs'))) for (const f of readdirSync(join(root, 'docs')).sort()) if (f.endsWith('.md')) files.push(`docs/${f}`)
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
export function slug (heading) {
  return heading.trim().toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

/** The anchors a Markdown file offers: its headings' slugs (with GitHub's -1, -2 for repeats) and <a id>/<a name>. */
function anchors (file, cache) {
  if (cache.has(file)) return cache.get(file)
  const set = new Set()
  const seen = new Map()
  let fenced = false
  for (const line of readFileSync(file, 'utf8').split('\n')) {
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
  cache.set(file, set)
  return set
}

/** The link targets of one line of prose: `](target)`, `](target "title")`, `href="…"`, `src="…"`. */
function targets (line) {
  const out = []
  for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1])
  for (const m of line.matchAll(/<(?:a|img)\s[^>]*?\b(?:href|src)="([^"]+)"/g)) out.push(m[1])
  return out
}

/** One line per broken relative link or anchor under `root` (`file:line: target — why`); [] when all lead somewhere. */
export function linkProblems (root) {
  const problems = []
  const cache = new Map()
  for (const file of markdownFiles(root)) {
    const path = join(root, file)
    prose(readFileSync(path, 'utf8')).forEach((line, i) => {
      for (const target of targets(line)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:…
        const where = `${file}:${i + 1}`
        const [pathPart, anchor] = target.split('#', 2)
        const dest = pathPart === '' ? path : resolve(dirname(path), decodeURIComponent(pathPart))
        if (!existsSync(dest)) { problems.push(`${where}: ${target} — no such file ${relative(root, dest)}`); continue }
        if (anchor === undefined || anchor === '') continue
        if (statSync(dest).isDirectory() || !dest.endsWith('.md')) { problems.push(`${where}: ${target} — an anchor into a file that is not Markdown`); continue }
        if (!anchors(dest, cache).has(decodeURIComponent(anchor))) problems.push(`${where}: ${target} — no heading or <a id> "${anchor}" in ${relative(root, dest)}`)
      }
    })
  }
  return problems
}
