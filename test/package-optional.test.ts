import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../src/errors.js'
import { importOptional, notInstalled, requireOptional } from '../src/optional-dependency.js'

const isMissing = (message: string) => (err: unknown): boolean => {
  assert.ok(err instanceof PeerwardenError, String(err))
  assert.equal(err.code, 'ERR_MISSING_DEPENDENCY')
  assert.equal(err.message, message)
  assert.ok(err.cause instanceof Error, 'the resolution failure is the cause')
  return true
}

test('requireOptional names the package, the feature and the install command when the package is absent', () => {
  assert.throws(() => requireOptional('peerwarden-absent-package', 'the absent feature'),
    isMissing('install peerwarden-absent-package to use the absent feature: npm install peerwarden-absent-package'))
})

test('importOptional does the same for an ESM import, naming every package to install', async () => {
  await assert.rejects(importOptional('peerwarden-absent-package', 'the absent feature', ['peerwarden-host', 'peerwarden-absent-package']),
    isMissing('install peerwarden-host to use the absent feature: npm install peerwarden-host peerwarden-absent-package'))
})

test('requireOptional returns the module when it is installed', () => {
  const fs = requireOptional<typeof import('node:fs')>('node:fs', 'files')
  assert.equal(typeof fs.readFileSync, 'function')
})

test('a package that is there but fails to load is not reported as missing: its own error is kept', () => {
  // A dependency of the package is what is missing: the package is broken, not absent.
  const inner = Object.assign(new Error("Cannot find module 'denque'\nRequire stack: …/ioredis/built/index.js"), { code: 'MODULE_NOT_FOUND' })
  assert.equal(notInstalled(inner, 'ioredis', 'the Redis queue'), undefined)
  // Any other failure (a native module built for another Node, a syntax error).
  assert.equal(notInstalled(Object.assign(new Error('invalid ELF header'), { code: 'ERR_DLOPEN_FAILED' }), 'better-sqlite3', 'sqliteStore'), undefined)
  assert.equal(notInstalled(null, 'better-sqlite3', 'sqliteStore'), undefined)
  const absent = Object.assign(new Error("Cannot find package 'ioredis' imported from /app/x.js"), { code: 'ERR_MODULE_NOT_FOUND' })
  assert.equal(notInstalled(absent, 'ioredis', 'the Redis queue')?.code, 'ERR_MISSING_DEPENDENCY')
})
