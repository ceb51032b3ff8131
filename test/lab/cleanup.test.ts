import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { cleanLab } from '../../src/lab/clean.js'
import { listNamespaces } from '../../src/lab/network.js'
import { labSkip } from './lab-skip.js'

const skip = labSkip()

/** Whether a process has ended: gone, or a zombie waiting for its parent (init, once the controller exited) to reap it. */
function ended (pid: string): boolean {
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z') } catch { return true }
}

/** Resolves once every process has ended; rejects after `ms` (a SIGKILLed process ends within milliseconds). */
async function allEnded (pids: string[], ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!pids.every(ended)) {
    if (Date.now() > deadline) throw new Error(`still running: ${pids.filter((p) => !ended(p)).join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
// The compiled command, built by `npm run build` (npm test builds first).
const BIN = fileURLToPath(new URL('../../../dist/cli/peerwarden.js', import.meta.url))

test('Ctrl-C during a run removes every namespace the run made and its node processes', { skip, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pwlab-test-'))
  const file = join(dir, 'tiny.json')
  writeFileSync(file, JSON.stringify({ name: 'tiny', hosts: 2, nodes: 3, nat: { hosts: 0.5, kind: 'port-restricted' }, duration: 60 }))
  const child = spawn(process.execPath, [BIN, 'lab', file, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    const prefix = `pwlab-${child.pid}`
    // Wait until every node runs (the 'ready' line), so that there is something to remove.
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error('the run did not get ready')) }, 45_000)
      createInterface({ input: child.stdout }).on('line', (l) => { if (/ ready$/.test(l)) { clearTimeout(t); resolve() } })
      child.once('exit', (code) => { clearTimeout(t); reject(new Error(`the run exited early (${code})`)) })
    })
    const during = (await listNamespaces()).filter((ns) => ns.startsWith(prefix))
    assert.equal(during.length, 4, `lab, two hosts and a router: ${during.join(', ')}`)
    const pids = during.flatMap((ns) => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter((p) => p !== ''))
    assert.equal(pids.length, 3, 'three node processes')
    const exited = new Promise<NodeJS.Signals | null>((resolve) => { child.once('exit', (_code, signal) => { resolve(signal) }) })
    child.kill('SIGINT')
    assert.equal(await exited, 'SIGINT')
    assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(prefix)), [])
    await allEnded(pids, 5000)
  } finally {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})

test('lab clean removes what a dead run left and leaves a running one alone', { skip, timeout: 30_000 }, async () => {
  // A pid that is not running: a child that has exited.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout
  const leftover = `pwlab-${dead}a-h0`
  const running = `pwlab-${process.ppid}z-h0`
  for (const ns of [leftover, running]) assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0, ns)
  try {
    const removed = await cleanLab()
    assert.ok(removed.includes(leftover), `removed ${removed.join(', ')}`)
    assert.ok(!removed.includes(running))
    const left = await listNamespaces()
    assert.ok(!left.includes(leftover))
    assert.ok(left.includes(running))
  } finally {
    spawnSync('ip', ['netns', 'del', leftover])
    spawnSync('ip', ['netns', 'del', running])
  }
})
