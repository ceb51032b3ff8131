import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { createNode, PeerwardenError, type PeerNode } from '../../src/node/index.js'
import { sleep, until } from '../helpers/wait.js'

// A ban kept in a node's dataDir holds after the node restarts on it: the banned previous peer is
// not redialled (the others are) and its own dial is refused.

const peersOf = (n: PeerNode): string[] => n.connections().map((c) => c.peer)

test('a node restarted on its dataDir keeps its bans: the banned previous peer is neither redialled nor let in, the other is redialled', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-node-ban-'))
  const good = await createNode()
  const bad = await createNode()
  const closing: PeerNode[] = [good, bad]
  t.after(async () => {
    await Promise.allSettled(closing.map(async (n) => { await n.close() }))
    rmSync(dir, { recursive: true, force: true })
  })
  const first = await createNode({ dataDir: dir })
  try {
    await first.manager.connectNow(good.addresses[0])
    await first.manager.connectNow(bad.addresses[0])
    first.manager.setPriority([{ peer: bad.id, priority: 'banned' }])
    await until(() => !peersOf(bad).includes(first.id), 5000, 'the banned peer to see the connection go')
  } finally {
    await first.close()
  }
  await until(() => !peersOf(good).includes(first.id), 5000, 'the good peer to see the node go')

  const second = await createNode({ dataDir: dir })
  closing.push(second)
  assert.equal(second.manager.getPeer(bad.id)?.priority, 'banned', 'the ban came back from the dataDir')
  await until(() => peersOf(second).includes(good.id), 8000, 'the restarted node to redial its good previous peer')
  await sleep(300)
  assert.ok(!peersOf(bad).includes(second.id), 'the banned previous peer was not redialled')
  await assert.rejects(bad.manager.connectNow(second.addresses[0]), (err: unknown) => err instanceof PeerwardenError && err.code === 'ERR_REFUSED' && /banned/.test(String((err.cause as Error | undefined)?.message ?? err.cause)))
  assert.ok(!peersOf(second).includes(bad.id), 'its own dial is refused')
})
