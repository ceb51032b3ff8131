import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { PeerwardenError } from '../errors.js'
import type { ConnectionManager } from '../manager/types.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { authorized, dashboardToken, isLoopback, loopbackHost } from './access.js'
import { ManagerMetrics } from './metrics.js'
import { dashboardPage } from './page.js'

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

/** Bytes an event stream may hold unsent before its page is dropped. */
const MAX_BUFFERED = 1024 * 1024

/** The manager events the page's log shows (dial:started is left out: one per dial is noise there). */
const LOGGED = ['peer:connected', 'peer:disconnected', 'connection:refused', 'connection:closed', 'dial:failed', 'trim', 'peer:priority', 'store:error'] as const

/**
 * A live, read-only view of one connection manager over HTTP: any manager — a node's, or the one
 * under the libp2p or Hyperswarm adapter.
 *
 * Routes (GET only; anything else is 404 or 405):
 * - `/` the page (one HTML document, no external assets);
 * - `/events` Server-Sent Events: a 'snapshot' ({ at, stats, connections }) at once and every
 *   `interval`, and a 'manager' message per manager event ({ at, type, peer?, reason?, … });
 * - `/api/stats`, `/api/connections`, `/api/peers`, `/api/explain?peer=<id>` as JSON;
 * - `/metrics` Prometheus' text format (see metrics.ts).
 *
 * Rules:
 * - Loopback by default, where no token is needed unless one is given and a request whose `Host` does
 *   not name loopback is refused (403, DNS rebinding); beyond loopback every request needs a token
 *   (401 without it; see access.ts). Every response says `X-Content-Type-Options: nosniff`. It changes nothing in the manager. The page's event log listens to the manager only
 *   while a page is open, and the snapshot timer runs only then (unref'd); the metrics' counters
 *   (dials, refusals, closes, trims) listen from the start. A page whose stream holds more than 1 MiB
 *   unsent is dropped.
 * - Bad options throw `PeerwardenError` `ERR_INVALID_ARGUMENT` naming the option; a port in use
 *   rejects with `ERR_LISTEN`.
 */
const DASHBOARD_OPTIONS: ReadonlyArray<keyof DashboardOptions> = ['listen', 'title', 'interval', 'maxPeers', 'token']

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
  const page = dashboardPage(options.title ?? 'peerwarden')
  const metrics = new ManagerMetrics(manager)
  const streams = new Set<http.ServerResponse>()

  const snapshot = (): string => {
    const connections = manager.listConnections()
    if (connections.length > maxPeers) connections.sort((a, b) => b.value - a.value).length = maxPeers
    return sse('snapshot', { at: Date.now(), stats: manager.stats(), connections })
  }
  const broadcast = (chunk: string): void => {
    for (const res of streams) {
      // A page that stopped reading is dropped rather than buffered without end (it reconnects when it can).
      if (res.writableLength > MAX_BUFFERED) { streams.delete(res); res.destroy(); continue }
      res.write(chunk)
    }
  }

  // Listened to only while a page is open.
  let timer: NodeJS.Timeout | undefined
  const listeners = LOGGED.map((type) => ({ type, fn: (e: Event) => { broadcast(sse('manager', describe(type, (e as CustomEvent<Record<string, unknown>>).detail))) } }))
  const watch = (on: boolean): void => {
    if (on) {
      for (const l of listeners) manager.events.addEventListener(l.type, l.fn)
      timer = setInterval(() => { broadcast(snapshot()) }, interval)
      timer.unref()
    } else {
      for (const l of listeners) manager.events.removeEventListener(l.type, l.fn)
      clearInterval(timer)
      timer = undefined
    }
  }

  const server = http.createServer((req, res) => {
    // Every response, refusals included: a browser must not guess another type than the one sent.
    res.setHeader('x-content-type-options', 'nosniff')
    if (loopback && !loopbackHost(req.headers.host)) {
      send(res, 403, { error: `refused: Host ${JSON.stringify(req.headers.host ?? '')} does not name this loopback dashboard (DNS rebinding?); open it as http://127.0.0.1:<port>/ or http://localhost:<port>/` })
      return
    }
    const url = new URL(req.url ?? '/', 'http://dashboard')
    if (token !== undefined && !authorized(req, url, token)) {
      res.setHeader('www-authenticate', 'Bearer')
      send(res, 401, { error: 'this dashboard needs its token: ?token=<token> or Authorization: Bearer <token>' })
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { send(res, 405, { error: 'read-only: GET only' }); return }
    switch (url.pathname) {
      case '/':
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"
        })
        res.end(page)
        return
      case '/events':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
        if (req.method === 'HEAD') { res.end(); return }
        res.write(': peerwarden\n\n' + snapshot())
        streams.add(res)
        if (streams.size === 1) watch(true)
        res.on('close', () => {
          streams.delete(res)
          if (streams.size === 0) watch(false)
        })
        return
      case '/api/stats': send(res, 200, manager.stats()); return
      case '/api/connections': send(res, 200, manager.listConnections()); return
      case '/api/peers': send(res, 200, manager.listPeers()); return
      case '/api/explain': {
        const peer = url.searchParams.get('peer')
        if (peer === null || peer === '') { send(res, 400, { error: 'explain needs ?peer=<id>' }); return }
        const info = manager.getPeer(peer)
        const decisions = manager.explain(peer)
        if (info === undefined && decisions.length === 0) { send(res, 404, { error: `unknown peer ${peer}` }); return }
        send(res, 200, { peer, info: info ?? null, tags: manager.getTagInfo(peer) ?? null, decisions })
        return
      }
      case '/metrics':
        metrics.scrape().then(({ body, contentType }) => {
          res.writeHead(200, { 'content-type': contentType })
          res.end(body)
        }, (err: Error) => { send(res, 500, { error: err.message }) })
        return
      default:
        send(res, 404, { error: `no ${url.pathname} here` })
    }
  })
  server.listen(port, host)
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  } catch (err) {
    metrics.close()
    throw new PeerwardenError('ERR_LISTEN', `the dashboard cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err })
  }
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closed: Promise<void> | undefined
  return {
    url: `http://${shown}:${address.port}/` + (token === undefined ? '' : `?token=${encodeURIComponent(token)}`),
    token,
    close: async () => {
      closed ??= (async () => {
        for (const res of streams) res.end()
        streams.clear()
        watch(false)
        metrics.close()
        server.closeAllConnections()
        await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      })()
      await closed
    }
  }
}

/** 'host:port', '[v6]:port', 'port' or a port number. */
function parseListen (listen: string | number): { host: string; port: number } {
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

function sse (event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

function send (res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/** A manager event as the page's log shows it: plain fields, no connection objects. */
function describe (type: string, d: Record<string, unknown>): Record<string, unknown> {
  const conn = d.connection as { peer?: string; direction?: string; address?: string } | undefined
  const out: Record<string, unknown> = { at: Date.now(), type }
  const peer = (d.peer as string | undefined) ?? conn?.peer
  if (peer !== undefined) out.peer = peer
  if (conn?.direction !== undefined) out.direction = conn.direction
  if (conn?.address !== undefined) out.address = conn.address
  if (typeof d.reason === 'string') out.reason = d.reason
  if (typeof d.closed === 'number') out.closed = d.closed
  if (typeof d.priority === 'string') out.priority = d.priority
  if (typeof d.address === 'string') out.address = d.address
  if (d.error instanceof Error) out.error = d.error.message
  return out
}
