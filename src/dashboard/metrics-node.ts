/**
 * A node's own metrics (`new ManagerMetrics(node.manager, { node })`): what the transport refused
 * before any cryptography and why, handshakes that failed and how, and the budgets that hold hostile
 * peers back (pending handshakes, queued bytes, the rendezvous table, peer exchange), and how it is
 * reached through NAT (metrics-reach.ts) — the figures of `node.stats()` (docs/security.md#budgets
 * names each budget).
 *
 * The dashboard layer imports no node code: a node comes in as the shape it has (`stats()` and
 * `events`), which `createNode()`'s `PeerNode` is.
 *
 * Rules:
 * - Gauges and counters are read from `stats()` at each scrape (the node's counts since it was
 *   created); handshake failures by code are counted from the node's 'handshake:failed' events, every
 *   code at 0 from the start.
 * - Nothing here duplicates a manager metric: dials and their failures are the manager's
 *   (`dials_total`, `dials_failed_total{code}`).
 */
import type { Counter, Gauge, Registry } from 'prom-client'
import { ERROR_CODES, errorCodeLabel } from './metrics-labels.js'
import { reachMetrics, type ReachFigures } from './metrics-reach.js'

/** prom-client, loaded on first use (an optional peer dependency). */
export type PromClient = typeof import('prom-client')

/** The figures of `node.stats()` the metrics read (a `NodeStats` has them all). */
export interface NodeFigures extends ReachFigures {
  refusedEarly: number
  refusedRate: number
  refusedPerIp: number
  refusedPending: number
  pendingHandshakes: number
  protocolErrors: number
  queuedBytes: number
  discardedBytes: number
  queuePauses: number
  receivingBytes: number
  rendezvousTopics: number
  rendezvousRegistrations: number
  rendezvousBytes: number
  rendezvousRefused: number
  pexDropped: number
  unsolicitedAnswers: number
  rendezvousVisits: number
  rendezvousVisitsFailed: number
  rendezvousVisitsServed: number
  /** Connections closed ('over-budget') for opening more channels than their budgets (0 when absent). */
  openBudgetCloses?: number
  /** Connections closed ('over-budget') for not reading what was queued for them (0 when absent). */
  writeBudgetCloses?: number
  /** Connections closed ('over-budget') when partly received frames passed the node's budget (0 when absent). */
  receiveBudgetCloses?: number
  /** Of `receiveBudgetCloses`: closed when one source (an IP, a public /24 or /48) held more than its share, an eighth of the budget (0 when absent). */
  receiveSourceBudgetCloses?: number
  /** Registrations withdrawn at once because their peer's last connection ended without a word (it died) (0 when absent). */
  rendezvousClosedWithdrawals?: number
  /** Connections closed ('timeout') for a frame not received whole in time (0 when absent). */
  frameTimeouts?: number
  /** Connections closed ('over-budget') when the bytes queued on all connections passed the node's budget (0 when absent). */
  queueBudgetCloses?: number
  /** Of `refusedRate`: refused for the rate of handshakes begun from all sources together, `maxHandshakeRate` (0 when absent). */
  refusedHandshakeRate?: number
  /** Of `refusedRate` and `refusedPerIp`: refused for a rule of the source's public range, an IPv4 /24 or IPv6 /48 (0 when absent). */
  refusedPerRange?: number
  /** Bytes counted against `maxQueuedBytesTotal` now (0 when absent). */
  queueHoldingBytes?: number
  /** Withdrawals (a leave, `close()`) given up at a rendezvous point we are not connected to (0 when absent). */
  rendezvousWithdrawalsAbandoned?: number
  /** Connections refused or trimmed for lack of room whose referrals stopped at the farewell's topic cap (0 when absent). */
  farewellsCapped?: number
  /** Topic joins and leaves a connection sent past its flip budget, ignored (0 when absent: a node that does not report it). */
  topicFlipsIgnored?: number
  /** Lookup answers (and referrals) given empty for the asker's answer budget (0 when absent: a node that does not report it). */
  lookupAnswersRefused?: number
  /** Addresses peers told us about dropped over a host's or range's intake budget (0 when absent: a node that does not report it). */
  hintsDropped?: number
}

