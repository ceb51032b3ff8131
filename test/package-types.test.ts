import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

/**
 * tsc --noEmit on `files` as a strict NodeNext consumer with skipLibCheck off; resolves with its
 * report. CPU-bound (~15 s alone): the tests' timeouts are hang guards sized for a loaded machine
 * (a kill of its own after 200 s failed both checks at load 58).
 */
async function typeCheck (files: string[]): Promise<{ status: number | null; report: string }> {
  const child = spawn(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--target', 'ES2022', '--types', 'node', '--skipLibCheck', 'false', ...files], { cwd: root })
  let report = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { report += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { report += d })
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', (err) => { report += String(err); resolve([null, null]) })
    child.once('close', (code, sig) => { resolve([code, sig]) })
  })
  return { status, report: signal === null ? report : `${report}\n(tsc ended by ${signal})` }
}

// Both checks start at once, two tsc processes: the file takes the time of one where a core is free
// (run one after the other they were the longest file of the suite, 3 min 42 s at load 25).
const consumer = typeCheck(['test/fixtures/consumer.ts'])
const ownTypes = typeCheck(['test/fixtures/consumer-own-types.ts', 'test/fixtures/own-vendor-types.d.ts'])

test('the published declarations type-check in a strict consumer without skipLibCheck', { timeout: 240_000 }, async () => {
  const { status, report } = await consumer
  assert.equal(status, 0, `tsc reported:\n${report}`)
})

// The package once shipped ambient `declare module 'sodium-native'` (and protomux, compact-encoding)
// and referenced them from its declarations: an application's own types for those modules then
// clashed with ours ("multiple default exports") or were replaced by them.
test("a consumer's own declarations for sodium-native and protomux stay in force next to peerwarden/node", { timeout: 240_000 }, async () => {
  const { status, report } = await ownTypes
  assert.equal(status, 0, `tsc reported:\n${report}`)
})
