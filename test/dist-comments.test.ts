import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// The built package (npm run build first; scripts/test.mjs builds what is stale).
const dist = fileURLToPath(new URL('../../dist/', import.meta.url))

function files (under: string, suffix: string): string[] {
  return readdirSync(join(dist, under), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(suffix))
    .map((e) => join(e.parentPath, e.name))
}

test('the shipped JavaScript carries no comments, so its source text holds no more heap than the code needs', () => {
  // (The dashboard's page scripts are JavaScript inside strings: shipped as written.)
  const js = [...files('node', '.js'), ...files('manager', '.js')]
  assert.ok(js.length > 50, `dist/node and dist/manager have ${js.length} .js files: build first`)
  for (const path of js) {
    const text = readFileSync(path, 'utf8')
    assert.doesNotMatch(text, /^\s*\/\*\*/m, `${path} still has a doc comment`)
    assert.doesNotMatch(text, /^\s*\/\/ /m, `${path} still has a line comment`)
  }
  // The command keeps its shebang.
  assert.match(readFileSync(join(dist, 'cli/peerwarden.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/)
})

test('the shipped declarations keep their doc comments', () => {
  const types = readFileSync(join(dist, 'node/types.d.ts'), 'utf8')
  assert.match(types, /\/\*\*/)
})

test('a node module from dist runs as built (stripping changed no import)', async () => {
  const { SecureStream, MAX_MESSAGE } = await import(join(dist, 'node/secure-stream.js')) as { SecureStream: unknown; MAX_MESSAGE: number }
  assert.equal(typeof SecureStream, 'function')
  assert.equal(MAX_MESSAGE, 16 * 1024 * 1024)
})