/** What the metrics need of a node: its figures, and its events ('handshake:failed' { error }). A `PeerNode` is one. */
export interface NodeMetricsSource {
  /** The node's figures now (read at each scrape). */
  stats: () => NodeFigures
  /** Where the node dispatches 'handshake:failed' ({ address, error }). */
  readonly events: EventTarget
}

/** Registers the node's metrics in `registers`; the event listeners' removals go onto `stop`. */
export function nodeMetrics (client: PromClient, node: NodeMetricsSource, at: { prefix: string; registers: Registry[]; stop: Array<() => void> }): void {
  const { prefix, registers } = at
  const stats = (): NodeFigures => node.stats()
  const gauge = (name: string, help: string, read: (s: NodeFigures) => number): Gauge => new client.Gauge({ name: prefix + name, help, registers, collect () { this.set(read(stats())) } })
  const counter = (name: string, help: string, read: (s: NodeFigures) => number): Counter => new client.Counter({ name: prefix + name, help, registers, collect () { this.reset(); this.inc(read(stats())) } })

  // eslint-disable-next-line no-new
  new client.Counter({
    name: prefix + 'inbound_refused_total',
    help: 'Inbound sockets refused before any cryptography, by rule: denied (the access list), rate (perIpRate), rate-all (maxHandshakeRate, every source together), per-ip (maxPendingPerIp), pending (maxPendingHandshakes).',
    labelNames: ['rule'],
    registers,
    collect () {
      const s = stats()
      this.reset()
      this.inc({ rule: 'denied' }, Math.max(0, s.refusedEarly - s.refusedRate - s.refusedPerIp - s.refusedPending))
      const all = s.refusedHandshakeRate ?? 0
      this.inc({ rule: 'rate' }, s.refusedRate - all)
      this.inc({ rule: 'rate-all' }, all)
      this.inc({ rule: 'per-ip' }, s.refusedPerIp)
      this.inc({ rule: 'pending' }, s.refusedPending)
    }
  })
  // eslint-disable-next-line no-new
  new client.Counter({
    name: prefix + 'budget_closes_total',
    help: 'Connections a per-connection budget closed, by budget: channel-opens (maxPendingOpens, maxRemoteChannels), write-queue (maxWriteQueueBytes), receive-bytes (maxReceivingBytes, the oldest partial frame gave way), frame-time (frameTimeout), queued-bytes (maxQueuedBytesTotal, the largest holder of the range holding most gave way).',
    labelNames: ['budget'],
    registers,
    collect () {
      const s = stats()
      this.reset()
      this.inc({ budget: 'channel-opens' }, s.openBudgetCloses ?? 0)
      this.inc({ budget: 'write-queue' }, s.writeBudgetCloses ?? 0)
      this.inc({ budget: 'receive-bytes' }, s.receiveBudgetCloses ?? 0)
      this.inc({ budget: 'frame-time' }, s.frameTimeouts ?? 0)
      this.inc({ budget: 'queued-bytes' }, s.queueBudgetCloses ?? 0)
    }
  })
  const handshakes = new client.Counter({ name: prefix + 'handshakes_failed_total', help: 'Inbound handshakes that failed (Noise, the network key, the deadline, evicted at the cap…), by error code.', labelNames: ['code'], registers })
  for (const code of ERROR_CODES) handshakes.inc({ code }, 0)
  listenOn(node.events, at.stop)('handshake:failed', (d) => { handshakes.inc({ code: errorCodeLabel(d.error) }) })

  counter('inbound_refused_range_total', 'Of inbound_refused_total{rule="rate"} and {rule="per-ip"}, the sockets refused for the rule of their public range (an IPv4 /24, an IPv6 /48: 4 x perIpRate, 2 x maxPendingPerIp).', (s) => s.refusedPerRange ?? 0)
  gauge('pending_handshakes', 'Inbound handshakes in progress (budget: maxPendingHandshakes).', (s) => s.pendingHandshakes)
  counter('protocol_errors_total', 'Connections closed because the peer sent a message a decoder refused.', (s) => s.protocolErrors)
  gauge('queued_bytes', 'Bytes decrypted and queued on paused connections (budget: maxQueuedBytes a connection).', (s) => s.queuedBytes)
  gauge('receiving_bytes', 'Bytes held for frames partly received (budget: maxReceivingBytes, all connections).', (s) => s.receivingBytes)
  gauge('queue_held_bytes', 'Bytes queued to and from peers counted against the node\'s budget now (budget: maxQueuedBytesTotal, all connections).', (s) => s.queueHoldingBytes ?? 0)
  counter('queue_pauses_total', 'Times a connection was paused because its queue reached maxQueuedBytes.', (s) => s.queuePauses)
  counter('discarded_bytes_total', 'Bytes read from closing or refused connections and dropped unread.', (s) => s.discardedBytes)
  gauge('rendezvous_topics', 'Topics the rendezvous service holds registrations for.', (s) => s.rendezvousTopics)
  gauge('rendezvous_registrations', 'Registrations the rendezvous service holds.', (s) => s.rendezvousRegistrations)
  gauge('rendezvous_bytes', 'Bytes the rendezvous registrations take (budget: rendezvousLimits.maxBytes).', (s) => s.rendezvousBytes)
  counter('rendezvous_refused_total', 'Announcements the rendezvous service refused for a budget.', (s) => s.rendezvousRefused)
  counter('rendezvous_visits_total', 'Visits to bootstrap rendezvous points we hold no connection to.', (s) => s.rendezvousVisits)
  counter('rendezvous_visits_failed_total', 'Of those visits, the ones that failed.', (s) => s.rendezvousVisitsFailed)
  counter('rendezvous_visits_served_total', 'Visits other peers paid to our rendezvous service.', (s) => s.rendezvousVisitsServed)
  counter('rendezvous_withdrawals_abandoned_total', 'Withdrawals (a leave, close) given up at a rendezvous point we are not connected to: it may hand us out until our registration expires there.', (s) => s.rendezvousWithdrawalsAbandoned ?? 0)
  counter('receive_source_budget_closes_total', 'Of budget_closes_total{budget="receive-bytes"}, the partial frames ended because their source (an IP, a public /24 or /48) held more than an eighth of maxReceivingBytes.', (s) => s.receiveSourceBudgetCloses ?? 0)
  counter('rendezvous_closed_withdrawals_total', 'Registrations our rendezvous service withdrew at once because their peer\'s last connection ended without a close message (a crash, a timeout, a protocol error).', (s) => s.rendezvousClosedWithdrawals ?? 0)
  counter('farewells_capped_total', 'Connections refused or trimmed for lack of room whose referrals stopped at the farewell\'s topic cap.', (s) => s.farewellsCapped ?? 0)
  counter('topic_flips_ignored_total', 'Topic joins and leaves ignored past the flip budget of their identity (a burst of 8, then one per 4 s) or of their source, an IP or public range (twice that), whatever connection they came on.', (s) => s.topicFlipsIgnored ?? 0)
  counter('lookup_answers_refused_total', 'Lookup answers (and referrals) given empty for the asker\'s budget (512 a minute) or its source\'s (16 MiB a minute per IP or public range).', (s) => s.lookupAnswersRefused ?? 0)
  counter('hints_dropped_total', 'Addresses peers told us about (referrals, peer exchange, lookup answers, hellos) dropped past a host\'s or public range\'s intake budget.', (s) => s.hintsDropped ?? 0)
  counter('pex_dropped_total', 'Peer-exchange messages dropped for a connection\'s pexPerMinute.', (s) => s.pexDropped)
  counter('unsolicited_answers_total', 'Lookup answers nobody asked for (never learnt).', (s) => s.unsolicitedAnswers)
  reachMetrics(client, stats, at)
}

/** `on(type, fn)`: listens to `target` for `detail`s, and pushes the removal onto `stop`. */
export function listenOn (target: EventTarget, stop: Array<() => void>): (type: string, fn: (detail: Record<string, unknown>) => void) => void {
  return (type, fn) => {
    const listener = (e: Event): void => { fn((e as CustomEvent<Record<string, unknown>>).detail ?? {}) }
    target.addEventListener(type, listener)
    stop.push(() => { target.removeEventListener(type, listener) })
  }
}
