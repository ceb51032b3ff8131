import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import net from 'node:net'
import { test } from 'node:test'
import { createConnectionManager, PeerwardenError, type ConnectionManager } from '../../src/index.js'
import { ManagerMetrics, RegistryMetrics, NOTICE_OUTCOMES, REACHABILITY_STATES, serveMetrics, serveDashboard, CLOSE_REASONS, TRIM_REASONS, ERROR_CODES, type NodeFigures, type NodeMetricsSource, type RegistryFigures, type RegistryMetricsSource } from '../../src/dashboard/index.js'
import { createMeshNode, createRegistry, defineSchema, type MeshRegistry } from '../../src/mesh/index.js'
import type { PeerNode } from '../../src/node/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'
import { packageVersion } from '../../src/version.js'
import { hasCode } from '../helpers/errors.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// The metrics as a Prometheus server reads them: parsed by a Prometheus text-format parser, not by regexps.

interface Family { name: string; help: string; type: string; metrics: Array<{ value: string; labels?: Record<string, string> }> }
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[]

/** The families of a scrape by name, after checking that no name and no label set appears twice. */
function families (text: string): Map<string, Family> {
  const parsed = parse(text)
  const byName = new Map<string, Family>()
  for (const f of parsed) {
    assert.ok(!byName.has(f.name), `${f.name} appears once`)
    byName.set(f.name, f)
    const sets = f.metrics.map((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()))
    assert.equal(new Set(sets).size, sets.length, `${f.name}: no label set twice`)
  }
  return byName
}

/** The value of `name` with exactly `labels`; undefined when that series does not exist. */
function value (fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const m = fams.get(name)?.metrics.find((x) => JSON.stringify(Object.entries(x.labels ?? {}).sort()) === JSON.stringify(Object.entries(labels).sort()))
  return m === undefined ? undefined : Number(m.value)
}

function manager (): ConnectionManager {
  return createConnectionManager({
    dial: async (address) => {
      if (address.includes('wrong-id')) throw new PeerwardenError('ERR_PEER_MISMATCH', 'another peer')
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    },
    lowWater: 2,
    highWater: 3,
    clock: new ManualClock()
  })
}

test('metrics by convention: direction as a label, every reason and code at 0 from the start, build info, no duplicate series', async (t) => {
  const m = manager()
  const metrics = new ManagerMetrics(m)
  t.after(async () => { metrics.close(); await m.close() })
  const fams = families((await metrics.scrape()).body)
  assert.equal(value(fams, 'peerwarden_connections', { direction: 'inbound' }), 0)
  assert.equal(value(fams, 'peerwarden_connections', { direction: 'outbound' }), 0)
  assert.equal(fams.get('peerwarden_connections')!.metrics.length, 2, 'no unlabelled total beside the directions')
  assert.equal(value(fams, 'peerwarden_build_info', { version: packageVersion() }), 1)
  assert.match(packageVersion(), /^\d+\.\d+\.\d+/)
  for (const reason of CLOSE_REASONS) {
    assert.equal(value(fams, 'peerwarden_connections_closed_total', { reason }), 0, `closed{reason="${reason}"}`)
    assert.equal(value(fams, 'peerwarden_connections_refused_total', { reason }), 0, `refused{reason="${reason}"}`)
  }
  for (const reason of TRIM_REASONS) assert.equal(value(fams, 'peerwarden_trims_total', { reason }), 0, `trims{reason="${reason}"}`)
  for (const code of ERROR_CODES) assert.equal(value(fams, 'peerwarden_dials_failed_total', { code }), 0, `dials_failed{code="${code}"}`)
  // Retired names: each was a second series for something a label now says.
  for (const gone of ['peerwarden_trimmed_total', 'peerwarden_connections_inbound', 'peerwarden_connections_outbound']) assert.equal(fams.has(gone), false, gone)
  for (const [name, f] of fams) {
    assert.match(name, /^peerwarden_[a-z_]+$/)
    assert.ok(f.help.length > 0, `${name} has a help text`)
    if (f.type === 'COUNTER') assert.match(name, /_total$/, `${name}: a counter's name ends in _total`)
    else assert.doesNotMatch(name, /_total$/, `${name}: only counters end in _total`)
  }
  assert.equal([...fams.keys()].some((n) => n.startsWith('process_') || n.startsWith('nodejs_')), false, 'the default metrics are opt-in')
})

