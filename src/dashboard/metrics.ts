import type { Registry } from 'prom-client'
import type { ConnectionManager, ManagerStats } from '../manager/types.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { requireOptional } from '../optional-dependency.js'
import { PeerwardenError } from '../errors.js'
import { packageVersion } from '../version.js'
import { CLOSE_REASONS, ERROR_CODES, TRIM_REASONS, closeReasonLabel, errorCodeLabel, trimReasonLabel } from './metrics-labels.js'
import { listenOn, nodeMetrics, type NodeMetricsSource, type PromClient } from './metrics-node.js'

export type { NodeFigures, NodeMetricsSource } from './metrics-node.js'

/** The options of `new ManagerMetrics(manager, options)` (and the `metrics` of `serveMetrics`). */
export interface MetricsOptions {
  /** Put before every name. Default `'peerwarden_'`. */
  prefix?: string
  /**
   * A node's own figures too — pass the node (`createNode()`'s `PeerNode`), or anything with its
   * `stats()` and `events`: early refusals by rule, handshake failures by code, protocol errors, the
   * budgets of the transport, the rendezvous service and peer exchange. Default none.
   */
  node?: NodeMetricsSource
  /** Also prom-client's process and Node.js metrics (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`…, unprefixed as everywhere). Default false. */
  defaultMetrics?: boolean
}

const METRICS_OPTIONS: ReadonlyArray<keyof MetricsOptions> = ['prefix', 'node', 'defaultMetrics']

/**
 * The manager's figures in Prometheus' text format (prom-client), named and labelled as the
 * ecosystem writes them, in a registry of its own so an application's default registry is left alone.
 * The list, with each metric's meaning, is in docs/operations.md#metrics.
 *
 * Rules:
 * - Gauges and the counters the manager keeps (`peers_evicted_total`, `hook_errors_total`) are read
 *   from `manager.stats()` when scraped; the other counters count the manager's events from the
 *   moment the metrics were made.
 * - One series per thing counted: a direction, a reason or a code is a label
 *   (`connections{direction="inbound"}`, `connections_closed_total{reason="trimmed"}`), never a
 *   second metric.
 * - Every `reason` and `code` series exists from the start at 0 (metrics-labels.ts): the close
 *   reasons, the trim reasons, every error code.
 * - `build_info{version}` is 1; prom-client's default metrics only with `defaultMetrics: true`.
 * - `close()` stops listening to the manager (and the node).
 */
export class ManagerMetrics {
  readonly registry: Registry
  private readonly stop: Array<() => void> = []

