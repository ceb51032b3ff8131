import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { listNamespaces } from '../../src/lab/network.js'
import { runLab } from '../../src/lab/run.js'
import { checkScenario } from '../../src/lab/scenario.js'
import type { LabResult } from '../../src/lab/types.js'
import { labSkip } from './lab-skip.js'

// Real node processes on emulated hosts (network namespaces). Four small runs at once (each in its own
// namespaces), under a minute in all on an idle machine; the hard timeouts leave room for a
// loaded one.
const skip = labSkip()

/** The lab tier runs small scenarios only: at most 20 nodes each, and runs that fit a minute. */
function small (input: Parameters<typeof checkScenario>[0]): ReturnType<typeof checkScenario> {
  const s = checkScenario(input)
  assert.ok(s.nodes <= 20, `${s.name}: ${s.nodes} nodes, at most 20 in the lab tier`)
  assert.ok(s.duration <= 45, `${s.name}: ${s.duration} s, the tier's scenarios run at once within a minute`)
  return s
}

/** Hosts of the nodes a node held connections to, over the whole run. */
function peerHosts (r: LabResult, node: number): Set<number> {
  const byId = new Map(r.nodes.map((n) => [n.id, n.host]))
  return new Set(r.samples.filter((s) => s.node === node).flatMap((s) => s.peers.map((p) => byId.get(p)!)))
}

