import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { sqliteStore } from '../../src/index.js'
import type { StoredPeer } from '../../src/index.js'

// Crash safety of sqliteStore with a real process: a child writes batches as fast as it can and
// says `acked <g>` after each flush; we SIGKILL it mid-stream and check that nothing acknowledged
// was lost and that no batch was applied in part. No sleeps: we wait on the child's output only.

type Database = import('better-sqlite3').Database
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3')

const PEERS = 500
/** Bytes of filler per row, so that a batch is a few megabytes of writes and WAL checkpoints happen. */
const PAD = 4096
const dir = mkdtempSync(join(tmpdir(), 'peerwarden-crash-'))
after(() => { rmSync(dir, { recursive: true, force: true }) })

// The compiled library next to this compiled test (build*/test/store → build*/src).
const library = new URL('../../src/index.js', import.meta.url).href

/** The child: batches of PEERS peers, every field derived from the generation g, then flush, then ack. */
const writer = `
import { sqliteStore } from ${JSON.stringify(library)}
const store = sqliteStore(process.argv[2])
const pad = 'x'.repeat(${PAD})
for (let g = 1; ; g++) {
  const batch = []
  for (let i = 0; i < ${PEERS}; i++) {
    const key = 'peer-' + i
    batch.push({
      key, id: key, addresses: ['tcp://10.0.' + (i >> 8) + '.' + (i & 255) + ':4001', '/memo/' + g + '/' + pad],
      priority: g % 2 === 0 ? 'high' : 'low', topics: ['gen-' + g], longTerm: g % 3 === 0, permanent: false, bootstrap: i === 0,
      tags: { gen: g, index: i }, lastConnected: g, successes: g, failures: g % 5, nextDialAt: g * 1000, firstSeen: 1
    })
  }
  store.save(batch)
  process.stdout.write('writing ' + g + '\\n')
  await store.flush()
  process.stdout.write('acked ' + g + '\\n')
}
`
const script = join(dir, 'crash-writer.mjs')
writeFileSync(script, writer)

interface Run { lastAcked: number; killedDuring: number; stderr: string }

/**
 * Starts the writer and SIGKILLs it as soon as it announces the batch after the `acks`-th
 * acknowledgement — so the kill lands while that batch's transaction is being written — then waits
 * for it to die and for its last output.
 */
async function writeAndKill (path: string, acks: number): Promise<Run> {
  let child: ChildProcess | undefined
  try {
    const proc = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    let stderr = ''
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    let lastAcked = 0
    let killedDuring = -1
    let buffered = ''
    const junk: string[] = []
    const exited = new Promise<void>((resolve) => { proc.once('close', () => { resolve() }) })
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      buffered += s
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) {
        const m = /^(acked|writing) (\d+)$/.exec(line)
        if (m === null) { junk.push(line); continue }
        const g = Number(m[2])
        // Every ack read counts, those already in the pipe when the kill landed included.
        if (m[1] === 'acked') lastAcked = Math.max(lastAcked, g)
        else if (killedDuring === -1 && lastAcked >= acks) {
          killedDuring = g
          proc.kill('SIGKILL')
        }
      }
    })
    await exited
    assert.deepEqual(junk, [], 'unexpected output from the writer')
    assert.ok(killedDuring !== -1, `the writer died on its own after ${lastAcked} acks: ${stderr}`)
    assert.equal(proc.signalCode, 'SIGKILL')
    return { lastAcked, killedDuring, stderr }
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

const FIELDS: Array<keyof StoredPeer> = ['key', 'id', 'addresses', 'priority', 'topics', 'longTerm', 'permanent', 'bootstrap', 'tags', 'lastConnected', 'successes', 'failures', 'nextDialAt', 'firstSeen']

/** The generation a whole, well-formed row carries; throws when the row is torn or mixes generations. */
function generationOf (p: StoredPeer): number {
  for (const f of FIELDS) assert.ok(f in p, `row ${p.key} lacks ${f}`)
  const g = p.tags.gen
  assert.ok(Number.isInteger(g) && g >= 1, `row ${p.key} has generation ${g}`)
  const i = p.tags.index
  assert.equal(p.key, `peer-${i}`)
  assert.equal(p.id, p.key)
  assert.equal(p.addresses.length, 2)
  assert.ok(p.addresses[1].startsWith(`/memo/${g}/`) && p.addresses[1].length === `/memo/${g}/`.length + PAD, `row ${p.key}: address of another generation or cut short`)
  assert.equal(p.priority, g % 2 === 0 ? 'high' : 'low')
  assert.deepEqual(p.topics, [`gen-${g}`])
  assert.equal(p.longTerm, g % 3 === 0)
  assert.equal(p.bootstrap, i === 0)
  assert.equal(p.lastConnected, g)
  assert.equal(p.successes, g)
  assert.equal(p.failures, g % 5)
  assert.equal(p.nextDialAt, g * 1000)
  return g
}

// Three writer processes doing heavy updates: CPU-bound, the timeout is a hang guard sized for a
// loaded machine (30 s ran out there), not a speed bound.
test('a writer killed with SIGKILL in the middle of heavy updates loses no acknowledged batch and leaves no partial one (3 runs)', { timeout: 120_000 }, async (t) => {
  for (const [run, acks] of [[1, 5], [2, 25], [3, 80]] as const) {
    const path = join(dir, `crash-${run}.db`)
    const { lastAcked, killedDuring, stderr } = await writeAndKill(path, acks)
    assert.ok(lastAcked >= acks, `run ${run}: ${lastAcked} acks (${stderr})`)

    // The file opens, is intact, and holds whole rows.
    const db: Database = new BetterSqlite3(path)
    let raw: Array<{ key: string; data: string }>
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', `run ${run}: integrity_check`)
      raw = db.prepare('SELECT key, data FROM peers').all() as Array<{ key: string; data: string }>
    } finally {
      db.close()
    }
    assert.equal(raw.length, PEERS, `run ${run}: rows`)
    for (const row of raw) {
      const p = JSON.parse(row.data) as StoredPeer // throws on a torn row
      assert.equal(p.key, row.key)
    }

    // Through the store: every peer at least at the last acknowledged generation, all at the same one.
    const store = sqliteStore(path)
    const peers = await store.load()
    await store.close()
    assert.equal(peers.length, PEERS, `run ${run}: the store loads every row`)
    const gens = new Set(peers.map(generationOf))
    const min = Math.min(...gens)
    assert.ok(min >= lastAcked, `run ${run}: a peer holds generation ${min} < last acknowledged ${lastAcked}`)
    assert.equal(gens.size, 1, `run ${run}: generations ${[...gens].join(', ')} mixed: a batch was applied in part`)
    // At most the batch in progress when the kill landed can be beyond the last ack we read.
    assert.ok(min <= lastAcked + 1, `run ${run}: generation ${min} after ${lastAcked} acks`)
    t.diagnostic(`run ${run}: killed while writing batch ${killedDuring}, last ack read ${lastAcked}; the file holds generation ${min} for all ${PEERS} peers`)
  }
})
