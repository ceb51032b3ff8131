import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager } from '../manager/types.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { authorized, crossSite, dashboardToken, isLoopback, loopbackHost } from './access.js'
import { ManagerMetrics, type MetricsOptions } from './metrics.js'
import { HTTP_SERVER_OPTIONS, limitSockets } from './http-limits.js'
import { parseListen } from './server.js'

/** The options of `serveMetrics`: where to listen, the token, and what the metrics include. */
export interface MetricsServerOptions extends MetricsOptions {
  /** Where to listen: 'host:port', '[v6]:port' or a port. Default '127.0.0.1:0' (loopback, a free port). */
  listen?: string | number
  /** A token every scrape must carry (`Authorization: Bearer <token>`), as for the dashboard: needed beyond loopback, made at start when not given. */
  token?: string
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The endpoint, e.g. 'http://127.0.0.1:9464/metrics'. */
  readonly url: string
  /** The token scrapes must carry; undefined when none is needed. */
  readonly token: string | undefined
  /** The collector behind the endpoint (its `registry` is prom-client's). */
  readonly metrics: ManagerMetrics
  /** Stops listening to the manager and closes the server. Idempotent. */
  close: () => Promise<void>
}

const SERVER_OPTIONS: ReadonlyArray<keyof MetricsServerOptions> = ['listen', 'token', 'prefix', 'node', 'defaultMetrics']

/**
 * Serves only `/metrics` (Prometheus' text format, see `ManagerMetrics`), for a process that shows no
 * dashboard page: `serveMetrics(node.manager, { listen: '0.0.0.0:9464', node })`.
 *
 * Rules:
 * - GET or HEAD `/metrics`; any other path is 404, any other method 405.
 * - Access as for the dashboard (access.ts): on loopback no token unless given and a `Host` that is
 *   not loopback is refused (403); beyond loopback every scrape needs the token (401 without it).
 * - Bad options throw `ERR_INVALID_ARGUMENT` naming the option; a port in use rejects with `ERR_LISTEN`.
 */
export async function serveMetrics (manager: ConnectionManager, options: MetricsServerOptions = {}): Promise<MetricsServer> {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('serveMetrics options must be an object')
  rejectUnknownOptions('serveMetrics options', options, SERVER_OPTIONS)
  const { listen, token: given, ...metricsOptions } = options
  const { host, port } = parseListen(listen ?? '127.0.0.1:0')
  const token = dashboardToken(host, given)
  const loopback = isLoopback(host)
  const metrics = new ManagerMetrics(manager, metricsOptions)
  const server = http.createServer(HTTP_SERVER_OPTIONS, (req, res) => { answer(metrics, token, loopback, req, res) })
  limitSockets(server)
  server.listen(port, host)
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  } catch (err) {
    metrics.close()
    throw new PeerwardenError('ERR_LISTEN', `the metrics endpoint cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
  }
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closed: Promise<void> | undefined
  return {
    url: `http://${shown}:${address.port}/metrics`,
    token,
    metrics,
    close: async () => {
      closed ??= (async () => {
        metrics.close()
        server.closeAllConnections()
        await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      })()
      await closed
    }
  }
}

function answer (metrics: ManagerMetrics, token: string | undefined, loopback: boolean, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff')
  const fail = (status: number, text: string): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' })
    res.end(text + '\n')
  }
  if (loopback && !loopbackHost(req.headers.host)) { fail(403, 'refused: the Host header does not name this loopback endpoint'); return }
  if (crossSite(req)) { fail(403, 'refused: a request from another site (Sec-Fetch-Site)'); return }
  const url = new URL(req.url ?? '/', 'http://metrics')
  if (token !== undefined && !authorized(req, url, token)) {
    res.setHeader('www-authenticate', 'Bearer')
    fail(401, 'this endpoint needs its token: Authorization: Bearer <token>')
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') { fail(405, 'GET only'); return }
  if (url.pathname !== '/metrics') { fail(404, 'only /metrics here'); return }
  metrics.scrape().then(({ body, contentType }) => {
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
  }, (err: Error) => { fail(500, err.message) })
}