  /** `options` may be the prefix alone (a string), as before the options existed. */
  constructor (manager: ConnectionManager, options: MetricsOptions | string = {}) {
    const opts = checkMetricsOptions(options)
    // prom-client is an optional peer dependency, loaded only when metrics are made.
    const client = requireOptional<PromClient>('prom-client', 'the Prometheus metrics (and the dashboard that serves them)')
    this.registry = new client.Registry()
    const prefix = opts.prefix ?? 'peerwarden_'
    const registers = [this.registry]
    const stats = (): ManagerStats => manager.stats()
    const gauge = (name: string, help: string, read: () => number): void => {
      // eslint-disable-next-line no-new
      new client.Gauge({ name: prefix + name, help, registers, collect () { this.set(read()) } })
    }
    const kept = (name: string, help: string, read: () => number): void => {
      // A counter the manager keeps: set to its figure at each scrape.
      // eslint-disable-next-line no-new
      new client.Counter({ name: prefix + name, help, registers, collect () { this.reset(); this.inc(read()) } })
    }
    new client.Gauge({ name: prefix + 'build_info', help: 'Always 1; the peerwarden version as a label.', labelNames: ['version'], registers }).set({ version: packageVersion() }, 1)
    // eslint-disable-next-line no-new
    new client.Gauge({
      name: prefix + 'connections',
      help: 'Connections the manager holds now, by direction.',
      labelNames: ['direction'],
      registers,
      collect () {
        const s = stats()
        this.set({ direction: 'inbound' }, s.inbound)
        this.set({ direction: 'outbound' }, s.outbound)
      }
    })
    gauge('known_peers', 'Peers in the peer book.', () => stats().known)
    gauge('max_peers', 'The cap on the peer book (maxPeers).', () => stats().maxPeers)
    gauge('dials_in_flight', 'Dials in progress.', () => stats().dialing)
    gauge('protected_peers', 'Known peers protected under at least one tag.', () => stats().protected)
    gauge('banned_peers', 'Known peers whose priority is banned.', () => stats().banned)
    gauge('address_waits', 'Addresses learnt from hints whose failed dials are remembered for their backoff (at most maxPeers).', () => stats().addressWaits)
    gauge('low_water', 'The low watermark in force.', () => stats().lowWater)
    gauge('high_water', 'The high watermark in force.', () => stats().highWater)
    kept('peers_evicted_total', 'Peers forgotten because the peer book was at maxPeers.', () => stats().evicted)
    kept('connection_limit_refusals_total', 'Connections refused because their IP or address range held connectionLimits connections already.', () => stats().connectionLimitRefusals)
    kept('hook_errors_total', 'Errors of the application\'s hooks (prioritise, accepted).', () => stats().hookErrors)

    const dials = new client.Counter({ name: prefix + 'dials_total', help: 'Dials started.', registers })
    const failed = new client.Counter({ name: prefix + 'dials_failed_total', help: 'Dials that failed, by error code.', labelNames: ['code'], registers })
    const refused = new client.Counter({ name: prefix + 'connections_refused_total', help: 'Connections refused at admission, by reason.', labelNames: ['reason'], registers })
    const closed = new client.Counter({ name: prefix + 'connections_closed_total', help: 'Accepted connections the manager closed, by reason (reason="trimmed": closed by trims).', labelNames: ['reason'], registers })
    const trims = new client.Counter({ name: prefix + 'trims_total', help: 'Trims that closed at least one connection, by the rule that ran.', labelNames: ['reason'], registers })
    for (const code of ERROR_CODES) failed.inc({ code }, 0)
    for (const reason of CLOSE_REASONS) { refused.inc({ reason }, 0); closed.inc({ reason }, 0) }
    for (const reason of TRIM_REASONS) trims.inc({ reason }, 0)
    const on = listenOn(manager.events, this.stop)
    on('dial:started', () => { dials.inc() })
    on('dial:failed', (d) => { failed.inc({ code: errorCodeLabel(d.error) }) })
    on('connection:refused', (d) => { refused.inc({ reason: closeReasonLabel(d.reason) }) })
    on('connection:closed', (d) => { closed.inc({ reason: closeReasonLabel(d.reason) }) })
    on('trim', (d) => { trims.inc({ reason: trimReasonLabel(d.reason) }) })

    if (opts.node !== undefined) nodeMetrics(client, opts.node, { prefix, registers, stop: this.stop })
    if (opts.defaultMetrics === true) client.collectDefaultMetrics({ register: this.registry })
  }

  /** The text a Prometheus scrape gets, and its content type. */
  async scrape (): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType }
  }

  /** Stops listening to the manager (and the node). Idempotent. */
  close (): void {
    for (const s of this.stop.splice(0)) s()
  }
}

/** The options checked: a string is the prefix; unknown options and a bad `node` throw ERR_INVALID_ARGUMENT. */
function checkMetricsOptions (options: MetricsOptions | string): MetricsOptions {
  if (typeof options === 'string') return { prefix: options }
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('metrics options must be an object or a prefix')
  rejectUnknownOptions('metrics options', options, METRICS_OPTIONS)
  if (options.prefix !== undefined && (typeof options.prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(options.prefix))) {
    throw PeerwardenError.invalid(`metrics prefix must be letters, digits, '_' or ':' (got ${JSON.stringify(options.prefix)})`)
  }
  const node = options.node
  if (node !== undefined && (typeof node?.stats !== 'function' || typeof node?.events?.addEventListener !== 'function')) {
    throw PeerwardenError.invalid('metrics node must have stats() and events (a PeerNode)')
  }
  return options
}
