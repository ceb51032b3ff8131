import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository's root (this file runs from build/test/helpers/). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** The names in backticks in the first column of the table under `heading` in `file` (up to the next `## `). */
export function tableNames (file: string, heading: string): Set<string> {
  const text = readFileSync(`${ROOT}${file}`, 'utf8')
  const start = text.indexOf(`\n${heading}\n`)
  assert.ok(start >= 0, `${file} has a "${heading}" section`)
  const section = text.slice(start + heading.length + 2).split(/\n## /)[0]!
  const names = new Set<string>()
  for (const row of section.split('\n').filter((l) => l.startsWith('| `'))) {
    for (const [, name] of row.split('|')[1]!.matchAll(/`([^`]+)`/g)) names.add(name!)
  }
  assert.ok(names.size > 0, `${file}: the table under "${heading}" names no option`)
  return names
}
