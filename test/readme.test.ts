import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { redisSkip, startRedis } from './helpers/redis.js'

// The README's examples run as written (the mesh example once failed with ERR_NO_INSTANCE: calls made
// right after createMeshNode found no instance). The code block is taken from README.md, compiled as it
// is, and run in a process of its own against the built package ('peerwarden/mesh' by self-reference);
// only the Redis address (a private redis-server) and the fixed port (a free one) are swapped.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The first ```ts block after the heading that starts with `heading`. */
function block (heading: string): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  const at = readme.indexOf(`\n${heading}`)
  assert.ok(at >= 0, `README has a section ${heading}`)
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.ok(m !== null, `a ts code block under ${heading}`)
  return m[1]!
}

async function run (source: string, ms: number): Promise<{ code: number | null; out: string }> {
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
  const file = `${ROOT}build/readme-example-${process.pid}.mjs`
  writeFileSync(file, js)
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, ms)
  const code = await new Promise<number | null>((resolve) => { child.once('exit', resolve) })
  clearTimeout(timer)
  rmSync(file, { force: true })
  return { code, out }
}

test('the README\'s mesh example runs as written: the first call right after start is answered, broadcast and queued too', { timeout: 60_000 }, async (t) => {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return }
  const redis = await startRedis()
  t.after(async () => { await redis.stop() })
  const code = block('## A service mesh').replaceAll('redis://127.0.0.1:6379', redis.url).replaceAll('tcp://127.0.0.1:4500', 'tcp://127.0.0.1:0')
  const result = await run(`${code}
console.log('README-RESULT', JSON.stringify({ w, answers }))
await Promise.all([api.close(), worker.close()])
await registry.close()
`, 45_000)
  assert.equal(result.code, 0, result.out)
  const line = result.out.split('\n').find((l) => l.startsWith('README-RESULT '))
  assert.ok(line !== undefined, result.out)
  const { w, answers } = JSON.parse(line.slice('README-RESULT '.length)) as { w: number; answers: Array<{ ok: boolean; value: unknown }> }
  assert.equal(w, 2)
  assert.equal(answers.length, 1)
  assert.deepEqual(answers[0]!.value, { ok: true })
})
