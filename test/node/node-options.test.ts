import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { discoveryKey, type PeerNode } from '../../src/node/index.js'
import { testNode } from '../helpers/nodes.js'
import { sleep, until } from '../helpers/wait.js'

// The node's options `rendezvous` and join's `lookup` / `announce`, with real nodes.
// Real sockets, 127.0.0.1 only (the default listen address). Every node is closed when its test ends.

const T = { timeout: 20_000 }
const KEY = discoveryKey('t')

const node = testNode

const bootstrapOf = (n: PeerNode): string[] => [`${n.addresses[0]}#${n.id}`]
const isConnected = (a: PeerNode, b: PeerNode): boolean => a.connections().some((c) => c.peer === b.id)
const bothConnected = (a: PeerNode, b: PeerNode): boolean => isConnected(a, b) && isConnected(b, a)
/** Whether `n` knows `peer` as a peer of the topic 't'. */
const knowsForTopic = (n: PeerNode, peer: PeerNode): boolean => n.manager.getPeer(peer.id)?.topics.includes(KEY) === true

/** Every peer `n` ever dialled (dial:started carries the peer id when it is known). */
function dials (n: PeerNode): Array<string | undefined> {
  const out: Array<string | undefined> = []
  n.events.addEventListener('dial:started', (e) => { out.push(e.detail.peer) })
  return out
}

/**
 * Every peer `n` ever learnt for the topic 't' while not connected to it — through a lookup or a
 * peer exchange, not from the peer's own hello — caught even if later corrected.
 */
function everLearnt (t: TestContext, n: PeerNode): Set<string> {
  const seen = new Set<string>()
  // A peer that connected to `n` itself (S's own refresh may find C and dial it) tells its topics
  // on that connection: what it left behind afterwards was not handed out by anybody.
  const met = new Set<string>()
  const onConnected = (e: CustomEvent<{ peer: string }>): void => { met.add(e.detail.peer) }
  n.events.addEventListener('peer:connected', onConnected)
  t.after(() => { n.events.removeEventListener('peer:connected', onConnected) })
  const unsubscribe = n.manager.observePeers((peers) => {
    for (const p of peers) {
      if (p.id === undefined) continue
      if (p.connected) met.add(p.id)
      else if (!met.has(p.id) && p.topics.includes(KEY)) seen.add(p.id)
    }
  })
  t.after(unsubscribe)
  return seen
}

/**
 * A rendezvous candidate `r` (lowWater 1: once it holds a connection it dials nobody of its own
 * accord) and a node A that joined 't' through it while connected, then dropped the connection: A
 * still runs and would accept connections, but is no longer connected to `r` (it rests `r` for
 * about a minute: disconnect() means 'not now'). Whatever finds A later, finds it through what `r`
 * remembers of A's announcement.
 */
async function announcerGone (t: TestContext, rendezvous: boolean | undefined): Promise<{ r: PeerNode; a: PeerNode }> {
  const r = await node(t, { rendezvous, manager: { lowWater: 1, highWater: 8 } })
  const a = await node(t, { bootstrap: bootstrapOf(r) })
  await until(() => bothConnected(a, r), 5000, 'A to reach R')
  // The join's lookup is answered by R on the channel the announcement went through first: once it
  // resolves, R has processed A's announcement (if it takes announcements at all).
  await a.join('t')
  await until(() => knowsForTopic(r, a), 5000, 'R to hear A\'s topics')
  assert.equal(r.stats().rendezvousTopics, rendezvous === false ? 0 : 1,
    rendezvous === false ? 'a node without rendezvous registers nobody' : 'a rendezvous node registers A for the topic')
  await a.manager.disconnect(r.id)
  await until(() => r.connections().length === 0 && a.connections().length === 0, 5000, 'A and R to part')
  return { r, a }
}

// ── rendezvous: false ─────────────────────────────────────────────────────

test('rendezvous (default): a node remembers who announced a topic through it and refers later joiners to them', T, async (t) => {
  const { r, a } = await announcerGone(t, undefined)
  const b = await node(t, { bootstrap: bootstrapOf(r) })
  const learnt = everLearnt(t, b)
  await until(() => bothConnected(b, r), 5000, 'B to reach R')
  await b.join('t')
  assert.ok(learnt.has(a.id), 'B\'s lookup at R returned A, although A is no longer connected to R')
  assert.equal(knowsForTopic(b, a), true)
  await until(() => bothConnected(b, a), 5000, 'B to connect to A, found through R')
})

