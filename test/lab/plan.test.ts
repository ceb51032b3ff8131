import assert from 'node:assert/strict'
import { test } from 'node:test'
import { measure } from '../../src/lab/measures.js'
import { renderComparison } from '../../src/lab/report.js'
import { hostFilterScript, namespacesOf, natScript, planNetwork, runOfNamespace } from '../../src/lab/plan.js'
import { hostSpecs } from '../../src/lab/run.js'
import { checkScenario, listScenarios, loadScenario, natKinds, pick } from '../../src/lab/scenario.js'
import { parseRunnerLine } from '../../src/lab/samples.js'
import { labSkip } from './lab-skip.js'
import type { LabEvent, LabResult, NodeSample } from '../../src/lab/types.js'

test('every name of a run carries its run id, and every link name fits the kernel (15 characters)', () => {
  const plan = planNetwork('4194304z', Array.from({ length: 250 }, (_, i) => (i % 2 === 0 ? undefined : 'symmetric')))
  for (const ns of namespacesOf(plan)) {
    assert.ok(ns.startsWith('pwlab-4194304z-'), ns)
    assert.equal(runOfNamespace(ns), '4194304')
  }
  for (const h of plan.hosts) {
    for (const dev of [h.dev, h.peerDev, h.nat?.wanDev, h.nat?.bridgePort].filter((d) => d !== undefined)) {
      assert.ok(dev.startsWith('pw4194304z') && dev.length <= 15, dev)
    }
  }
  assert.ok(plan.bridge.length <= 15)
  assert.equal(runOfNamespace('pwlabx-1-h1'), undefined)
  assert.equal(runOfNamespace('myns'), undefined)
})

test('public hosts share one /16, a NATed host has its own inside network and is seen at its router', () => {
  const plan = planNetwork('12a', [undefined, 'port-restricted', undefined])
  const [a, b, c] = plan.hosts
  assert.equal(a.ip, `10.${plan.net}.1.1`)
  assert.equal(a.publicIp, a.ip)
  assert.equal(c.ip, `10.${plan.net}.1.3`)
  assert.equal(b.ip, '172.16.1.2')
  assert.equal(b.publicIp, `10.${plan.net}.2.2`)
  assert.equal(b.nat?.lanIp, '172.16.1.1')
  assert.equal(b.peerNs, b.nat?.ns)
  assert.equal(namespacesOf(plan).at(-1), plan.ns)
  assert.throws(() => planNetwork('abc', [undefined]), /run id/)
  assert.throws(() => planNetwork('1a', []), /hosts/)
})

test('a host filter drops silently: a partition allows only its members, loss drops per mille each way', () => {
  const none = hostFilterScript({ loss: 0 })
  assert.doesNotMatch(none, /drop/)
  assert.match(none, /^table inet pwlab\ndelete table inet pwlab\n/)
  const cut = hostFilterScript({ loss: 12.5, allow: ['10.1.1.1', '10.1.1.2'] })
  assert.match(cut, /ip saddr != \{ 10\.1\.1\.1, 10\.1\.1\.2 \} drop/)
  assert.match(cut, /ip daddr != \{ 10\.1\.1\.1, 10\.1\.1\.2 \} drop/)
  assert.equal(cut.match(/numgen random mod 1000 < 125 drop/g)?.length, 2)
  assert.doesNotMatch(cut, /reject/)
  const all = hostFilterScript({ loss: 100 })
  assert.doesNotMatch(all, /numgen/, 'nft refuses mod 1000 < 1000')
  assert.equal(all.match(/^\s+drop$/gm)?.length, 2)
  assert.match(cut, /iifname "lo" accept/)
})

test('a symmetric NAT randomises its ports, a port-restricted one keeps them; neither lets the unsolicited in', () => {
  const sym = natScript('symmetric', 'w0')
  const pr = natScript('port-restricted', 'w0')
  assert.match(sym, /oifname "w0" masquerade fully-random/)
  assert.match(pr, /oifname "w0" masquerade\n/)
  for (const s of [sym, pr]) assert.match(s, /iifname "w0" ct state established,related accept\n\s+iifname "w0" drop/)
})