test('the counters follow the manager: closes and refusals by reason, trims by rule, dial failures by error code', async (t) => {
  const m = manager()
  const metrics = new ManagerMetrics(m)
  t.after(async () => { metrics.close(); await m.close() })
  for (let i = 0; i < 3; i++) m.connected(new TestConnection({ peer: `p${i}`, direction: i === 0 ? 'outbound' : 'inbound' }))
  m.setPriority([{ peer: 'p1', priority: 'banned' }])
  assert.equal(m.connected(new TestConnection({ peer: 'p1' })), false, 'a banned peer is refused')
  m.setWatermarks(1, 1)
  m.addPeers([{ id: 'far', address: 'tcp://10.0.0.1:1' }, { id: 'liar', address: 'tcp://10.0.0.2:1/wrong-id' }])
  await m.connectNow('far').catch(() => {})
  await m.connectNow('liar').catch(() => {})
  const fams = families((await metrics.scrape()).body)
  assert.equal(value(fams, 'peerwarden_connections', { direction: 'outbound' }), m.stats().outbound)
  assert.equal(value(fams, 'peerwarden_connections', { direction: 'inbound' }), m.stats().inbound)
  assert.equal(value(fams, 'peerwarden_connections_closed_total', { reason: 'banned' }), 1)
  assert.equal(value(fams, 'peerwarden_connections_refused_total', { reason: 'banned' }), 1)
  assert.equal(value(fams, 'peerwarden_connections_closed_total', { reason: 'trimmed' }), 1, 'lowering the limit to 1 trimmed one of the two left')
  assert.equal(value(fams, 'peerwarden_trims_total', { reason: 'limit lowered' }), 1)
  assert.equal(value(fams, 'peerwarden_trims_total', { reason: 'watermark' }), 0)
  assert.equal(value(fams, 'peerwarden_dials_total'), 2)
  assert.equal(value(fams, 'peerwarden_dials_failed_total', { code: 'ERR_PEER_MISMATCH' }), 1)
  assert.equal(value(fams, 'peerwarden_dials_failed_total', { code: 'ERR_DIAL_FAILED' }), 1, 'a socket error, as the manager reports it')
  assert.equal(value(fams, 'peerwarden_dials_failed_total', { code: 'ECONNREFUSED' }), undefined, 'no series outside the known codes')
  assert.equal(value(fams, 'peerwarden_high_water'), 1)
  assert.equal(value(fams, 'peerwarden_banned_peers'), 1)
  metrics.close()
  m.connected(new TestConnection({ peer: 'late' }))
  m.setPriority([{ peer: 'late', priority: 'banned' }])
  assert.equal(value(families((await metrics.scrape()).body), 'peerwarden_connections_closed_total', { reason: 'banned' }), 1, 'close() stops counting')
})

