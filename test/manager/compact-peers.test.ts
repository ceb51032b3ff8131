import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CompactPeers } from '../../src/manager/compact-peers.js'
import { Simulation, xorshift } from '../../src/testing/simulation.js'

test('compact peers: membership, creation order and first-seen times match a Map through 200,000 random adds and takes (a take that marked its hole before clearing its cell filled the table: every lookup then spun forever)', () => {
  const table = new CompactPeers()
  const ref = new Map<number, { seq: number; firstSeen: number }>()
  const random = xorshift(7)
  let seq = 0
  for (let step = 0; step < 200_000; step++) {
    const peer = Math.floor(random() * 300)
    if (random() < 0.6) {
      assert.equal(table.has(peer), ref.has(peer))
      if (!ref.has(peer)) {
        table.add(peer, seq, 1000 + seq)
        ref.set(peer, { seq, firstSeen: 1000 + seq })
        seq++
      }
    } else {
      assert.deepEqual(table.take(peer), ref.get(peer))
      ref.delete(peer)
    }
  }
  assert.equal(table.size, ref.size)
  const peers = [...table.peers()]
  assert.deepEqual(peers, [...ref.keys()].sort((a, b) => ref.get(a)!.seq - ref.get(b)!.seq))
  assert.equal(table.first(), peers[0])
  assert.equal(table.firstSeq(), ref.get(peers[0])!.seq)
  for (const p of peers) assert.equal(table.firstSeenOf(p), ref.get(p)!.firstSeen)
})

test('compact peers: an empty table answers without allocating, and the first add makes room', () => {
  const table = new CompactPeers()
  assert.equal(table.has(5), false)
  assert.equal(table.take(5), undefined)
  assert.equal(table.first(), -1)
  table.add(5, 1, 2)
  assert.equal(table.has(5), true)
  assert.equal(table.first(), 5)
})

/** What a run shows of every node: its counts, the peers it knows and how, and the order of its dials. */
async function trace (compactPeers: boolean): Promise<{ nodes: string[]; records: number; known: number }> {
  const dials: string[][] = []
  const sim = new Simulation({
    nodes: 150,
    bootstrap: 2,
    random: xorshift(3),
    referrals: 8,
    compactPeers,
    manager: { lowWater: 6, highWater: 10 },
    onManager: (node) => {
      const list: string[] = []
      dials.push(list)
      node.manager.events.addEventListener('dial:started', (e) => { list.push(`${e.detail.peer ?? '?'}@${node.transport.id}`) })
    }
  })
  sim.start()
  await sim.run(30_000)
  // Counted before listPeers(), which makes every compact peer a record.
  const records = sim.nodes.reduce((a, n) => a + (n.manager as unknown as { book: { byKey: Map<string, unknown> } }).book.byKey.size, 0)
  const known = sim.nodes.reduce((a, n) => a + n.manager.stats().known, 0)
  const nodes = sim.nodes.map((n, i) => JSON.stringify({
    stats: { ...n.manager.stats(), topics: undefined },
    peers: n.manager.listPeers().map((p) => JSON.stringify(p)).sort(),
    dials: dials[i]
  }))
  await sim.stop()
  return { nodes, records, known }
}

test('simulation: peer books that keep peers compactly behave as books of records — the same dials in the same order, the same peers known the same way, the same counts — with a record for a fraction of the peers', async () => {
  const plain = await trace(false)
  const compact = await trace(true)
  assert.equal(compact.nodes.length, plain.nodes.length)
  for (let i = 0; i < plain.nodes.length; i++) assert.equal(compact.nodes[i], plain.nodes[i], `node ${i}`)
  assert.equal(compact.known, plain.known)
  assert.equal(plain.records, plain.known, 'without compact peers every known peer is a record')
  assert.ok(compact.records < plain.records / 2, `${compact.records} records for ${compact.known} known peers`)
})
