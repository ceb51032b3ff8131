import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager } from '../manager/types.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { dashboardToken, isLoopback } from './access.js'
import { EventStreams } from './event-stream.js'
import { Feed } from './feed.js'
import type { HistoryOptions } from './history.js'
import { ManagerMetrics, type MetricsOptions } from './metrics.js'
import { dashboardPage } from './page.js'
import { handle, type Routes } from './routes.js'
import { HTTP_SERVER_OPTIONS, limitSockets } from './http-limits.js'
import type { MeshSource, NetworkSource } from './sources.js'

/** The options of `serveDashboard`. */
export interface DashboardOptions {
  /** Where to listen: 'host:port', '[v6]:port' or a port. Default '127.0.0.1:0' (loopback, a free port). */
  listen?: string | number
  /** Shown as the page's title. Default 'peerwarden'. */
  title?: string
  /** Milliseconds between two snapshots on the event stream. Default 1000. */
  interval?: number
  /** Connections a snapshot lists at most, highest value first. Default 500. */
  maxPeers?: number
  /**
   * A token every request must carry (`Authorization: Bearer <token>` or `?token=<token>`), at least
   * 8 characters. Default: none on a loopback address; beyond loopback one is made at start and shown
   * in `url` (see access.ts).
   */
  token?: string
  /**
   * The nodes of a network view (`npm start`'s local network, a `Simulation`, a mesh's nodes): a
   * live graph of all of them. Default: this manager and its connections only.
   */
  network?: NetworkSource
  /** The instances of a mesh, for the mesh view (roles, instances, calls per second, errors, breakers). Default: no mesh view. */
  mesh?: MeshSource
  /** How much the dashboard remembers (samples every `interval`, events): a page opened late shows it. Default 600 samples, 500 events. */
  history?: HistoryOptions
  /** What `/metrics` includes: a node's own figures (`{ node }`), the process' default metrics, a prefix (see `MetricsOptions`). */
  metrics?: MetricsOptions
}

/** A running dashboard: its address and how to close it. */
export interface Dashboard {
  /** The page's address, e.g. 'http://127.0.0.1:7070/' (with '?token=…' when a token is needed). */
  readonly url: string
  /** The token requests must carry; undefined when none is needed. */
  readonly token: string | undefined
  /** Ends every event stream, stops listening to the manager and closes the server. */
  close: () => Promise<void>
}

/**
 * A live, read-only view of one connection manager over HTTP: any manager — a node's, or the one
 * under the libp2p or Hyperswarm adapter.
 *
 * Routes (GET only; anything else is 404 or 405):
 * - `/` the page (one HTML document, no external assets);
 * - `/events` Server-Sent Events: 'hello' (settings and history) at once; a 'snapshot'
 *   ({ at, stats, connections }) at once and every `interval`, with a 'sample' (the figures
 *   remembered), 'network' and 'mesh' (when those sources are given); a 'manager' message per
 *   manager event ({ at, type, peer?, reason?, … });
 * - `/api/stats`, `/api/connections`, `/api/peers`, `/api/explain?peer=<id>[&node=<id>]`,
 *   `/api/node?id=<id>` (a node of the network view), `/api/history` as JSON;
 * - `/metrics` Prometheus' text format (see metrics.ts).
 *
 * Rules:
 * - Loopback by default, where no token is needed unless one is given and a request whose `Host` does
 *   not name loopback is refused (403, DNS rebinding); beyond loopback every request needs a token
 *   (401 without it; see access.ts and routes.ts).
 * - Sockets are budgeted before any token is checked (http-limits.ts): 256 at once, 32 per IP,
 *   headers within 10 s.
 * - It changes nothing in the managers. It listens and samples from the start, within fixed budgets
 *   (feed.ts, history.ts), so a page opened late shows the last minutes; the metrics' counters
 *   (dials, refusals, closes, trims) count from the start too.
 * - Bad options throw `PeerwardenError` `ERR_INVALID_ARGUMENT` naming the option; a port in use
 *   rejects with `ERR_LISTEN`.
 */
