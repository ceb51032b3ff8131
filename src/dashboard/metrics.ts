import type { Registry } from 'prom-client'
import type { ConnectionManager } from '../manager/types.js'
import { requireOptional } from '../optional-dependency.js'

/**
 * The manager's figures in Prometheus' text format (prom-client), in a registry of their own so an
 * application's default registry is left alone.
 *
 * Rules:
 * - Gauges are read from `manager.stats()` when scraped; counters count the manager's events from the
 *   moment the metrics were made (dials started and failed, connections refused and closed by reason,
 *   peers trimmed).
 * - `close()` stops listening to the manager.
 */
export class ManagerMetrics {
  readonly registry: Registry
  private readonly stop: Array<() => void> = []

  constructor (manager: ConnectionManager, prefix = 'peerwarden_') {
    // prom-client is an optional peer dependency, loaded only when metrics are made.
    const client = requireOptional<typeof import('prom-client')>('prom-client', 'the Prometheus metrics (and the dashboard that serves them)')
    this.registry = new client.Registry()
    const registers = [this.registry]
    const stats = (): ReturnType<ConnectionManager['stats']> => manager.stats()
    const gauge = (name: string, help: string, read: () => number): void => {
      // eslint-disable-next-line no-new
      new client.Gauge({ name: prefix + name, help, registers, collect () { this.set(read()) } })
    }
    gauge('connections', 'Connections the manager holds now.', () => stats().connections)
    gauge('connections_inbound', 'Inbound connections held now.', () => stats().inbound)
    gauge('connections_outbound', 'Outbound connections held now.', () => stats().outbound)
    gauge('known_peers', 'Peers in the peer book.', () => stats().known)
    gauge('dials_in_flight', 'Dials in progress.', () => stats().dialing)
    gauge('protected_peers', 'Known peers protected under at least one tag.', () => stats().protected)
    gauge('banned_peers', 'Known peers whose priority is banned.', () => stats().banned)
    gauge('low_water', 'The low watermark in force.', () => stats().lowWater)
    gauge('high_water', 'The high watermark in force.', () => stats().highWater)

    const dials = new client.Counter({ name: prefix + 'dials_total', help: 'Dials started.', registers })
    const failed = new client.Counter({ name: prefix + 'dials_failed_total', help: 'Dials that failed.', registers })
    const refused = new client.Counter({ name: prefix + 'connections_refused_total', help: 'Connections refused at admission, by reason.', labelNames: ['reason'], registers })
    const closed = new client.Counter({ name: prefix + 'connections_closed_total', help: 'Accepted connections the manager closed, by reason.', labelNames: ['reason'], registers })
    const trimmed = new client.Counter({ name: prefix + 'trimmed_total', help: 'Connections closed by trims.', registers })
    const on = (type: string, fn: (detail: Record<string, unknown>) => void): void => {
      const listener = (e: Event): void => { fn((e as CustomEvent<Record<string, unknown>>).detail) }
      manager.events.addEventListener(type, listener)
      this.stop.push(() => { manager.events.removeEventListener(type, listener) })
    }
    on('dial:started', () => { dials.inc() })
    on('dial:failed', () => { failed.inc() })
    on('connection:refused', (d) => { refused.inc({ reason: reasonLabel(d.reason) }) })
    on('connection:closed', (d) => { closed.inc({ reason: reasonLabel(d.reason) }) })
    on('trim', (d) => { trimmed.inc(typeof d.closed === 'number' ? d.closed : 0) })
  }

  /** The text a Prometheus scrape gets, and its content type. */
  async scrape (): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType }
  }

  /** Stops listening to the manager. */
  close (): void {
    for (const s of this.stop.splice(0)) s()
  }
}

/** A close reason as a label: the reason's first word ('trimmed', 'banned', 'over-limit'…), bounded in length. */
function reasonLabel (reason: unknown): string {
  const s = typeof reason === 'string' ? reason : 'unknown'
  return (s.split(/[\s:]/)[0] || 'unknown').slice(0, 40)
}
