import { readFileSync } from 'node:fs'

let cached: string | undefined

/**
 * The version of the installed peerwarden package (its package.json), or `'unknown'` when it cannot
 * be read. Read once, then remembered.
 */
export function packageVersion (): string {
  if (cached !== undefined) return cached
  cached = 'unknown'
  // dist/version.js in the package; build/src/version.js in the repository's test build.
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'peerwarden' && typeof pkg.version === 'string') { cached = pkg.version; break }
    } catch { /* not here */ }
  }
  return cached
}