test('rendezvous: false: the node registers no announcement, so a later joiner does not find an earlier one through it; it still answers lookups (with no peers)', T, async (t) => {
  const { r, a } = await announcerGone(t, false)
  // B looks the topic up again every 300 ms while it has no topic peer.
  const b = await node(t, { bootstrap: bootstrapOf(r), refreshInterval: 300 })
  const learnt = everLearnt(t, b)
  const bDials = dials(b)
  await until(() => bothConnected(b, r), 5000, 'B to reach R')
  const started = Date.now()
  await b.join('t')
  // Had R ignored the lookup, the join would have waited for the lookup timeout (2 s).
  assert.ok(Date.now() - started < 2_000, `R answered B's lookup (the join took ${Date.now() - started} ms)`)
  assert.equal(b.flushed('t'), true, 'looked up, and nothing found to attempt')
  // B's refreshes ask R again: still nobody.
  await sleep(1_000)
  assert.equal(learnt.has(a.id), false, 'B never learnt A')
  assert.equal(b.manager.getPeer(a.id), undefined)
  assert.equal(bDials.includes(a.id), false, 'B never dialled A')
  assert.equal(isConnected(b, a), false)
  assert.equal(r.stats().rendezvousTopics, 0, 'B\'s announcement was not registered either')
  assert.equal(r.stats().connections, 1, 'R keeps B connected: it is a peer like any other')
})

// ── join(topic, { lookup: false }) ──────────────────────────────────────────

test('join(topic, { lookup: false }) announces but does not look up: the node does not find nor dial the topic\'s peers that a full join finds', T, async (t) => {
  const { r, a } = await announcerGone(t, undefined)

  const l = await node(t, { bootstrap: bootstrapOf(r) })
  const lLearnt = everLearnt(t, l)
  const lDials = dials(l)
  await until(() => bothConnected(l, r), 5000, 'L to reach R')
  await l.join('t', { lookup: false })
  assert.equal(l.joined('t'), true)
  assert.equal(l.flushed('t'), true, 'nothing to look up: flushed at once')
  // A lookup's answer is learnt before join() resolves; give a stray later one time to arrive too.
  await sleep(500)
  assert.equal(lLearnt.has(a.id), false, 'L did not learn A')
  assert.equal(l.manager.getPeer(a.id), undefined)
  assert.deepEqual(lDials.filter((p) => p !== r.id), [], 'L dialled nobody but its bootstrap node')
  assert.equal(isConnected(l, a), false)

  // The control: a node joining fully through the same R finds A — and L, which did announce.
  const f = await node(t, { bootstrap: bootstrapOf(r) })
  const fLearnt = everLearnt(t, f)
  await until(() => bothConnected(f, r), 5000, 'F to reach R')
  await f.join('t')
  assert.ok(fLearnt.has(a.id), 'a full join through R finds A')
  assert.ok(fLearnt.has(l.id), 'L announced the topic at R')
  await until(() => isConnected(f, a) && isConnected(f, l), 5000, 'F to connect to A and L')
})

// ── join(topic, { announce: false }) ────────────────────────────────────────