describe('four small scenarios, run at once', { concurrency: true }, () => {
  test('nodes on separate hosts converge to lowWater, per-IP limits apply between hosts, and a silent partition is detected and healed without passing highWater', { skip, timeout: 120_000 }, async () => {
    const deadTimeout = 2500
    const sampleEvery = 500
    const scenario = small({
      name: 'lab-test-partition',
      hosts: 3,
      nodes: 12,
      bootstrap: 1,
      lowWater: 3,
      highWater: 5,
      // Two new sockets per second per source IP: on 127.0.0.1 it would not apply; here the four nodes
      // of a host share an IP, so starting them together must meet it.
      node: { keepAlive: 500, deadTimeout, perIpRate: 2 },
      sampleEvery,
      // The timeline counts from convergence (1 to 6 s after the start on an idle machine, the per-IP
      // rate refusing the first sockets; 18.5 s at load 24, when a partition at a fixed 10 s cut a
      // network still forming). Detection at most deadTimeout + 2 s; healing about a second: 8 s after
      // the heal leave room for a loaded machine.
      duration: 17,
      timelineFrom: 'converged',
      timeline: [{ at: 3, partition: [2] }, { at: 9, heal: true }]
    })
    const r = await runLab(scenario, { startConcurrency: 11 })
    const m = r.measures
    assert.notEqual(m.convergedAt, null, 'every node reached lowWater')
    assert.ok(m.convergedAt! < r.events.find((e) => e.kind === 'partition')!.t, `converged before the partition (after ${m.convergedAfter} ms)`)
    for (const n of r.nodes) if (!n.bootstrap) assert.ok([...peerHosts(r, n.index)].some((h) => h !== n.host), `node ${n.index} has peers on other hosts`)
    assert.equal(m.aboveHighWater, 0, `no sample above highWater (most: ${m.maxConnections})`)
    assert.ok(m.refusedPerIp > 0, 'the per-IP rate refused sockets between hosts')
    const [p] = m.partitions
    assert.deepEqual(p.hosts, [2])
    assert.notEqual(p.detectedAfter, null, 'the partition was detected')
    // Detection: deadTimeout, plus one liveness sweep (deadTimeout/4 at most), one sample period and a
    // second for a loaded machine's scheduling.
    assert.ok(p.detectedAfter! <= deadTimeout + deadTimeout / 4 + sampleEvery + 1000, `detected after ${p.detectedAfter} ms`)
    assert.notEqual(p.healedAfter, null, 'the partition healed')
    assert.ok(p.healedAfter! <= 60_000, `healed after ${p.healedAfter} ms`)
    assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${r.run}-`)), [], 'every namespace of the run is gone')
  })

  test('restarted nodes return to their previous peers, not the bootstrap, even with the bootstrap node dead; nodes behind a NAT dial out', { skip, timeout: 120_000 }, async () => {
    const scenario = small({
      name: 'lab-test-restart',
      hosts: 4,
      nodes: 8,
      bootstrap: 1,
      // Host 3 (nodes 3 and 7) is behind a symmetric NAT: node 3 restarts from behind it.
      nat: { hosts: 0.25, kind: 'symmetric' },
      lowWater: 3,
      highWater: 6,
      node: { keepAlive: 500, deadTimeout: 2500 },
      sampleEvery: 500,
      // From convergence: at a fixed 4 s after the start, a loaded machine (load 24) killed node 3
      // while its only peer was the bootstrap. The run goes on 13 s after the restart: the measure
      // looks 10 s past a restarted node's first report (the run used to end 7 s after the restart
      // began, and at load 25 node 6 was back but not yet reconnected: "after" empty).
      duration: 18,
      timelineFrom: 'converged',
      timeline: [{ at: 2, kill: [3, 6] }, { at: 3, kill: 'bootstrap' }, { at: 5, restart: 'killed' }]
    })
    const r = await runLab(scenario, { startConcurrency: 7 })
    assert.equal(r.measures.restarts.length, 2)
    for (const x of r.measures.restarts) {
      assert.ok(x.before.length > 0, `node ${x.node} had peers before`)
      assert.ok(x.returned > 0, `node ${x.node} returned to previous peers (before ${x.before.join(',')}, after ${x.after.join(',')})`)
      assert.equal(x.firstBootstrap, 0)
    }
    // Behind the NAT: connections out (no relay serves in this run: reaching them is the next test's).
    assert.equal(r.measures.nat.nodes, 2)
    assert.equal(r.measures.nat.dialledOut, 2)
    assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${r.run}-`)), [], 'every namespace of the run is gone')
  })

  test('nodes behind NATs find themselves private, reach each other through a relay, and directly after a punch through port-restricted NATs', { skip, timeout: 120_000 }, async () => {
    // Three public hosts (three observers to dial back), two behind NATs; lowWater 4 of 4 others, so
    // the two NATed nodes must connect to each other.
    const scenario = small({
      name: 'lab-test-nat',
      hosts: 5,
      nodes: 5,
      bootstrap: 1,
      nat: { hosts: 0.4, kind: 'port-restricted' },
      lowWater: 4,
      highWater: 6,
      // A dial-back unanswered within 2 s counts as failed: the NATed nodes know they are private
      // (and tell their relayed addresses) before the other dials them again.
      node: { keepAlive: 1000, deadTimeout: 5000, relay: true, refreshInterval: 2000, dialBack: { probeTimeout: 2000 } },
      sampleEvery: 500,
      duration: 30
    })
    const r = await runLab(scenario, { startConcurrency: 5 })
    const nat = r.measures.nat
    const natted = r.nodes.filter((n) => r.hosts[n.host]?.nat !== undefined)
    for (const n of natted) {
      const last = r.samples.filter((s) => s.node === n.index).at(-1)!
      assert.equal(last.reach?.reachability, 'private', `node ${n.index} found itself private`)
      assert.ok(last.advertised.length > 0 && last.advertised.every((a) => a.includes('/relay/')), `node ${n.index} tells relayed addresses only (${last.advertised.join(', ')})`)
    }
    assert.equal(nat.natPeers, 2, `both NATed nodes connected to each other (${JSON.stringify(nat)})`)
    assert.ok(nat.reached >= 1, 'a NATed node was reached from another host (through a relay)')
    const [kind] = nat.kinds
    assert.equal(kind?.kind, 'port-restricted')
    assert.ok(kind!.punchesDirect >= 1, `a punch gave a direct connection (${JSON.stringify(nat)})`)
    assert.ok(nat.natDirect >= 1, 'the NATed nodes held a direct connection')
    assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${r.run}-`)), [], 'every namespace of the run is gone')
  })

  test('two nodes behind symmetric NATs stay connected through a relay: every punch fails, the relayed connection is kept and used', { skip, timeout: 120_000 }, async () => {
    const deadTimeout = 5000
    const scenario = small({
      name: 'lab-test-symmetric',
      hosts: 5,
      nodes: 5,
      bootstrap: 1,
      nat: { hosts: 0.4, kind: 'symmetric' },
      lowWater: 4,
      highWater: 6,
      // A dial to a NATed node's direct address hangs until the dial timeout (its router drops the
      // SYN): 2.5 s rather than 10 lets the NATed nodes try each other's relayed addresses early.
      node: { keepAlive: 1000, deadTimeout, relay: true, refreshInterval: 2000, dialBack: { probeTimeout: 2000 }, manager: { dialTimeout: 2500 } },
      sampleEvery: 500,
      duration: 30
    })
    const r = await runLab(scenario, { startConcurrency: 5 })
    const nat = r.measures.nat
    const [a, b] = r.nodes.filter((n) => r.hosts[n.host]?.nat !== undefined)
    assert.equal(nat.natPeers, 2, `the symmetric pair connected (${JSON.stringify(nat)})`)
    const [kind] = nat.kinds
    assert.equal(kind?.kind, 'symmetric')
    assert.ok(kind.punches >= 1, `they tried to punch (${JSON.stringify(nat)})`)
    assert.equal(kind.punchesDirect, 0, 'no punch through a symmetric NAT succeeds')
    assert.equal(nat.natDirect, 0)
    const mine = r.samples.filter((s) => s.node === a!.index && s.t >= r.measures.readyAt)
    const after = mine.slice(mine.findIndex((s) => s.peers.includes(b!.id)))
    const since = after[0]!.t
    const end = after.at(-1)!.t
    // Kept: from the first sample that held it to the end, over two deadTimeouts, which only a
    // connection carrying its keep-alives through the relay survives; never direct.
    assert.ok(after.every((s) => s.peers.includes(b!.id) && s.reach?.relayedPeers.includes(b!.id) === true), 'the relayed connection was kept, never direct')
    assert.ok(end - since >= 2 * deadTimeout, `held for ${end - since} ms`)
    // Used: the relays forwarded bytes all along (the pair's keep-alives among them).
    const relayBytes = (t: number): number => r.nodes.filter((n) => r.hosts[n.host]?.nat === undefined)
      .reduce((sum, n) => sum + (r.samples.filter((s) => s.node === n.index && s.t <= t).at(-1)?.reach?.relayBytes ?? 0), 0)
    assert.ok(relayBytes(end) > relayBytes(since + deadTimeout), 'the relays kept forwarding')
    assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${r.run}-`)), [], 'every namespace of the run is gone')
  })
})