test('a node source adds the early refusals by rule, handshake failures by code and the budgets, each once', async (t) => {
  const m = manager()
  const figures: NodeFigures = {
    refusedEarly: 10, refusedRate: 4, refusedPerIp: 3, refusedPending: 1, pendingHandshakes: 5, protocolErrors: 2, queuedBytes: 1024, discardedBytes: 7,
    queuePauses: 1, receivingBytes: 64, rendezvousTopics: 2, rendezvousRegistrations: 9, rendezvousBytes: 900, rendezvousRefused: 3, pexDropped: 6,
    unsolicitedAnswers: 1, rendezvousVisits: 4, rendezvousVisitsFailed: 1, rendezvousVisitsServed: 2
  }
  const node: NodeMetricsSource = { stats: () => figures, events: new EventTarget() }
  const metrics = new ManagerMetrics(m, { node })
  t.after(async () => { metrics.close(); await m.close() })
  node.events.dispatchEvent(new CustomEvent('handshake:failed', { detail: { address: 'tcp://10.0.0.9:1', error: new PeerwardenError('ERR_NETWORK_KEY', 'other network') } }))
  node.events.dispatchEvent(new CustomEvent('handshake:failed', { detail: { address: 'tcp://10.0.0.9:2', error: new Error('garbage') } }))
  let fams = families((await metrics.scrape()).body)
  assert.deepEqual(['denied', 'rate', 'per-ip', 'pending'].map((rule) => value(fams, 'peerwarden_inbound_refused_total', { rule })), [2, 4, 3, 1])
  assert.equal(value(fams, 'peerwarden_handshakes_failed_total', { code: 'ERR_NETWORK_KEY' }), 1)
  assert.equal(value(fams, 'peerwarden_handshakes_failed_total', { code: 'ERR_UNKNOWN' }), 1)
  assert.equal(value(fams, 'peerwarden_handshakes_failed_total', { code: 'ERR_HANDSHAKE_TIMEOUT' }), 0)
  assert.equal(value(fams, 'peerwarden_pending_handshakes'), 5)
  assert.equal(value(fams, 'peerwarden_queued_bytes'), 1024)
  assert.equal(value(fams, 'peerwarden_rendezvous_bytes'), 900)
  assert.equal(value(fams, 'peerwarden_pex_dropped_total'), 6)
  assert.equal(value(fams, 'peerwarden_protocol_errors_total'), 2)
  figures.refusedRate = 5
  figures.refusedEarly = 11
  fams = families((await metrics.scrape()).body)
  assert.equal(value(fams, 'peerwarden_inbound_refused_total', { rule: 'rate' }), 5, 'read again at each scrape')
  assert.equal(value(fams, 'peerwarden_inbound_refused_total', { rule: 'denied' }), 2)
  // The rate of handshakes begun from every source together is a rule of its own, counted within refusedRate.
  figures.refusedHandshakeRate = 3
  fams = families((await metrics.scrape()).body)
  assert.deepEqual(['rate', 'rate-all'].map((rule) => value(fams, 'peerwarden_inbound_refused_total', { rule })), [2, 3])
  assert.equal(fams.has('peerwarden_dials_total'), true)
  assert.equal([...fams.keys()].filter((n) => /dials/.test(n)).length, 3, 'dials come from the manager only: dials_total, dials_failed_total, dials_in_flight')
  // A PeerNode is a source as it is.
  const fits = (n: PeerNode): NodeMetricsSource => n
  assert.equal(typeof fits, 'function')
})

test('each figure this node reports beyond the first ones reaches its metric, and follows it when it moves', async (t) => {
  const m = manager()
  const figures: NodeFigures = {
    refusedEarly: 10, refusedRate: 4, refusedPerIp: 3, refusedPending: 1, pendingHandshakes: 0, protocolErrors: 0, queuedBytes: 0, discardedBytes: 0,
    queuePauses: 0, receivingBytes: 0, rendezvousTopics: 0, rendezvousRegistrations: 0, rendezvousBytes: 0, rendezvousRefused: 0, pexDropped: 0,
    unsolicitedAnswers: 0, rendezvousVisits: 0, rendezvousVisitsFailed: 0, rendezvousVisitsServed: 0
  }
  const node: NodeMetricsSource = { stats: () => figures, events: new EventTarget() }
  const metrics = new ManagerMetrics(m, { node })
  t.after(async () => { metrics.close(); await m.close() })
  // figure → metric; each is 0 while the node does not report it (an older node).
  const expected: Array<[keyof NodeFigures, string, Record<string, string>?]> = [
    ['refusedPerRange', 'peerwarden_inbound_refused_range_total'],
    ['queueHoldingBytes', 'peerwarden_queue_held_bytes'],
    ['rendezvousWithdrawalsAbandoned', 'peerwarden_rendezvous_withdrawals_abandoned_total'],
    ['farewellsCapped', 'peerwarden_farewells_capped_total'],
    ['topicFlipsIgnored', 'peerwarden_topic_flips_ignored_total'],
    ['lookupAnswersRefused', 'peerwarden_lookup_answers_refused_total'],
    ['hintsDropped', 'peerwarden_hints_dropped_total'],
    ['receiveSourceBudgetCloses', 'peerwarden_receive_source_budget_closes_total'],
    ['rendezvousClosedWithdrawals', 'peerwarden_rendezvous_closed_withdrawals_total'],
    ['openBudgetCloses', 'peerwarden_budget_closes_total', { budget: 'channel-opens' }],
    ['writeBudgetCloses', 'peerwarden_budget_closes_total', { budget: 'write-queue' }],
    ['receiveBudgetCloses', 'peerwarden_budget_closes_total', { budget: 'receive-bytes' }],
    ['frameTimeouts', 'peerwarden_budget_closes_total', { budget: 'frame-time' }],
    ['queueBudgetCloses', 'peerwarden_budget_closes_total', { budget: 'queued-bytes' }]
  ]
  let fams = families((await metrics.scrape()).body)
  for (const [, name, labels] of expected) assert.equal(value(fams, name, labels), 0, `${name} at 0 before the node reports it`)
  expected.forEach(([figure], i) => { (figures as unknown as Record<string, number>)[figure] = 100 + i })
  fams = families((await metrics.scrape()).body)
  expected.forEach(([figure, name, labels], i) => { assert.equal(value(fams, name, labels), 100 + i, `${name} is ${figure}`) })
  assert.equal(fams.get('peerwarden_queue_held_bytes')!.type, 'GAUGE')
  figures.refusedPerRange = 2
  figures.queueHoldingBytes = 0
  fams = families((await metrics.scrape()).body)
  assert.equal(value(fams, 'peerwarden_inbound_refused_range_total'), 2, 'read again at each scrape')
  assert.equal(value(fams, 'peerwarden_queue_held_bytes'), 0)
  assert.deepEqual(['denied', 'rate', 'per-ip', 'pending'].map((rule) => value(fams, 'peerwarden_inbound_refused_total', { rule })), [2, 4, 3, 1], 'the range refusals stay inside the rules they were counted under')
})

