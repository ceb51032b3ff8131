import type http from 'node:http'
import type { ConnectionManager } from '../manager/types.js'
import { authorized, crossSite, loopbackHost } from './access.js'
import type { EventStreams } from './event-stream.js'
import type { Feed } from './feed.js'
import { explainPeer, nodeDetail } from './inspect.js'
import type { ManagerMetrics } from './metrics.js'
import type { NetworkSource } from './sources.js'

/** What the routes serve from. */
export interface Routes {
  manager: ConnectionManager
  /** The page's HTML. */
  page: string
  metrics: ManagerMetrics
  streams: EventStreams
  /** What the dashboard collected: history, the last network and mesh views. */
  feed: Feed
  /** The network view's nodes, when there is one (for a clicked node). */
  network: NetworkSource | undefined
  /** The token requests must carry, if any (access.ts). */
  token: string | undefined
  /** Listening on loopback: a request whose Host does not name loopback is refused (DNS rebinding). */
  loopback: boolean
}

/**
 * One request: access first (the Host rule on loopback, then the token), then GET/HEAD only, then
 * the route (see `serveDashboard` for the list). Every response says `X-Content-Type-Options: nosniff`.
 */
export function handle (r: Routes, req: http.IncomingMessage, res: http.ServerResponse): void {
  const { manager, token } = r
  // Every response, refusals included: a browser must not guess another type than the one sent.
  res.setHeader('x-content-type-options', 'nosniff')
  if (r.loopback && !loopbackHost(req.headers.host)) {
    send(res, 403, { error: `refused: Host ${JSON.stringify(req.headers.host ?? '')} does not name this loopback dashboard (DNS rebinding?); open it as http://127.0.0.1:<port>/ or http://localhost:<port>/` })
    return
  }
  if (crossSite(req)) {
    send(res, 403, { error: 'refused: a request from another site (Sec-Fetch-Site); open the dashboard itself' })
    return
  }
  // The request target is the client's: one that is not a URL (`GET http://[`) is refused, never thrown.
  let url: URL
  try {
    url = new URL(req.url ?? '/', 'http://dashboard')
  } catch {
    send(res, 400, { error: 'the request target is not a URL' })
    return
  }
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
      res.end(r.page)
      return
    case '/events':
      r.streams.open(req, res, () => [['hello', r.feed.hello()], ['snapshot', r.feed.snapshot()]])
      return
    case '/api/history': send(res, 200, r.feed.hello()); return
    case '/api/stats': send(res, 200, manager.stats()); return
    case '/api/connections': send(res, 200, manager.listConnections()); return
    case '/api/peers': send(res, 200, manager.listPeers()); return
    case '/api/explain': {
      const peer = url.searchParams.get('peer')
      if (peer === null || peer === '') { send(res, 400, { error: 'explain needs ?peer=<id>' }); return }
      // ?node=<id>: what that node of the network view decided (default: this dashboard's manager).
      const node = url.searchParams.get('node')
      const from = node === null || node === '' ? manager : findManager(r.network, node)
      if (from === undefined) { send(res, 404, { error: `no node ${shown(node ?? '')} in this dashboard's network` }); return }
      const answer = explainPeer(from, peer)
      if (answer === undefined) { send(res, 404, { error: `unknown peer ${shown(peer)}` }); return }
      send(res, 200, answer)
      return
    }
    case '/api/node': {
      const id = url.searchParams.get('id')
      if (id === null || id === '') { send(res, 400, { error: 'a node needs ?id=<id>' }); return }
      if (r.network === undefined) { send(res, 404, { error: 'this dashboard has no network view' }); return }
      const detail = nodeDetail(r.network, id)
      if (detail === undefined) { send(res, 404, { error: `unknown node ${shown(id)}` }); return }
      send(res, 200, detail)
      return
    }
    case '/metrics':
      r.metrics.scrape().then(({ body, contentType }) => {
        res.writeHead(200, { 'content-type': contentType })
        res.end(body)
      }, (err: Error) => { send(res, 500, { error: err.message }) })
      return
    default:
      send(res, 404, { error: `no ${shown(url.pathname)} here` })
  }
}

/** At most this many characters of a query parameter are shown back in an error. */
const SHOWN = 128

/** A client's value as an error shows it: cut to `SHOWN` characters (a 16 KiB id is not echoed whole). */
function shown (value: string): string {
  return value.length <= SHOWN ? value : `${value.slice(0, SHOWN - 1)}…`
}

function findManager (network: NetworkSource | undefined, id: string): ConnectionManager | undefined {
  if (network === undefined) return undefined
  for (const n of network.nodes()) if (n.id === id) return n.manager
  return undefined
}

function send (res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}
