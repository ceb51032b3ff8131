import { requireOptional } from '../optional-dependency.js'
import type { MeshNode } from './types.js'

/**
 * A mesh node's figures in Prometheus' text format, through prom-client (an optional peer
 * dependency): `registerMeshMetrics(mesh, registry?)`.
 *
 * Rules:
 * - Everything is read from `mesh.stats()` when scraped: nothing is counted twice and nothing runs
 *   between scrapes.
 * - The series (prefix `peerwarden_mesh_`; `role` is the called role, `instance` its variant):
 *   - `calls_total{role,command,instance,code}` counter: attempts that ended, by outcome ('OK' or
 *     an error code);
 *   - `call_duration_seconds{role,command,instance}` histogram: their latency;
 *   - `calls_in_flight{role,command,instance}` gauge;
 *   - `breaker_state{role,instance,state}` gauge: 1 for the breaker's state, 0 for the two others
 *     (with the `breaker` option);
 *   - `handlers_running` and `handlers_queued` gauges: calls other nodes made to this one;
 *     `handler_message_bytes` gauge and `calls_refused_bytes_total` counter: the bytes their
 *     messages hold here, and the calls refused past a peer's `limits.bytesPerPeer`.
 * - One mesh node per registry (the names are fixed): give each node its own registry, or merge
 *   them with prom-client's `Registry.merge` after setting `registry.setDefaultLabels`.
 */
/**
 * What `registerMeshMetrics` needs of a prom-client `Registry` (a structural type: the mesh's
 * declarations do not name prom-client, which an application may not have installed).
 */
export interface MetricsRegistry {
  /** Adds a metric (here, a collector read at scrape time). */
  registerMetric: (metric: never) => void
  /** The text a scrape gets. */
  metrics: () => Promise<string>
  /** The text's content type. */
  readonly contentType: string
}

type Labels = Record<string, string | number>
interface Value { value: number; labels: Labels; metricName?: string }
interface Metric { name: string; help: string; type: 'counter' | 'gauge' | 'histogram'; aggregator: 'sum'; get: () => { name: string; help: string; type: string; values: Value[]; aggregator: 'sum' } }

const BREAKER_STATES = ['closed', 'half-open', 'open'] as const

/**
 * Registers the figures of `mesh` in `registry` (default: a new prom-client Registry, which needs
 * prom-client installed) and returns the registry. Rules at the top of this file.
 */
export function registerMeshMetrics<R extends MetricsRegistry = MetricsRegistry> (mesh: Pick<MeshNode, 'stats'>, registry?: R, prefix = 'peerwarden_mesh_'): R {
  if (registry === undefined) {
    const client = requireOptional<{ Registry: new () => MetricsRegistry }>('prom-client', 'the mesh\'s Prometheus metrics')
    registry = new client.Registry() as R
  }
  const metric = (name: string, help: string, type: Metric['type'], values: (stats: ReturnType<MeshNode['stats']>) => Value[]): Metric => ({
    name: prefix + name,
    help,
    type,
    aggregator: 'sum',
    get: () => ({ name: prefix + name, help, type, values: values(mesh.stats()), aggregator: 'sum' })
  })
  const metrics: Metric[] = [
    metric('calls_total', 'Call attempts this node made that ended, by called role, command, instance and outcome code.', 'counter', (s) =>
      s.commands.flatMap((c) => Object.entries(c.outcomes).map(([code, n]) => ({ value: n, labels: { role: c.role, command: c.command, instance: c.instance, code } })))),
    metric('call_duration_seconds', 'Latency of the call attempts this node made, from send to answer.', 'histogram', (s) =>
      s.commands.flatMap((c) => {
        const labels = { role: c.role, command: c.command, instance: c.instance }
        const out: Value[] = []
        let cumulative = 0
        c.latency.buckets.forEach((le, i) => {
          cumulative += c.latency.counts[i]
          out.push({ metricName: `${prefix}call_duration_seconds_bucket`, value: cumulative, labels: { ...labels, le } })
        })
        out.push({ metricName: `${prefix}call_duration_seconds_bucket`, value: c.latency.count, labels: { ...labels, le: '+Inf' } })
        out.push({ metricName: `${prefix}call_duration_seconds_sum`, value: c.latency.sum, labels })
        out.push({ metricName: `${prefix}call_duration_seconds_count`, value: c.latency.count, labels })
        return out
      })),
    metric('calls_in_flight', 'Call attempts of this node awaiting their answer.', 'gauge', (s) =>
      s.commands.map((c) => ({ value: c.inFlight, labels: { role: c.role, command: c.command, instance: c.instance } }))),
    metric('breaker_state', 'Circuit breaker of each instance: 1 for its state, 0 for the others.', 'gauge', (s) =>
      s.breakers.flatMap((b) => BREAKER_STATES.map((state) => ({ value: b.state === state ? 1 : 0, labels: { role: b.role, instance: b.instance, state } })))),
    metric('handlers_running', 'Calls other nodes made to this one whose handlers run now.', 'gauge', (s) => [{ value: s.running, labels: {} }]),
    metric('handlers_queued', 'Calls other nodes made to this one waiting here (queued commands, bulkheads).', 'gauge', (s) => [{ value: s.queued, labels: {} }]),
    metric('handler_message_bytes', 'Bytes of the messages the calls running or waiting here came in (each peer\'s at most limits.bytesPerPeer).', 'gauge', (s) => [{ value: s.callBytes, labels: {} }]),
    metric('calls_refused_bytes_total', 'Calls answered ERR_BUSY past their peer\'s limits.bytesPerPeer.', 'counter', (s) => [{ value: s.callBytesRefused, labels: {} }]),
    metric('queue_share_refused_total', 'Queued messages answered ERR_BUSY past their peer\'s share of the command\'s queue.', 'counter', (s) => [{ value: s.queueShareRefused, labels: {} }]),
    metric('queue_handler_timeouts_total', 'Queued (Redis) messages whose handler had not settled at its deadline.', 'counter', (s) => [{ value: s.queueHandlerTimeouts, labels: {} }]),
    metric('queue_handlers_overdue', 'Queued (Redis) handlers past their deadline that still run.', 'gauge', (s) => [{ value: s.queueOverdueHandlers, labels: {} }]),
    metric('queue_consumers_stalled', 'Queued (Redis) consumers holding queue.maxOverdueHandlers handlers past their deadline, taking no new message.', 'gauge', (s) => [{ value: s.queueStalledConsumers, labels: {} }]),
    metric('queue_reads_total', 'Read scripts run by the queued (Redis) consumers.', 'counter', (s) => [{ value: s.queueReads, labels: {} }]),
    metric('queue_notifications_dropped_total', 'Queue notification connections dropped for a frame that was not a keyspace notification.', 'counter', (s) => [{ value: s.queueNotificationsDropped, labels: {} }]),
    metric('invalid_argument_outliers_total', 'Times an instance was found refusing ERR_INVALID_ARGUMENT the calls the other instances served.', 'counter', (s) => [{ value: s.invalidArgumentOutliers, labels: {} }]),
    metric('invalid_argument_tracked', 'Instances whose latest outcomes per command are kept to find those outliers (at most 256 per command).', 'gauge', (s) => [{ value: s.invalidArgumentTracked, labels: {} }])
  ]
  // A collector object prom-client reads like its own metrics (`get()` at scrape time).
  for (const m of metrics) registry.registerMetric(m as never)
  return registry
}