test('a scenario is checked field by field, with the field named', () => {
  const ok = checkScenario({ name: 'x', hosts: 4, nodes: 8 })
  assert.equal(ok.bootstrap, 1)
  assert.equal(ok.lowWater, 4)
  assert.equal(ok.highWater, 8)
  assert.throws(() => checkScenario({ name: 'x', hosts: 4, nodes: 8, colour: 1 }), /unknown field "colour"/)
  assert.throws(() => checkScenario({ name: 'x', hosts: 0, nodes: 8 }), /hosts must be/)
  assert.throws(() => checkScenario({ name: 'x', hosts: 2, nodes: 8, nat: { hosts: 1, kind: 'symmetric' } }), /no public host/)
  assert.throws(() => checkScenario({ name: 'x', hosts: 2, nodes: 8, nat: { hosts: 0.5, kind: 'full' } }), /nat.kind/)
  assert.throws(() => checkScenario({ name: 'x', hosts: 2, nodes: 8, timeline: [{ at: 1, explode: true }] }), /timeline\[0\] must have one of/)
  assert.throws(() => checkScenario({ name: 'x', hosts: 2, nodes: 8, timeline: [{ at: 1, kill: [9] }] }), /timeline\[0\]\.kill/)
  assert.throws(() => checkScenario({ name: 'x', hosts: 2, nodes: 8, rate: 'fast' }), /rate/)
  assert.equal(ok.stack, 'peerwarden', 'the stack defaults to peerwarden')
  assert.equal(checkScenario({ name: 'x', hosts: 4, nodes: 8, stack: 'libp2p' }).stack, 'libp2p')
  assert.throws(() => checkScenario({ name: 'x', hosts: 4, nodes: 8, stack: 'ipfs' }), /stack must be one of peerwarden, hyperswarm, libp2p/)
  const sorted = checkScenario({ name: 'x', hosts: 2, nodes: 8, timeline: [{ at: 9, heal: true }, { at: 1, partition: [1] }] })
  assert.deepEqual(sorted.timeline.map((e) => e.at), [1, 9])
  assert.equal(ok.timelineFrom, 'ready', 'the timeline counts from the start by default')
  assert.equal(checkScenario({ name: 'x', hosts: 4, nodes: 8, timelineFrom: 'converged' }).timelineFrom, 'converged')
  assert.throws(() => checkScenario({ name: 'x', hosts: 4, nodes: 8, timelineFrom: 'later' }), /timelineFrom must be "ready" or "converged"/)
})

test('a scenario\'s NAT kinds, one or a list, go to its NATed hosts (the last ones) in turn', () => {
  const mixed = checkScenario({ name: 'x', hosts: 7, nodes: 7, nat: { hosts: 4 / 7, kind: ['port-restricted', 'symmetric'] } })
  assert.deepEqual(natKinds(mixed.nat), ['port-restricted', 'symmetric'])
  assert.deepEqual(hostSpecs(mixed).map((h) => h.nat), [undefined, undefined, undefined, 'port-restricted', 'symmetric', 'port-restricted', 'symmetric'])
  const one = checkScenario({ name: 'x', hosts: 4, nodes: 4, nat: { hosts: 0.5, kind: 'symmetric' } })
  assert.deepEqual(hostSpecs(one).map((h) => h.nat), [undefined, undefined, 'symmetric', 'symmetric'])
  assert.deepEqual(natKinds(undefined), [])
  for (const kind of [[], ['port-restricted', 'full'], 'full', Array(9).fill('symmetric')]) {
    assert.throws(() => checkScenario({ name: 'x', hosts: 4, nodes: 4, nat: { hosts: 0.5, kind } }), /nat.kind/, JSON.stringify(kind))
  }
})

test('the scenarios in lab/scenarios are all valid', () => {
  const names = listScenarios()
  for (const n of ['converge', 'partition-heal', 'churn', 'nat', 'bootstrap-down']) assert.ok(names.includes(n), n)
  for (const n of names) assert.equal(loadScenario(n).name, n)
  assert.throws(() => loadScenario('no-such'), /no scenario "no-such"/)
})

test('a fraction picks evenly spread members, bootstrap ones aside', () => {
  assert.deepEqual(pick({ fraction: 1 / 3 }, 10, 1), [1, 4, 7])
  assert.deepEqual(pick({ fraction: 1 }, 4, 1), [1, 2, 3])
  assert.deepEqual(pick({ fraction: 0.01 }, 4, 1), [1])
  assert.deepEqual(pick([3, 1, 3], 4, 1), [1, 3])
})

test('a runner line is what it says or nothing', () => {
  assert.equal(parseRunnerLine('not json'), undefined)
  assert.equal(parseRunnerLine('{"type":"sample","at":1}'), undefined)
  assert.equal(parseRunnerLine('{"type":"ready","id":"a","addresses":[],"advertised":[]}')?.type, 'ready')
  assert.equal(parseRunnerLine('null'), undefined)
})