test('join(topic, { announce: false }) looks up without announcing: the node finds the topic\'s peers, but no lookup nor peer exchange ever hands it out', T, async (t) => {
  const r = await node(t)
  // S joins before it connects: its hello already says its only topic is lookup-only.
  const s = await node(t, { refreshInterval: 500 })
  await s.join('t', { announce: false })
  await s.manager.connectNow(r.addresses[0])
  await until(() => bothConnected(s, r) && knowsForTopic(r, s), 5000, 'S to reach R and R to hear S\'s topics')

  const a = await node(t, { bootstrap: bootstrapOf(r) })
  const aLearnt = everLearnt(t, a)
  await until(() => bothConnected(a, r), 5000, 'A to reach R')
  await a.join('t')
  assert.equal(aLearnt.has(s.id), false, 'R did not hand S out to A')
  assert.equal(r.stats().rendezvousTopics, 1, 'R holds A\'s registration only')

  // S looks the topic up (its refresh) and finds A through R: lookup-only still finds others.
  await until(() => bothConnected(s, a), 5000, 'S to find A through R and connect')
  assert.equal(s.connections().find((c) => c.peer === a.id)?.direction, 'outbound', 'S dialled A, not the other way round')
  assert.equal(aLearnt.has(s.id), false, 'A never learnt S but from S itself')

  // C asks both R and A, each connected to S and knowing its topic: neither hands S out.
  const c = await node(t)
  const cLearnt = everLearnt(t, c)
  await c.manager.connectNow(r.addresses[0])
  await c.manager.connectNow(a.addresses[0])
  await until(() => bothConnected(c, r) && bothConnected(c, a), 5000, 'C to reach R and A')
  await c.join('t') // answered by R and A (lookups), A also sends its peers for the shared topic (exchange)
  await sleep(300)
  assert.equal(knowsForTopic(c, a), true, 'C found A')
  assert.equal(cLearnt.has(s.id), false, 'nobody handed S out to C')
  // S's own refresh may find C through R and dial it (lookup-only still finds others); C never dials S.
  const cs = c.connections().find((x) => x.peer === s.id)
  assert.ok(cs === undefined || cs.direction === 'inbound', 'C never dialled S')
})

// ── defects found by the tests below, fixed: regression tests ──

// Bug: found() fed pex peers of a lookup:false topic to the manager, whose topic quota then dialled them.
test('join(topic, { lookup: false }): peers a connected peer sends by peer exchange are not dialled either', T, async (t) => {
  const { r, a } = await announcerGone(t, undefined)
  const l = await node(t, { bootstrap: bootstrapOf(r) })
  const lDials = dials(l)
  await until(() => bothConnected(l, r), 5000, 'L to reach R')
  await l.join('t', { lookup: false })
  // F joins fully, finds A and L through R and connects to both; F then tells L the peers it knows for 't'.
  const f = await node(t, { bootstrap: bootstrapOf(r) })
  await until(() => bothConnected(f, r), 5000, 'F to reach R')
  await f.join('t')
  await until(() => bothConnected(f, a) && bothConnected(f, l), 5000, 'F to connect to A and L')
  await sleep(500)
  assert.equal(lDials.includes(a.id), false, 'L, which does not look the topic up, did not dial A')
})

// Bug: remoteAnnounces was read from the hello only; a node that joined nothing said it announced, and a
// later lookup-only join did not correct it (now 'topics' carries the announce flag).
test('join(topic, { announce: false }) after the node connected: the rendezvous point does not hand it out', T, async (t) => {
  const r = await node(t)
  const s = await node(t)
  await s.manager.connectNow(r.addresses[0])
  await until(() => bothConnected(s, r), 5000, 'S to reach R')
  await s.join('t', { announce: false }) // after the hello: only a 'topics' message tells R
  await until(() => knowsForTopic(r, s), 5000, 'R to hear S\'s topics')
  const a = await node(t, { bootstrap: bootstrapOf(r) })
  const aLearnt = everLearnt(t, a)
  await until(() => bothConnected(a, r), 5000, 'A to reach R')
  await a.join('t')
  assert.equal(aLearnt.has(s.id), false, 'R did not hand S out to A')
})

test('an application\'s manager.accepted hook runs after the node adopted the connection (its channels and "connection" event are set up first)', T, async (t) => {
  const seen: Array<{ peer: string; adopted: boolean }> = []
  const adopted = new Set<string>()
  const a = await node(t, {
    manager: {
      accepted: (conn) => { seen.push({ peer: conn.peer, adopted: adopted.has(conn.peer) }) }
    }
  })
  a.events.addEventListener('connection', (e) => { adopted.add(e.detail.peer) })
  const b = await node(t, { bootstrap: bootstrapOf(a) })
  await until(() => bothConnected(a, b), 10_000, 'the two nodes to connect')
  assert.deepEqual(seen, [{ peer: b.id, adopted: true }])
  await assert.rejects(node(t, { manager: { accepted: 'nope' as never } }), /manager\.accepted/)
})