test('a node\'s reachability figures: the verdict as a state, dial-backs by outcome and answer, the relay, relayed connections by direction, punches', async (t) => {
  const m = manager()
  const figures: NodeFigures = {
    refusedEarly: 0, refusedRate: 0, refusedPerIp: 0, refusedPending: 0, pendingHandshakes: 0, protocolErrors: 0, queuedBytes: 0, discardedBytes: 0,
    queuePauses: 0, receivingBytes: 0, rendezvousTopics: 0, rendezvousRegistrations: 0, rendezvousBytes: 0, rendezvousRefused: 0, pexDropped: 0,
    unsolicitedAnswers: 0, rendezvousVisits: 0, rendezvousVisitsFailed: 0, rendezvousVisitsServed: 0
  }
  const metrics = new ManagerMetrics(m, { node: { stats: () => figures, events: new EventTarget() } })
  t.after(async () => { metrics.close(); await m.close() })
  let fams = families((await metrics.scrape()).body)
  assert.deepEqual(REACHABILITY_STATES.map((state) => value(fams, 'peerwarden_reachability', { state })), [0, 0, 1], 'unknown while the node does not say')
  for (const outcome of ['served', 'refused']) assert.equal(value(fams, 'peerwarden_dial_backs_total', { outcome }), 0)
  for (const direction of ['outbound', 'inbound']) assert.equal(value(fams, 'peerwarden_relayed_connections_total', { direction }), 0)
  Object.assign(figures, {
    reachability: 'private', dialBacksServed: 3, dialBacksRefused: 2, dialBackAnswers: { ok: 1, failed: 4, refused: 5 },
    relayReservations: 6, relayCircuits: 7, relayRefused: 8, relayCut: 9, relayBytes: 10_000, relaysHeld: 2, relayedDials: 11, relayedAccepted: 12, punches: 13, punchesDirect: 5
  })
  fams = families((await metrics.scrape()).body)
  assert.deepEqual(REACHABILITY_STATES.map((state) => value(fams, 'peerwarden_reachability', { state })), [0, 1, 0])
  assert.deepEqual(['served', 'refused'].map((outcome) => value(fams, 'peerwarden_dial_backs_total', { outcome })), [3, 2])
  assert.deepEqual(['ok', 'failed', 'refused'].map((answer) => value(fams, 'peerwarden_dial_back_answers_total', { answer })), [1, 4, 5])
  assert.deepEqual(['relay_reservations', 'relay_circuits', 'relay_refused_total', 'relay_cut_total', 'relay_bytes_total', 'relays_held', 'punches_total', 'punches_direct_total'].map((n) => value(fams, 'peerwarden_' + n)), [6, 7, 8, 9, 10_000, 2, 13, 5])
  assert.deepEqual(['outbound', 'inbound'].map((direction) => value(fams, 'peerwarden_relayed_connections_total', { direction })), [11, 12])
  assert.equal(fams.get('peerwarden_relay_circuits')!.type, 'GAUGE')
  assert.equal(fams.get('peerwarden_relay_bytes_total')!.type, 'COUNTER')
  figures.reachability = 'public'
  figures.relayCircuits = 0
  fams = families((await metrics.scrape()).body)
  assert.deepEqual(REACHABILITY_STATES.map((state) => value(fams, 'peerwarden_reachability', { state })), [1, 0, 0], 'read again at each scrape')
  assert.equal(value(fams, 'peerwarden_relay_circuits'), 0)
})