/** A run of `nodes` nodes (node 0 the bootstrap) with these samples and events. */
function result (nodes: number, samples: Array<Partial<NodeSample> & { node: number; t: number }>, events: LabEvent[]): Omit<LabResult, 'measures'> {
  const scenario = checkScenario({ name: 'm', hosts: nodes, nodes, lowWater: 2, highWater: 3 })
  return {
    scenario,
    run: '1a',
    startedAt: 0,
    hosts: [],
    nodes: Array.from({ length: nodes }, (_, i) => ({ index: i, host: i, id: `id${i}`, bootstrap: i === 0, address: '' })),
    events,
    samples: samples.map((s) => ({ connections: s.peers?.length ?? 0, inbound: 0, outbound: 0, known: 0, dials: 0, dialsFailed: 0, refusedEarly: 0, refusedRate: 0, refusedPerIp: 0, failedHandshakes: 0, peers: [], inboundPeers: [], advertised: [], rx: 0, tx: 0, ...s }))
  }
}

const at = (node: number, t: number, peers: number[], more: Partial<NodeSample> = {}): Partial<NodeSample> & { node: number; t: number } => ({ node, t, peers: peers.map((p) => `id${p}`), ...more })

test('convergence waits for every running node but the bootstrap, and only counts after every node started', () => {
  const r = result(4, [
    at(1, 100, [2, 3]), at(2, 100, [1, 3]), at(3, 100, [1, 2]), // before ready: not counted
    at(1, 1100, [2, 3]), at(2, 1100, [1]), at(3, 1100, [1, 2]), at(0, 1100, []),
    at(2, 2100, [1, 3])
  ], [{ t: 0, kind: 'started' }, { t: 1000, kind: 'ready' }])
  const m = measure(r)
  assert.equal(m.target, 2)
  assert.equal(m.convergedAt, 2100)
  assert.equal(m.convergedAfter, 1100)
})

test('a partition is detected when nothing crosses it, and healed when something crosses again with everyone at target', () => {
  const r = result(5, [
    at(1, 1000, [2, 3]), at(2, 1000, [1, 3]), at(3, 1000, [1, 2]), at(4, 1000, [2, 3]),
    at(1, 3000, [2, 3]), at(2, 3000, [1, 3]), at(3, 3000, [1, 2]), at(4, 3000, []), // 4 cut off
    at(4, 6000, [2, 3]), at(2, 6000, [1, 3, 4]), at(3, 6000, [1, 2, 4])
  ], [{ t: 0, kind: 'ready' }, { t: 2000, kind: 'partition', hosts: [4], nodes: [4] }, { t: 5000, kind: 'heal', hosts: [4] }])
  const [p] = measure(r).partitions
  assert.equal(p.detectedAfter, 1000)
  assert.equal(p.healedAt, 5000)
  assert.equal(p.healedAfter, 1000)
})

test('a node behind a NAT counts as reached only through a connection that came in from another host', () => {
  const r = result(4, [
    at(2, 1000, [1, 3], { inboundPeers: ['id3'] }), // 3 shares its host: not reached from outside
    at(3, 1000, [2], { inboundPeers: [] }),
    at(1, 1000, [2], { inboundPeers: ['id2'] })
  ], [{ t: 0, kind: 'ready' }])
  r.hosts = [{ index: 0, ip: 'a', publicIp: 'a' }, { index: 1, ip: 'b', publicIp: 'b' }, { index: 2, ip: 'c', publicIp: 'w', nat: 'symmetric' }]
  r.nodes[3].host = 2
  const none = { relayed: 0, natPeers: 0, natDirect: 0 }
  assert.deepEqual(measure(r).nat, { nodes: 2, reached: 0, dialledOut: 2, ...none, kinds: [{ kind: 'symmetric', nodes: 2, punches: 0, punchesDirect: 0 }], connections: { relayed: 0, direct: 3 } })
  r.samples.push({ ...r.samples[0], t: 2000, peers: ['id1'], inboundPeers: ['id1'] })
  assert.deepEqual(measure(r).nat, { nodes: 2, reached: 1, dialledOut: 2, ...none, kinds: [{ kind: 'symmetric', nodes: 2, punches: 0, punchesDirect: 0 }], connections: { relayed: 0, direct: 2 } })
})

