import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { lockDataDir, LOCK_FILE } from '../../src/node/data-dir-lock.js'
import { createNode } from '../../src/node/index.js'
import { hasCode } from '../helpers/errors.js'
import { within } from '../helpers/wait.js'

// ERR_DATA_DIR_LOCKED: two nodes on one dataDir shared the identity and wrote one peer store from
// two places. Now the second fails at once, and a lock left by a crash does not block.

const root = mkdtempSync(join(tmpdir(), 'peerwarden-dirlock-'))
after(() => { rmSync(root, { recursive: true, force: true }) })
let n = 0
const fresh = (): string => join(root, `dir-${n++}`)
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

test('a second lock on a held dataDir in the same process fails at once with ERR_DATA_DIR_LOCKED naming the dir, and succeeds after release', () => {
  const dir = fresh()
  const first = lockDataDir(dir)
  assert.throws(() => lockDataDir(dir), hasCode('ERR_DATA_DIR_LOCKED', new RegExp(`${escape(dir)}.*another node in this process`)))
  first.release()
  first.release() // idempotent
  const second = lockDataDir(dir)
  second.release()
})

test('a lock whose handle nobody keeps still holds after a garbage collection (the OS lock lives as long as its connection)', () => {
  const dir = fresh()
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  let lock: ReturnType<typeof lockDataDir> | undefined = lockDataDir(dir)
  const { dir: held } = lock
  lock = undefined
  gc()
  gc()
  assert.throws(() => lockDataDir(dir), hasCode('ERR_DATA_DIR_LOCKED'))
  void held
})

test('a lock file that is not a database (written by something else) is replaced, not a permanent lock', () => {
  const dir = fresh()
  lockDataDir(dir).release()
  writeFileSync(join(dir, LOCK_FILE), 'garbage '.repeat(1000))
  const lock = lockDataDir(dir)
  lock.release()
})

/** A child process that locks `dir`, says 'locked', and waits to be killed. */
const HOLDER = `
import { lockDataDir } from ${JSON.stringify(new URL('../../src/node/data-dir-lock.js', import.meta.url).href)}
lockDataDir(process.argv[2])
process.stdout.write('locked\\n')
setInterval(() => {}, 1000)
`

test('a dataDir held by another process is refused naming its pid, and taken at once after that process is killed with SIGKILL', { timeout: 15_000 }, async () => {
  const dir = fresh()
  const script = join(root, `holder-${n++}.mjs`)
  writeFileSync(script, HOLDER)
  const child: ChildProcess = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await within(new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('locked')) resolve() })
      child.once('exit', (code) => { reject(new Error(`the holder exited (${String(code)})`)) })
    }), 10_000, 'the child taking the lock')
    assert.throws(() => lockDataDir(dir), hasCode('ERR_DATA_DIR_LOCKED', new RegExp(`${escape(dir)}.*pid ${child.pid!}`)))
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    // The crash left the lock file (and the owner file) behind: neither blocks.
    const lock = lockDataDir(dir)
    assert.match(readFileSync(join(dir, 'peerwarden.lock.owner'), 'utf8'), new RegExp(`^${process.pid} `))
    lock.release()
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

test('a second createNode on the same dataDir fails at once with ERR_DATA_DIR_LOCKED; after close() the dataDir starts a node with the same identity', { timeout: 10_000 }, async () => {
  const dir = fresh()
  const first = await createNode({ dataDir: dir, manager: { lowWater: 0, highWater: 4 } })
  let id: string
  try {
    id = first.id
    await assert.rejects(createNode({ dataDir: dir }), hasCode('ERR_DATA_DIR_LOCKED', new RegExp(escape(dir))))
  } finally {
    await first.close()
  }
  const again = await createNode({ dataDir: dir, manager: { lowWater: 0, highWater: 4 } })
  assert.equal(again.id, id)
  await again.close()
})

test('a createNode that fails to start (its port is taken) lets the dataDir go', { timeout: 10_000 }, async () => {
  const dir = fresh()
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  const { port } = blocker.address() as net.AddressInfo
  try {
    await assert.rejects(createNode({ dataDir: dir, listen: [`tcp://127.0.0.1:${port}`] }), hasCode('ERR_LISTEN'))
  } finally {
    blocker.close()
  }
  const node = await createNode({ dataDir: dir, manager: { lowWater: 0, highWater: 4 } })
  await node.close()
})
