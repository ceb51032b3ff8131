import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

test('the published declarations type-check in a strict consumer without skipLibCheck', { timeout: 60_000 }, () => {
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--target', 'ES2022', '--types', 'node', '--skipLibCheck', 'false', 'test/fixtures/consumer.ts'], { cwd: root, encoding: 'utf8' })
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`)
})