test('behind NAT: relayed connections, connections between NATs (direct ones apart) and punches per NAT kind over restarts', () => {
  const reach = (punches: number, punchesDirect: number, relayedPeers: string[]): { reach: NonNullable<NodeSample['reach']> } =>
    ({ reach: { reachability: 'private', relaysHeld: 1, relayReservations: 0, relayCircuits: 0, relayCut: 0, dialBacksServed: 0, punches, punchesDirect, relayedPeers } })
  const r = result(4, [
    at(2, 1000, [0, 3], { inboundPeers: ['id3'], ...reach(1, 0, ['id3']) }),
    at(2, 2000, [0, 3], { ...reach(3, 2, []) }),
    at(2, 3000, [0], { ...reach(1, 1, []) }), // restarted: counters from zero
    at(3, 1000, [2], { inboundPeers: [], ...reach(0, 0, ['id2']) })
  ], [{ t: 0, kind: 'ready' }])
  r.hosts = [{ index: 0, ip: 'a', publicIp: 'a' }, { index: 1, ip: 'b', publicIp: 'b' }, { index: 2, ip: 'c', publicIp: 'w', nat: 'port-restricted' }, { index: 3, ip: 'd', publicIp: 'x', nat: 'symmetric' }]
  r.nodes[2].host = 2
  r.nodes[3].host = 3
  const nat = measure(r).nat
  assert.equal(nat.relayed, 2)
  assert.equal(nat.natPeers, 2)
  assert.equal(nat.natDirect, 1, 'node 2 held node 3 directly at 2000')
  assert.equal(nat.reached, 1)
  assert.deepEqual(nat.kinds, [{ kind: 'port-restricted', nodes: 1, punches: 4, punchesDirect: 3 }, { kind: 'symmetric', nodes: 1, punches: 0, punchesDirect: 0 }])
  assert.deepEqual(nat.connections, { relayed: 1, direct: 1 })
})

test('a restart is measured against the peers held before the kill; counters of both lives are summed', () => {
  const r = result(4, [
    at(1, 1000, [2, 3], { dials: 5, dialsFailed: 1 }),
    at(1, 6000, [2], { dials: 1 }),
    at(1, 7000, [2, 3], { dials: 2 })
  ], [{ t: 0, kind: 'ready' }, { t: 2000, kind: 'kill', nodes: [1] }, { t: 5000, kind: 'restart', nodes: [1] }])
  const m = measure(r)
  assert.deepEqual(m.restarts, [{ node: 1, at: 5000, before: [2, 3], first: [2], after: [2, 3], returned: 2, firstBootstrap: 0 }])
  assert.equal(m.dials, 7)
  assert.equal(m.dialsFailed, 1)
})

test('the 10 s a restarted node has to return start when its process reports, not when the restart was asked for', () => {
  const r = result(4, [
    at(1, 1000, [2, 3]),
    at(1, 14_000, [2]), // a busy machine: the process took 9 s to start
    at(1, 23_000, [2, 3])
  ], [{ t: 0, kind: 'ready' }, { t: 2000, kind: 'kill', nodes: [1] }, { t: 5000, kind: 'restart', nodes: [1] }])
  assert.deepEqual(measure(r).restarts[0].after, [2, 3])
})

test('the side-by-side page has a column per stack, its figures, and the fewest connections after every node started', () => {
  const run = (stack: string, convergedAt: number): LabResult => {
    const r = result(3, [at(1, 1000, [2]), at(2, 1000, [1]), at(1, convergedAt, [0, 2]), at(2, convergedAt, [0, 1])], [{ t: 0, kind: 'started' }, { t: 1000, kind: 'ready' }, { t: 6000, kind: 'end' }])
    const scenario = checkScenario({ ...r.scenario, stack })
    return { ...r, scenario, measures: measure({ ...r, scenario }) }
  }
  const html = renderComparison([run('peerwarden', 2000), run('libp2p', 4000)])
  assert.match(html, /<th>peerwarden<\/th><th>libp2p<\/th>/)
  assert.match(html, /Converged \(all at target\) after the start<\/td><td>1\.0 s<\/td><td>3\.0 s<\/td>/)
  assert.match(html, /<title>peerwarden fewest<\/title>/)
  assert.match(html, /<title>libp2p fewest<\/title>/)
  assert.doesNotMatch(html, /<script src|<link /, 'no external asset')
})

test('the lab tier skips with the reason where namespaces do not work, and fails instead on CI (CI=true), as Redis does', () => {
  assert.equal(labSkip('ip netns needs root', {}), 'ip netns needs root')
  assert.throws(() => labSkip('ip netns needs root', { CI: 'true' }), /the lab tests must run on CI: ip netns needs root/)
  assert.equal(labSkip(undefined, { CI: 'true' }), undefined)
  assert.equal(labSkip(undefined, {}), undefined)
})
