import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

/**
 * tsc --noEmit on `files` as a strict NodeNext consumer with skipLibCheck off; returns its report.
 * CPU-bound (~15 s alone): the tests' timeouts are hang guards sized for a loaded machine.
 */
function typeCheck (files: string[]): { status: number | null; report: string } {
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--target', 'ES2022', '--types', 'node', '--skipLibCheck', 'false', ...files], { cwd: root, encoding: 'utf8' })
  return { status: r.status, report: `${r.stdout}${r.stderr}` }
}

test('the published declarations type-check in a strict consumer without skipLibCheck', { timeout: 240_000 }, () => {
  const { status, report } = typeCheck(['test/fixtures/consumer.ts'])
  assert.equal(status, 0, `tsc reported:\n${report}`)
})

// The package once shipped ambient `declare module 'sodium-native'` (and protomux, compact-encoding)
// and referenced them from its declarations: an application's own types for those modules then
// clashed with ours ("multiple default exports") or were replaced by them.
test("a consumer's own declarations for sodium-native and protomux stay in force next to peerwarden/node", { timeout: 240_000 }, () => {
  const { status, report } = typeCheck(['test/fixtures/consumer-own-types.ts', 'test/fixtures/own-vendor-types.d.ts'])
  assert.equal(status, 0, `tsc reported:\n${report}`)
})