test('a mesh registry\'s figures: members, registrations over budget, notices by outcome, each named by convention', async () => {
  const figures: RegistryFigures = { members: 0, registrationsOverBudget: 0, notices: { sent: 0, coalesced: 0, unchanged: 0, overBudget: 0, waiting: 0 } }
  const metrics = new RegistryMetrics({ stats: () => figures })
  let fams = families((await metrics.scrape()).body)
  for (const outcome of NOTICE_OUTCOMES) assert.equal(value(fams, 'peerwarden_registry_notices_total', { outcome }), 0, `notices{outcome="${outcome}"} from the start`)
  assert.equal(value(fams, 'peerwarden_registry_members'), 0)
  Object.assign(figures, { members: 7, registrationsOverBudget: 3, notices: { sent: 20, coalesced: 11, unchanged: 4, overBudget: 2, waiting: 5 } })
  fams = families((await metrics.scrape()).body)
  assert.equal(value(fams, 'peerwarden_registry_members'), 7)
  assert.equal(value(fams, 'peerwarden_registry_registrations_over_budget_total'), 3)
  assert.deepEqual(NOTICE_OUTCOMES.map((outcome) => value(fams, 'peerwarden_registry_notices_total', { outcome })), [20, 11, 4])
  assert.equal(value(fams, 'peerwarden_registry_notices_sent_early_total'), 2)
  assert.equal(value(fams, 'peerwarden_registry_notices_waiting'), 5)
  for (const [name, f] of fams) {
    assert.match(name, /^peerwarden_registry_[a-z_]+$/)
    assert.ok(f.help.length > 0, `${name} has a help text`)
    if (f.type === 'COUNTER') assert.match(name, /_total$/, `${name}: a counter's name ends in _total`)
    else assert.doesNotMatch(name, /_total$/, `${name}: only counters end in _total`)
  }
  assert.ok(families((await new RegistryMetrics({ stats: () => figures }, { prefix: 'mine_' }).scrape()).body).has('mine_registry_members'))
  assert.throws(() => new RegistryMetrics({} as never), hasCode('ERR_INVALID_ARGUMENT', /stats/))
  assert.throws(() => new RegistryMetrics({ stats: () => figures }, { prefx: 'x' } as never), hasCode('ERR_INVALID_ARGUMENT', /prefix/))
  assert.throws(() => new RegistryMetrics({ stats: () => figures }, { prefix: 'no-dash' }), hasCode('ERR_INVALID_ARGUMENT', /prefix/))
  // A MeshRegistry is a source as it is.
  const fits = (r: MeshRegistry): RegistryMetricsSource => r
  assert.equal(typeof fits, 'function')
})

test('the options: a prefix (also as a string), the default metrics opt-in, bad options named', async (t) => {
  const m = manager()
  t.after(async () => { await m.close() })
  const a = new ManagerMetrics(m, 'pw_')
  const b = new ManagerMetrics(m, { prefix: 'mine_', defaultMetrics: true })
  t.after(() => { a.close(); b.close() })
  assert.ok(families((await a.scrape()).body).has('pw_connections'))
  const fams = families((await b.scrape()).body)
  assert.ok(fams.has('mine_build_info'))
  assert.ok(fams.has('process_cpu_seconds_total') && fams.has('nodejs_heap_size_used_bytes'), 'prom-client\'s default metrics, unprefixed')
  assert.throws(() => new ManagerMetrics(m, { prefx: 'x' } as never), hasCode('ERR_INVALID_ARGUMENT', /prefix/))
  assert.throws(() => new ManagerMetrics(m, { prefix: 'no-dash' }), hasCode('ERR_INVALID_ARGUMENT', /prefix/))
  assert.throws(() => new ManagerMetrics(m, { node: {} as never }), hasCode('ERR_INVALID_ARGUMENT', /node/))
})