const DASHBOARD_OPTIONS: ReadonlyArray<keyof DashboardOptions> = ['listen', 'title', 'interval', 'maxPeers', 'token', 'network', 'mesh', 'history', 'metrics']

/** Serves a read-only live view of `manager`: a page, an event stream, a JSON API and Prometheus `/metrics` (docs/dashboard.md). */
export async function serveDashboard (manager: ConnectionManager, options: DashboardOptions = {}): Promise<Dashboard> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('serveDashboard options must be an object')
  rejectUnknownOptions('serveDashboard options', options, DASHBOARD_OPTIONS)
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:0')
  const token = dashboardToken(host, options.token)
  const loopback = isLoopback(host)
  const interval = options.interval ?? 1000
  if (!Number.isFinite(interval) || interval < 50) throw PeerwardenError.invalid(`interval must be a number of ms >= 50 (got ${String(options.interval)})`)
  const maxPeers = options.maxPeers ?? 500
  if (!Number.isInteger(maxPeers) || maxPeers < 0) throw PeerwardenError.invalid(`maxPeers must be an integer >= 0 (got ${String(options.maxPeers)})`)
  if (options.network !== undefined && typeof options.network?.nodes !== 'function') throw PeerwardenError.invalid('network must be { nodes: () => [{ id, manager }…] }')
  if (options.mesh !== undefined && typeof options.mesh?.instances !== 'function') throw PeerwardenError.invalid('mesh must be { instances: () => [{ id, role, stats }…] }')
  for (const key of ['samples', 'events'] as const) {
    const n = options.history?.[key]
    if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 100_000)) throw PeerwardenError.invalid(`history.${key} must be an integer between 1 and 100000 (got ${String(n)})`)
  }
  // Without a network, the network view draws this manager and its connections.
  const network: NetworkSource = options.network ?? { nodes: () => [{ id: 'self', label: 'this node', manager }] }
  const metrics = new ManagerMetrics(manager, options.metrics)
  const streams = new EventStreams()
  const feed = new Feed(manager, { interval, maxPeers, network, mesh: options.mesh, history: options.history }, (event, data) => { streams.send(event, data) })
  const routes: Routes = { manager, page: dashboardPage(options.title ?? 'peerwarden'), metrics, streams, feed, network, token, loopback }
  const server = http.createServer(HTTP_SERVER_OPTIONS, (req, res) => { handle(routes, req, res) })
  limitSockets(server)
  server.listen(port, host)
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  } catch (err) {
    metrics.close()
    throw new PeerwardenError('ERR_LISTEN', `the dashboard cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
  }
  feed.start()
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closed: Promise<void> | undefined
  return {
    url: `http://${shown}:${address.port}/` + (token === undefined ? '' : `?token=${encodeURIComponent(token)}`),
    token,
    close: async () => {
      closed ??= (async () => {
        feed.close()
        streams.close()
        metrics.close()
        server.closeAllConnections()
        await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      })()
      await closed
    }
  }
}

/** 'host:port', '[v6]:port', 'port' or a port number (the dashboard's and `serveMetrics`' `listen`). */
export function parseListen (listen: string | number): { host: string; port: number } {
  const bad = (): never => { throw PeerwardenError.invalid(`listen must be 'host:port' or a port (got ${JSON.stringify(listen)})`) }
  if (typeof listen === 'number') return { host: '127.0.0.1', port: checkPort(listen, bad) }
  if (typeof listen !== 'string') bad()
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(listen)
  if (m !== null) return { host: m[1] ?? m[2], port: checkPort(Number(m[3]), bad) }
  if (/^\d+$/.test(listen)) return { host: '127.0.0.1', port: checkPort(Number(listen), bad) }
  return bad()
}

function checkPort (port: number, bad: () => never): number {
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : bad()
}