test('serveMetrics serves /metrics alone, with the dashboard\'s access rules', { timeout: 10_000 }, async (t) => {
  const m = manager()
  m.connected(new TestConnection({ peer: 'p0', direction: 'outbound' }))
  const server = await serveMetrics(m, { listen: '127.0.0.1:0' })
  t.after(async () => { await server.close(); await m.close() })
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  assert.equal(server.token, undefined)
  const r = await fetch(server.url)
  assert.equal(r.status, 200)
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  assert.equal(value(families(await r.text()), 'peerwarden_connections', { direction: 'outbound' }), 1)
  assert.equal((await fetch(server.url.replace('/metrics', '/'))).status, 404)
  assert.equal((await fetch(server.url, { method: 'POST' })).status, 405)
  const withToken = await serveMetrics(m, { token: 'scrape-token-1' })
  t.after(async () => { await withToken.close() })
  assert.equal((await fetch(withToken.url)).status, 401)
  assert.equal((await fetch(withToken.url, { headers: { authorization: 'Bearer scrape-token-1' } })).status, 200)
  await assert.rejects(serveMetrics(m, { listen: 'nowhere' }), hasCode('ERR_INVALID_ARGUMENT', /listen/))
  await assert.rejects(serveMetrics(m, { lisen: 1 } as never), hasCode('ERR_INVALID_ARGUMENT', /listen/))
  await assert.rejects(serveMetrics(m, { listen: new URL(server.url).host }), hasCode('ERR_LISTEN'))
  await server.close()
  await server.close()
})

test('a real node: garbage on its port is a handshake failure by code in the dashboard\'s /metrics', { timeout: 20_000 }, async (t) => {
  const node = await testNode(t, { handshakeTimeout: 2000 })
  const view = await serveDashboard(node.manager, { metrics: { node } })
  t.after(async () => { await view.close() })
  const { hostname, port } = new URL(node.addresses[0].replace('tcp://', 'http://'))
  const socket = net.connect(Number(port), hostname)
  socket.on('error', () => {})
  socket.end(Buffer.alloc(64, 0xff))
  await until(() => node.stats().failedHandshakes > 0, 10_000, 'the handshake to fail')
  const fams = families(await (await fetch(new URL('/metrics', view.url))).text())
  const failed = fams.get('peerwarden_handshakes_failed_total')!.metrics.reduce((a, x) => a + Number(x.value), 0)
  assert.equal(failed, node.stats().failedHandshakes)
  assert.equal(value(fams, 'peerwarden_pending_handshakes'), 0)
  // The figures read as optional (0 when absent) must be what a node reports: a renamed one would read 0 for ever.
  const reported = node.stats() as unknown as Record<string, unknown>
  for (const figure of ['refusedPerRange', 'queueHoldingBytes', 'rendezvousWithdrawalsAbandoned', 'farewellsCapped', 'openBudgetCloses', 'writeBudgetCloses', 'receiveBudgetCloses', 'frameTimeouts', 'queueBudgetCloses', 'topicFlipsIgnored', 'lookupAnswersRefused', 'hintsDropped',
    'dialBacksServed', 'dialBacksRefused', 'relayReservations', 'relayCircuits', 'relayRefused', 'relayCut', 'relayBytes', 'relaysHeld', 'relayedDials', 'relayedAccepted', 'punches', 'punchesDirect']) {
    assert.equal(typeof reported[figure], 'number', `node.stats().${figure}`)
  }
  assert.equal(value(fams, 'peerwarden_inbound_refused_range_total'), node.stats().refusedPerRange)
  assert.equal(value(fams, 'peerwarden_reachability', { state: node.stats().reachability }), 1)
})

test('a real registry: a member registering shows in its metrics as it shows in its stats', { timeout: 20_000 }, async (t) => {
  const schema = defineSchema({ Api: {} })
  const registry = await createRegistry({ schema, open: true, listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await registry.close() })
  const metrics = new RegistryMetrics(registry)
  assert.equal(value(families((await metrics.scrape()).body), 'peerwarden_registry_members'), 0)
  const member = await createMeshNode({ schema, role: 'Api', registry: registry.addresses[0], listen: ['tcp://127.0.0.1:0'] })
  t.after(async () => { await member.close() })
  await until(() => registry.stats().members === 1, 10_000, 'the member to register')
  const fams = families((await metrics.scrape()).body)
  assert.equal(value(fams, 'peerwarden_registry_members'), 1)
  assert.equal(value(fams, 'peerwarden_registry_notices_total', { outcome: 'sent' }), registry.stats().notices.sent)
  assert.equal(value(fams, 'peerwarden_registry_registrations_over_budget_total'), 0)
})
